"""Data-subject rights: the access export and erasure (with its HMAC tombstone)."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from outreach.campaigns.models import Campaign
from outreach.consent.service import proof
from outreach.contacts.identity import email_hmac, normalize_email
from outreach.contacts.models import Contact
from outreach.contacts.service import contact_to_dict, delete_contact, get_contact, groups_of
from outreach.db import settings_of, utcnow
from outreach.delivery.models import Delivery, Suppression
from outreach.privacy.models import AuditEntry, DataRequest
from outreach.tracking.models import TrackingHit

EXPORT_FORMAT = "outreach-access-export/1"


def _iso(value: Any) -> Any:
    return value.isoformat() if hasattr(value, "isoformat") else value


def _deliveries(session: Session, contact_id: int) -> list[dict[str, Any]]:
    rows = session.execute(
        sa.select(Delivery, Campaign.name)
        .join(Campaign, Campaign.id == Delivery.campaign_id)
        .where(Delivery.contact_id == contact_id)
        .order_by(Delivery.id)
    ).all()
    hits = session.scalars(
        sa.select(TrackingHit)
        .where(TrackingHit.delivery_id.in_([d.id for d, _ in rows]))
        .order_by(TrackingHit.id)
    ).all()
    by_delivery: dict[int, list[dict[str, Any]]] = {}
    for hit in hits:
        by_delivery.setdefault(hit.delivery_id, []).append(
            {
                "kind": str(hit.kind),
                "at": _iso(hit.occurred_at),
                "machine": hit.machine,
                "reason": hit.reason,
                "url": hit.url,
                "agent_family": hit.agent_family,
            }
        )
    return [
        {
            "campaign": name,
            "group": d.group_name,
            "status": str(d.status),
            "skip_reason": d.skip_reason,
            "message_id": d.message_id,
            "sent_at": _iso(d.sent_at),
            "human_opens": d.human_opens,
            "machine_opens": d.machine_opens,
            "clicks": d.clicks,
            "first_open_at": _iso(d.first_open_at),
            "unsubscribed_at": _iso(d.unsubscribed_at),
            "tracking": {"opens": d.tracking_opens, "clicks": d.tracking_clicks},
            "hits": by_delivery.get(d.id, []),
        }
        for d, name in rows
    ]


def _requests(session: Session, digest: str) -> list[dict[str, Any]]:
    return [
        {
            "id": r.id,
            "kind": str(r.kind),
            "state": str(r.state),
            "received_at": _iso(r.received_at),
            "due_at": _iso(r.due_at),
            "completed_at": _iso(r.completed_at),
            "outcome": r.outcome,
        }
        for r in session.scalars(
            sa.select(DataRequest).where(DataRequest.email_hmac == digest).order_by(DataRequest.id)
        )
    ]


def access_export(session: Session, email: str) -> dict[str, Any]:
    """Everything held about one person, machine-readable."""
    contact = get_contact(session, email)
    digest = email_hmac(settings_of(session).secret_key, contact.email_key)
    consent = proof(session, contact)
    return {
        "format": EXPORT_FORMAT,
        "generated_at": utcnow().isoformat(),
        "profile": contact_to_dict(contact, groups_of(session, [contact.id])[contact.id]),
        "consent_events": consent["events"],
        "notices": consent["notices"],
        "deliveries": _deliveries(session, contact.id),
        "requests": _requests(session, digest),
        "suppressed": session.scalar(
            sa.select(Suppression.reason).where(Suppression.email_hmac == digest)
        ),
    }


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
