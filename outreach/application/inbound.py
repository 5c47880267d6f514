"""Inbound mail processed: each message once, its verdict landed on the delivery, the
contact, the consent ledger and the tallies.

* hard bounce: the delivery becomes `bounced`, the contact `bounced`, its address
  suppressed;
* soft bounce: recorded; OUTREACH_SOFT_BOUNCE_LIMIT of them in a row (the contact's last
  messages each soft-bounced) count as a hard one;
* complaint: every consent withdrawn with the report as the source, the contact
  `complained`, its address suppressed, the campaign's unsubscribe counted;
* mailed unsubscribe: every consent withdrawn at once, as the one-click link does;
* auto-reply, unclassified: recorded, nothing changed.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

import sqlalchemy as sa
from sqlalchemy.orm import Session

from outreach.config import Settings
from outreach.consent import links
from outreach.consent.service import Evidence, suppress, unsubscribe
from outreach.contacts.identity import normalize_email
from outreach.contacts.models import Contact, ContactStatus
from outreach.delivery.models import Delivery, DeliveryStatus
from outreach.inbound.classify import Classified, Kind, classify, parse
from outreach.inbound.models import InboundMessage
from outreach.reporting.tallies import refresh_blocks
from outreach.tokens import TokenError, read_delivery_tag, read_token

MAX_KEPT = 1_000_000  # characters of a message's text kept for a second look


@dataclass(frozen=True)
class Processed:
    """What became of one inbound message (`duplicate`: it was processed before)."""

    record: InboundMessage
    duplicate: bool


def process(session: Session, settings: Settings, raw: bytes, source: str) -> Processed:
    """Classify one inbound message and apply its outcome, once (a message seen before, by
    the digest of its bytes, is only reported)."""
    digest = hashlib.sha256(raw).hexdigest()
    seen = session.scalar(sa.select(InboundMessage).where(InboundMessage.digest == digest))
    if seen is not None:
        return Processed(seen, True)
    message = parse(raw)
    verdict = classify(message, unsubscribe_mailto=settings.unsubscribe_mailto)
    record = InboundMessage(
        digest=digest,
        message_id=str(message.get("Message-ID", "") or "")[:998] or None,
        source=source[:50],
        sender=str(message.get("From", "") or "")[:320],
        subject=str(message.get("Subject", "") or "")[:300],
        kind=verdict.kind.value,
        status=(verdict.status or None) and verdict.status[:50],
        raw=raw.decode("utf-8", errors="replace")[:MAX_KEPT],
    )
    delivery = _delivery(session, settings, verdict)
    subscription = _subscription(settings, verdict)
    contact = _contact(session, verdict, delivery, subscription)
    record.delivery_id = delivery.id if delivery else None
    record.contact_id = contact.id if contact else None
    session.add(record)
    session.flush()
    campaign_id = subscription[1] if subscription else None
    if campaign_id is None and delivery is not None:
        campaign_id = delivery.campaign_id
    record.decision = _apply(session, settings, record, verdict, contact, delivery, campaign_id)
    record.decision = record.decision[:500]
    session.flush()
    return Processed(record, False)


def _delivery(session: Session, settings: Settings, verdict: Classified) -> Delivery | None:
    for tag in verdict.tags:
        try:
            number = read_delivery_tag(settings.secret_key, tag)
        except TokenError:
            continue  # another instance's, forged, or too old
        found = session.get(Delivery, number)
        if found is not None:
            return found
    return None


def _subscription(settings: Settings, verdict: Classified) -> tuple[int, int | None] | None:
    """(contact id, campaign id) of a mailed unsubscribe's genuine subscription token."""
    if not verdict.unsubscribe_token:
        return None
    try:
        payload = read_token(settings.secret_key, links.SUBSCRIPTION, verdict.unsubscribe_token)
    except TokenError:
        return None
    return int(payload.get("c") or 0), (int(payload["k"]) if payload.get("k") else None)


