"""The admin blueprint every admin page module registers its routes on: sign-in required
(except the login page), the navigation, the `utc` filter. outreach.admin.pages imports
the page modules; they import only this."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from flask import Blueprint, current_app, redirect, request, url_for
from flask_login import current_user

bp = Blueprint("admin", __name__, url_prefix="/admin")
PUBLIC_ENDPOINTS = {"admin.login"}
NAV = (
    ("admin.dashboard", "Dashboard"),
    ("admin.contacts", "Contacts"),
    ("admin.groups", "Groups"),
    ("admin.import_contacts", "Import"),
    ("admin.campaigns", "Campaigns"),
    ("admin.statistics", "Statistics"),
    ("admin.requests", "Requests"),
    ("admin.outbox", "Outbox"),
    ("admin.settings", "Settings"),
)


@bp.context_processor
def _navigation() -> dict[str, Any]:
    """The navigation entries whose pages exist."""
    return {"admin_nav": [(e, label) for e, label in NAV if e in current_app.view_functions]}


@bp.before_request
def _require_login() -> Any:
    if request.endpoint in PUBLIC_ENDPOINTS:
        return None
    if not current_user.is_authenticated:
        return redirect(url_for("admin.login", next=request.full_path.rstrip("?")))
    return None


@bp.app_template_filter("utc")
def format_utc(value: datetime | None) -> str:
    """A timestamp as `YYYY-MM-DD HH:MM:SS UTC`, or an em dash when absent."""
    if value is None:
        return "—"
    return value.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S UTC")
