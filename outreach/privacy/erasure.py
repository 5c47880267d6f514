"""The right to erasure: every personal datum removed, an HMAC suppression and anonymous
aggregates kept."""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.orm import Session

from outreach.consent.models import Suppression
from outreach.contacts.identity import email_hmac, normalize_email
from outreach.contacts.models import Contact
from outreach.contacts.service import (
    delete_contact,
)
from outreach.db import settings_of
from outreach.delivery.models import Delivery
from outreach.outbox.service import forget_address
from outreach.privacy.models import AuditEntry, DataRequest
from outreach.tracking.models import TrackingHit


def erase(session: Session, email: str, *, actor: str, request_id: int | None = None) -> None:
    """Remove every personal datum; keep an HMAC suppression and anonymous aggregates."""
    key = normalize_email(email)[1]
    digest = email_hmac(settings_of(session).secret_key, key)
    contact = session.scalar(sa.select(Contact).where(Contact.email_key == key))
    if contact is not None:
        delivery_ids = sa.select(Delivery.id).where(Delivery.contact_id == contact.id)
        # Links may carry personalised query strings: the aggregates do not need them.
        session.execute(
            sa.update(TrackingHit).where(TrackingHit.delivery_id.in_(delivery_ids)).values(url=None)
        )
        session.execute(
            sa.update(Delivery)
            .where(Delivery.contact_id == contact.id)
            .values(contact_id=None, message_id=None, last_error=None)
        )
        delete_contact(session, contact)
    session.execute(
        sa.update(DataRequest)
        .where(DataRequest.email_hmac == digest)
        .values(email=None, details={})
    )
    forget_address(session, key)
    if session.scalar(sa.select(Suppression.id).where(Suppression.email_hmac == digest)) is None:
        session.add(Suppression(email_hmac=digest, reason="erased"))
    session.add(
        AuditEntry(
            actor=actor,
            action="erasure",
            subject_type="data_request",
            subject_id=request_id,
            details={"contact_existed": contact is not None},
        )
    )
    session.flush()
