"""Every admin page module, imported so that its routes are on the admin blueprint (the
web wiring registers `bp` from here)."""

from __future__ import annotations

from outreach.admin import (  # noqa: F401  (each module registers its routes on bp)
    campaigns_views,
    contacts_views,
    groups_views,
    import_views,
    outbox_views,
    privacy_views,
    sectors_views,
    settings_views,
    stats_views,
    views,
)
from outreach.admin.blueprint import bp

__all__ = ["bp"]
