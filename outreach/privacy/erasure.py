"""The right to erasure: every personal datum removed, an HMAC suppression and anonymous
aggregates kept."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

import sqlalchemy as sa
from sqlalchemy.orm import Session, aliased

from outreach.consent.service import suppress
from outreach.contacts.identity import email_hmac, normalize_email
from outreach.contacts.models import Contact
from outreach.contacts.service import (
    delete_contact,
)
from outreach.db import settings_of
from outreach.delivery.models import Delivery
from outreach.inbound.models import InboundMessage
from outreach.outbox.service import forget_address
from outreach.privacy.models import AuditEntry, DataRequest
from outreach.reporting.tallies import add_link_clicks, link_click_row
from outreach.tracking.models import LinkClick, TrackingHit


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
        _forget_link_addresses(session, delivery_ids)
        # Bounces and complaints quote the person's address and mail: nothing is kept.
        session.execute(sa.delete(InboundMessage).where(InboundMessage.contact_id == contact.id))
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
    suppress(session, digest, "erased")
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


def _origin(url: str) -> str:
    """A link's scheme and host, nothing of its path or query (nor any user name)."""
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc.rpartition('@')[2]}/"


def _forget_link_addresses(session: Session, delivery_ids: sa.Select[int]) -> None:
    """Keep the erased person's clicks in the per-link figures without the addresses that
    were theirs alone: a link another recipient of the campaign clicked too says nothing
    about them and stays; any other may be personalised (a query string, a path), so its
    clicks move to the link's origin."""
    other = aliased(LinkClick)
    shared = (
        sa.select(other.id)
        .where(
            other.campaign_id == LinkClick.campaign_id,
            other.url == LinkClick.url,
            other.delivery_id != LinkClick.delivery_id,
        )
        .exists()
    )
    personal = session.execute(
        sa.select(LinkClick).where(LinkClick.delivery_id.in_(delivery_ids), ~shared)
    ).scalars()
    merged: dict[tuple[int, str], dict[str, Any]] = {}
    doomed = []
    for row in personal:
        doomed.append(row.id)
        origin = _origin(row.url)
        entry = merged.setdefault(
            (row.delivery_id, origin),
            link_click_row(
                row.campaign_id, row.delivery_id, row.group_name, row.variant_id, origin
            ),
        )
        entry["human_clicks"] += row.human_clicks
        entry["machine_clicks"] += row.machine_clicks
        entry["first_human_at"] = min(
            filter(None, (entry["first_human_at"], row.first_human_at)), default=None
        )
    if doomed:
        session.execute(sa.delete(LinkClick).where(LinkClick.id.in_(doomed)))
        add_link_clicks(session, list(merged.values()))
