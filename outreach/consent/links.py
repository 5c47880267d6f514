"""The signed links of consent emails and campaign messages."""

from __future__ import annotations

from outreach.config import Settings
from outreach.tokens import make_token

CONFIRM = "confirm"
UNSUBSCRIBE = "unsubscribe"
PREFERENCES = "preferences"
DOWNLOAD = "download"
PREFERENCES_MAX_AGE = 180 * 24 * 3600
DOWNLOAD_MAX_AGE = 7 * 24 * 3600


def confirm_url(settings: Settings, contact_id: int, *, invitation: bool = False) -> str:
    """Single-use, expiring opt-in link."""
    token = make_token(
        settings.secret_key, CONFIRM, {"c": contact_id, "i": invitation}, single_use=True
    )
    return f"{settings.base_url}/confirm/{token}"


def unsubscribe_url(settings: Settings, contact_id: int, campaign_id: int | None = None) -> str:
    """One-click unsubscribe link; keeps working in mail already sent."""
    token = make_token(settings.secret_key, UNSUBSCRIBE, {"c": contact_id, "k": campaign_id})
    return f"{settings.base_url}/unsubscribe/{token}"


def preferences_url(settings: Settings, contact_id: int) -> str:
    """Link to the preferences page of one contact."""
    token = make_token(settings.secret_key, PREFERENCES, {"c": contact_id})
    return f"{settings.base_url}/preferences/{token}"


def download_url(settings: Settings, contact_id: int) -> str:
    """Expiring link to the lead magnet."""
    token = make_token(settings.secret_key, DOWNLOAD, {"c": contact_id})
    return f"{settings.base_url}/download/{token}"
