"""Actors that send the consent emails (transactional: no marketing, no tracking)."""

from __future__ import annotations

import dramatiq

from outreach import runtime
from outreach.consent import links
from outreach.consent.lead_magnet import lead_magnet
from outreach.contacts.models import Contact
from outreach.mail import send_now, transactional

SUBJECTS = {
    "confirm": "Please confirm your subscription",
    "invite": "Would you like our newsletter? Please confirm",
    "welcome": "Welcome! Your subscription is confirmed",
    "already_subscribed": "You are already subscribed",
}


@dramatiq.actor(queue_name="transactional", max_retries=8, min_backoff=5_000)
def send_consent_email(contact_id: int, kind: str) -> None:
    """Render and send one consent email; retried with backoff when the server fails."""
    database = runtime.database()
    settings = database.settings
    with database.reader() as session:
        contact = session.get(Contact, contact_id)
    if contact is None:
        return  # purged or erased meanwhile
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
    envelope, message = transactional(settings, kind, contact.email, SUBJECTS[kind], context)
    send_now(settings, envelope, message)
