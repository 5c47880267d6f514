"""The signed links of data-subject request emails: verification and the access export."""

from __future__ import annotations

from outreach.config import Settings
from outreach.tokens import make_token

VERIFY = "privacy-verify"
EXPORT = "privacy-export"
EXPORT_MAX_AGE = 7 * 24 * 3600


def verify_url(settings: Settings, request_id: int) -> str:
    """Single-use, expiring link that verifies a request (a POST from its page does)."""
    token = make_token(settings.secret_key, VERIFY, {"r": request_id}, single_use=True)
    return f"{settings.base_url}/privacy/verify/{token}"


def export_url(settings: Settings, request_id: int) -> str:
    """Expiring link to the access export of a fulfilled access request."""
    token = make_token(settings.secret_key, EXPORT, {"r": request_id})
    return f"{settings.base_url}/privacy/export/{token}"
