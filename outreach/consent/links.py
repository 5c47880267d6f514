"""The signed links of consent emails and campaign messages."""

from __future__ import annotations

from outreach.config import Settings
from outreach.tokens import make_token

CONFIRM = "confirm"
SUBSCRIPTION = "subscription"  # unsubscribe and preferences links
DOWNLOAD = "download"
DOWNLOAD_MAX_AGE = 7 * 24 * 3600


def confirm_url(settings: Settings, contact_id: int, *, invitation: bool = False) -> str:
    """Single-use, expiring opt-in link."""
    token = make_token(
        settings.secret_key, CONFIRM, {"c": contact_id, "i": invitation}, single_use=True
    )
    return f"{settings.base_url}/confirm/{token}"


def subscription_token(settings: Settings, contact_id: int, campaign_id: int | None = None) -> str:
    """The token of a contact's unsubscribe and preferences links (they keep working in mail
    already sent); the campaign id records which campaign an unsubscribe came from."""
    return make_token(settings.secret_key, SUBSCRIPTION, {"c": contact_id, "k": campaign_id})


def unsubscribe_url(settings: Settings, contact_id: int, campaign_id: int | None = None) -> str:
    """One-click unsubscribe link."""
    return (
        f"{settings.base_url}/unsubscribe/{subscription_token(settings, contact_id, campaign_id)}"
    )


def preferences_url(settings: Settings, contact_id: int) -> str:
    """Link to the preferences page of one contact."""
    return f"{settings.base_url}/preferences/{subscription_token(settings, contact_id)}"


def message_links(settings: Settings, contact_id: int, campaign_id: int) -> tuple[str, str]:
    """(unsubscribe, preferences) URLs of one campaign message, sharing one signed token."""
    token = subscription_token(settings, contact_id, campaign_id)
    return (f"{settings.base_url}/unsubscribe/{token}", f"{settings.base_url}/preferences/{token}")


def download_url(settings: Settings, contact_id: int) -> str:
    """Expiring link to the lead magnet."""
    token = make_token(settings.secret_key, DOWNLOAD, {"c": contact_id})
    return f"{settings.base_url}/download/{token}"