def _contact(
    session: Session,
    verdict: Classified,
    delivery: Delivery | None,
    subscription: tuple[int, int | None] | None,
) -> Contact | None:
    if delivery is not None:
        return session.get(Contact, delivery.contact_id) if delivery.contact_id else None
    if verdict.unsubscribe_token:
        return session.get(Contact, subscription[0]) if subscription else None
    for address in verdict.recipients:  # no tag: the address the report names
        try:
            key = normalize_email(address)[1]
        except ValueError:
            continue
        found = session.scalar(sa.select(Contact).where(Contact.email_key == key))
        if found is not None:
            return found
    return None


def _apply(
    session: Session,
    settings: Settings,
    record: InboundMessage,
    verdict: Classified,
    contact: Contact | None,
    delivery: Delivery | None,
    campaign_id: int | None,
) -> str:
    what = f"{verdict.kind.value.replace('_', ' ')}: {verdict.reason}"
    if verdict.kind in (Kind.AUTO_REPLY, Kind.UNCLASSIFIED):
        return f"{what}; nothing changed"
    if contact is None:
        return f"{what}; no delivery or contact of this instance matched, nothing changed"
    about = f"contact #{contact.id}" + (f", delivery #{delivery.id}" if delivery else "")
    reference = record.message_id or f"sha256:{record.digest[:16]}"
    if verdict.kind is Kind.UNSUBSCRIBE:
        unsubscribe(session, contact, Evidence(f"mailed unsubscribe {reference}"), campaign_id)
        return f"{what}; {about} unsubscribed: every consent withdrawn"
    if verdict.kind is Kind.COMPLAINT:
        unsubscribe(
            session,
            contact,
            Evidence(f"complaint: feedback report {reference} ({verdict.status or 'abuse'})"),
            campaign_id,
        )
        contact.status = ContactStatus.COMPLAINED
        _suppress(session, contact, "complaint")
        return f"{what}; {about} complained: consent withdrawn, address suppressed"
    if verdict.kind is Kind.SOFT_BOUNCE:
        if not _soft_limit_reached(session, settings, contact):
            return f"{what}; {about}: soft bounce counted"
        what += f" ({settings.soft_bounce_limit} soft bounces in a row: treated as hard)"
    _bounce(session, delivery, contact, verdict.reason)
    return f"{what}; {about} bounced: address suppressed"


def _suppress(session: Session, contact: Contact, reason: str) -> None:
    if contact.email_hmac:
        suppress(session, contact.email_hmac, reason)


def _bounce(session: Session, delivery: Delivery | None, contact: Contact, reason: str) -> None:
    if delivery is not None and delivery.status is DeliveryStatus.SENT:
        delivery.status = DeliveryStatus.BOUNCED
        delivery.last_error = f"bounced after delivery: {reason}"[:1000]
        session.flush()
        refresh_blocks(session, delivery.campaign_id, delivery.id, delivery.id)
    if contact.status in (ContactStatus.SUBSCRIBED, ContactStatus.PENDING):
        contact.status = ContactStatus.BOUNCED
    _suppress(session, contact, "hard bounce")


def _soft_limit_reached(session: Session, settings: Settings, contact: Contact) -> bool:
    """The contact's last OUTREACH_SOFT_BOUNCE_LIMIT messages each soft-bounced."""
    limit = max(1, settings.soft_bounce_limit)
    last = list(
        session.scalars(
            sa.select(Delivery.id)
            .where(Delivery.contact_id == contact.id, Delivery.status == DeliveryStatus.SENT)
            .order_by(Delivery.id.desc())
            .limit(limit)
        )
    )
    if len(last) < limit:
        return False
    soft = set(
        session.scalars(
            sa.select(InboundMessage.delivery_id).where(
                InboundMessage.contact_id == contact.id,
                InboundMessage.kind == Kind.SOFT_BOUNCE.value,
                InboundMessage.delivery_id.in_(last),
            )
        )
    )
    return soft >= set(last)
