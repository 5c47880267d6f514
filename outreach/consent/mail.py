"""The consent emails (transactional: no marketing, no tracking), queued in the outbox."""

from __future__ import annotations

from sqlalchemy.orm import Session

from outreach.consent import links
from outreach.consent.lead_magnet import lead_magnet
from outreach.contacts.models import Contact
from outreach.db import settings_of
from outreach.outbox.models import OutboxMessage
from outreach.outbox.transactional import queue_transactional

SUBJECTS = {
    "confirm": "Please confirm your subscription",
    "invite": "Would you like our newsletter? Please confirm",
    "welcome": "Welcome! Your subscription is confirmed",
    "already_subscribed": "You are already subscribed",
}


def queue_consent_email(session: Session, contact: Contact, kind: str) -> OutboxMessage:
    """Write one consent email for `contact` to the outbox (sent after the commit)."""
    settings = settings_of(session)
    context = {
        "first_name": contact.first_name,
        "email": contact.email,
        "hours": settings.confirm_token_hours,
        "preferences_url": links.preferences_url(settings, contact.id),
        "download_url": links.download_url(settings, contact.id)
        if lead_magnet(settings) is not None
        else "",
        "download_days": links.DOWNLOAD_MAX_AGE // 86400,
    }
    if kind in ("confirm", "invite"):
        context["confirm_url"] = links.confirm_url(
            settings, contact.id, invitation=kind == "invite"
        )
    return queue_transactional(
        session,
        f"consent:{kind}",
        kind,
        contact.email,
        SUBJECTS[kind],
        context,
        contact_id=contact.id,
    )
