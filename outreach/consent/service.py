"""The consent ledger: sign-up, confirmation, withdrawal, proof, and who may be mailed."""

from __future__ import annotations

import enum
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session, aliased

from outreach.consent.mail import queue_consent_email
from outreach.consent.models import (
    ConsentAction,
    ConsentEvent,
    NoticeVersion,
    Purpose,
    Suppression,
    UsedToken,
)
from outreach.consent.notice import current_notice, notice_to_dict
from outreach.contacts.fields import clean_profile
from outreach.contacts.identity import email_hmac, normalize_email
from outreach.contacts.models import Contact, ContactStatus
from outreach.db import settings_of, utcnow
from outreach.errors import ValidationError
from outreach.groups.service import set_sector_membership
from outreach.tokens import TokenError

TRACKING = (Purpose.OPEN_TRACKING, Purpose.CLICK_TRACKING)
# A public form sends one address at most one email per RESEND_AFTER (a sign-up's
# confirmation, a data-subject request's verification link): nobody floods a mailbox.
RESEND_AFTER = timedelta(minutes=10)
# The statuses an unsubscribe changes: any other contact receives nothing already.
UNSUBSCRIBABLE = (ContactStatus.SUBSCRIBED, ContactStatus.PENDING)


@dataclass(frozen=True)
class Evidence:
    """Where a consent action came from: kept with every ledger event."""

    source: str
    ip: str | None = None
    user_agent: str | None = None
    notice_version_id: int | None = None


class SignupOutcome(enum.StrEnum):
    """What a sign-up did; never shown to the visitor (no address enumeration)."""

    CONFIRMATION_SENT = "confirmation_sent"
    ALREADY_SUBSCRIBED = "already_subscribed"
    THROTTLED = "throttled"


@dataclass
class Signup:
    """The contact a sign-up concerns and what to send it."""

    contact: Contact
    outcome: SignupOutcome
    purposes: list[Purpose] = field(default_factory=list)


def record_event(
    session: Session,
    contact_id: int,
    purpose: Purpose,
    action: ConsentAction,
    evidence: Evidence,
    *,
    confirmed_at: datetime | None = None,
    confirmation_ip: str | None = None,
) -> ConsentEvent:
    """Append one event to the ledger, citing the notice shown (or else the one in force)."""
    notice_id = evidence.notice_version_id or current_notice(session).id
    event = ConsentEvent(
        contact_id=contact_id,
        purpose=purpose,
        action=action,
        occurred_at=utcnow(),
        ip=evidence.ip,
        user_agent=(evidence.user_agent or None) and evidence.user_agent[:500],
        source=evidence.source[:1000],
        notice_version_id=notice_id,
        confirmed_at=confirmed_at,
        confirmation_ip=confirmation_ip,
    )
    session.add(event)
    contact = session.get(Contact, contact_id)
    if contact is not None:  # the batches in flight look for changed contacts by it
        contact.updated_at = event.occurred_at
    session.flush()
    return event


def latest_actions(
    session: Session, contact_ids: Iterable[int]
) -> dict[int, dict[Purpose, ConsentAction]]:
    """The last ledger action per contact and purpose."""
    ids = list(contact_ids)
    last = (
        sa.select(sa.func.max(ConsentEvent.id))
        .where(ConsentEvent.contact_id.in_(ids))
        .group_by(ConsentEvent.contact_id, ConsentEvent.purpose)
    )
    rows = session.execute(
        sa.select(ConsentEvent.contact_id, ConsentEvent.purpose, ConsentEvent.action).where(
            ConsentEvent.id.in_(last)
        )
    )
    state: dict[int, dict[Purpose, ConsentAction]] = {i: {} for i in ids}
    for contact_id, purpose, action in rows:
        state[contact_id][purpose] = action
    return state


def tracking_choices(session: Session, contact_id: int) -> dict[Purpose, bool]:
    """What the tracking boxes of the preferences page show: ticked only while that consent
    is confirmed (given but unconfirmed, or withdrawn, shows unticked)."""
    actions = latest_actions(session, [contact_id])[contact_id]
    return {purpose: actions.get(purpose) is ConsentAction.CONFIRMED for purpose in TRACKING}


def member_groups(session: Session, contact_id: int) -> set[int]:
    """The ids of every group the contact belongs to (the preferences page ticks its topics)."""
    from outreach.groups.models import GroupMembership

    return set(
        session.scalars(
            sa.select(GroupMembership.group_id).where(GroupMembership.contact_id == contact_id)
        )
    )


def shown_notice(session: Session, version_id: int | None) -> NoticeVersion:
    """The notice version a form displayed, or the one in force when it names none we hold."""
    notice = session.get(NoticeVersion, version_id) if version_id is not None else None
    return notice or current_notice(session)


def has_consent(session: Session, contact_id: int, purpose: Purpose) -> bool:
    """True when the contact's latest event for `purpose` is a confirmation."""
    actions = latest_actions(session, [contact_id])[contact_id]
    return actions.get(purpose) is ConsentAction.CONFIRMED


def newsletter_confirmed() -> sa.ColumnElement[bool]:
    """SQL condition on Contact: its latest newsletter ledger event is a confirmation."""
    return consent_confirmed(Purpose.NEWSLETTER)


def consent_confirmed(
    purpose: Purpose, contact_id: sa.ColumnElement[int] | None = None
) -> sa.ColumnElement[bool]:
    """SQL condition: the latest ledger event for `purpose` of the contact (Contact.id, or
    the given correlated column) is a confirmation."""
    event, earlier = aliased(ConsentEvent), aliased(ConsentEvent)
    owner = Contact.id if contact_id is None else contact_id
    latest = (
        sa.select(sa.func.max(earlier.id))
        .where(earlier.contact_id == owner, earlier.purpose == purpose)
        .correlate_except(earlier)
        .scalar_subquery()
    )
    return (
        sa.select(event.id)
        .where(event.id == latest, event.action == ConsentAction.CONFIRMED)
        .exists()
    )


def suppress(session: Session, digest: str, reason: str) -> None:
    """Put an address (by its HMAC) on the suppression list, unless it is there already."""
    if session.scalar(sa.select(Suppression.id).where(Suppression.email_hmac == digest)) is None:
        session.add(Suppression(email_hmac=digest, reason=reason))


def not_suppressed() -> sa.ColumnElement[bool]:
    """SQL condition on Contact: its address is not on the suppression list."""
    return ~sa.select(Suppression.id).where(Suppression.email_hmac == Contact.email_hmac).exists()


def unmailable_reason() -> sa.Case[Any]:
    """SQL on Contact: why it may not be mailed now (restricted, not subscribed, no
    consent, suppressed), or NULL when it may."""
    return sa.case(
        (Contact.status == ContactStatus.RESTRICTED, "restricted"),
        (Contact.status != ContactStatus.SUBSCRIBED, "not subscribed"),
        (~newsletter_confirmed(), "no consent"),
        (~not_suppressed(), "suppressed"),
        else_=sa.null(),
    )


def mailable(session: Session, contact_ids: Iterable[int]) -> set[int]:
    """Those of these contacts that may be mailed now (the rule of `unmailable_reason`,
    which the delivery engine applies before each message)."""
    ids = list(contact_ids)
    if not ids:
        return set()
    return set(
        session.scalars(
            sa.select(Contact.id).where(Contact.id.in_(ids), unmailable_reason().is_(None))
        )
    )


def sign_up(
    session: Session,
    data: dict[str, Any],
    purposes: list[Purpose],
    evidence: Evidence,
    *,
    resend_after: timedelta,
) -> Signup:
    """Record a form sign-up (`given` events) and say which email the address should get."""
    if Purpose.NEWSLETTER not in purposes:
        raise ValidationError(
            "tick the box to agree to receive the newsletter", field="consent_newsletter"
        )
    email, key = normalize_email(data.get("email", ""))
    profile = clean_profile(
        {"first_name": data.get("first_name", ""), "sector": data.get("sector") or None}
    )
    contact = session.scalar(sa.select(Contact).where(Contact.email_key == key))
    if contact is None:
        contact = Contact(
            email=email,
            email_key=key,
            status=ContactStatus.PENDING,
            source=evidence.source[:500],
            attributes={},
            **profile,
        )
        session.add(contact)
        session.flush()
    elif contact.status is ContactStatus.SUBSCRIBED and has_consent(
        session, contact.id, Purpose.NEWSLETTER
    ):
        queue_consent_email(session, contact, "already_subscribed")
        return Signup(contact, SignupOutcome.ALREADY_SUBSCRIBED)
    elif contact.status is ContactStatus.PENDING:
        for name, value in profile.items():
            if value:
                setattr(contact, name, value)
    sent = contact.confirmation_sent_at
    if sent is not None and utcnow() - sent < resend_after:
        return Signup(contact, SignupOutcome.THROTTLED)
    for purpose in purposes:
        record_event(session, contact.id, purpose, ConsentAction.GIVEN, evidence)
    contact.confirmation_sent_at = utcnow()
    queue_consent_email(session, contact, "confirm")
    return Signup(contact, SignupOutcome.CONFIRMATION_SENT, purposes)


def token_spent(session: Session, jti: str) -> bool:
    """True when the single-use token with this id was used already."""
    return session.get(UsedToken, jti) is not None


def spend_token(session: Session, jti: str, purpose: str) -> None:
    """Mark a single-use token as used; TokenError when it was used before."""
    if not jti or session.get(UsedToken, jti) is not None:
        raise TokenError("this link has already been used")
    session.add(UsedToken(jti=jti, purpose=purpose))
    session.flush()


def record_invitation_acceptance(
    session: Session, contact_id: int, evidence: Evidence
) -> ConsentEvent:
    """The newsletter consent an invited contact gives by following its invitation (which
    recorded no `given` event), citing the notice in force; `confirm` then confirms it."""
    notice = current_notice(session)
    return record_event(
        session,
        contact_id,
        Purpose.NEWSLETTER,
        ConsentAction.GIVEN,
        Evidence(
            f"invitation accepted:{evidence.source}", evidence.ip, evidence.user_agent, notice.id
        ),
    )


def confirm(session: Session, contact: Contact, evidence: Evidence) -> list[Purpose]:
    """Confirm every purpose given since the last confirmation; subscribe the contact and
    queue the welcome message (with the lead magnet)."""
    events = session.scalars(
        sa.select(ConsentEvent)
        .where(ConsentEvent.contact_id == contact.id)
        .order_by(ConsentEvent.id)
    ).all()
    pending: dict[Purpose, ConsentEvent] = {}
    for event in events:
        if event.action is ConsentAction.GIVEN:
            pending[event.purpose] = event
        else:
            pending.pop(event.purpose, None)
    if Purpose.NEWSLETTER not in pending:
        raise TokenError("there is nothing left to confirm with this link")
    now = utcnow()
    for purpose, given in pending.items():
        record_event(
            session,
            contact.id,
            purpose,
            ConsentAction.CONFIRMED,
            Evidence(evidence.source, evidence.ip, evidence.user_agent, given.notice_version_id),
            confirmed_at=now,
            confirmation_ip=evidence.ip,
        )
    contact.status = ContactStatus.SUBSCRIBED
    lift_suppression(session, contact.email_key)
    set_sector_membership(session, contact.id, contact.sector)
    queue_consent_email(session, contact, "welcome")
    return list(pending)


def lift_suppression(session: Session, email_key: str) -> None:
    """Remove the address from the suppression list (only a fresh opt-in may do this)."""
    digest = email_hmac(settings_of(session).secret_key, email_key)
    session.execute(sa.delete(Suppression).where(Suppression.email_hmac == digest))


def withdraw(
    session: Session, contact: Contact, purposes: Iterable[Purpose], evidence: Evidence
) -> list[Purpose]:
    """Withdraw consents that are in force (or pending); return those withdrawn."""
    actions = latest_actions(session, [contact.id])[contact.id]
    withdrawn = []
    for purpose in purposes:
        if actions.get(purpose) in (ConsentAction.GIVEN, ConsentAction.CONFIRMED):
            record_event(session, contact.id, purpose, ConsentAction.WITHDRAWN, evidence)
            withdrawn.append(purpose)
    return withdrawn


def unsubscribe(
    session: Session, contact: Contact, evidence: Evidence, campaign_id: int | None = None
) -> None:
    """Withdraw every consent and stop all mail at once (idempotent)."""
    from outreach.delivery.models import Delivery
    from outreach.reporting.tallies import add_engagement, lock_for_hits

    withdraw(session, contact, list(Purpose), evidence)
    if contact.status in UNSUBSCRIBABLE:
        contact.status = ContactStatus.UNSUBSCRIBED
    if campaign_id is not None:
        lock_for_hits(session, [campaign_id])  # before the row lock, as the recorder does
        marked = session.execute(
            sa.update(Delivery)
            .where(
                Delivery.campaign_id == campaign_id,
                Delivery.contact_id == contact.id,
                Delivery.unsubscribed_at.is_(None),
            )
            .values(unsubscribed_at=utcnow())
            .returning(Delivery.group_name, Delivery.variant_id)
        ).first()  # the delivery row is unique per (campaign, contact)
        if marked is not None:
            add_engagement(session, {(campaign_id, marked[0], marked[1] or 0): {"unsubscribes": 1}})
    session.flush()


def set_tracking(
    session: Session, contact: Contact, wanted: dict[Purpose, bool], evidence: Evidence
) -> None:
    """Give (already confirmed through the signed link) or withdraw tracking consents."""
    actions = latest_actions(session, [contact.id])[contact.id]
    now = utcnow()
    for purpose, on in wanted.items():
        if purpose not in TRACKING:
            continue
        active = actions.get(purpose) is ConsentAction.CONFIRMED
        if on and not active:
            record_event(
                session,
                contact.id,
                purpose,
                ConsentAction.CONFIRMED,
                evidence,
                confirmed_at=now,
                confirmation_ip=evidence.ip,
            )
        elif not on and actions.get(purpose) in (ConsentAction.GIVEN, ConsentAction.CONFIRMED):
            record_event(session, contact.id, purpose, ConsentAction.WITHDRAWN, evidence)


def proof(session: Session, contact: Contact) -> dict[str, Any]:
    """The contact's complete consent history with the notice texts it cites."""
    events = session.scalars(
        sa.select(ConsentEvent)
        .where(ConsentEvent.contact_id == contact.id)
        .order_by(ConsentEvent.id)
    ).all()
    notice_ids = {e.notice_version_id for e in events if e.notice_version_id}
    notices = session.scalars(sa.select(NoticeVersion).where(NoticeVersion.id.in_(notice_ids)))
    by_id = {n.id: n for n in notices}
    return {
        "contact": {"email": contact.email, "status": str(contact.status)},
        "events": [_event_dict(e, by_id) for e in events],
        "notices": [notice_to_dict(n) for n in sorted(by_id.values(), key=lambda n: n.id)],
    }


def _event_dict(event: ConsentEvent, notices: dict[int, NoticeVersion]) -> dict[str, Any]:
    notice = notices.get(event.notice_version_id or 0)
    return {
        "id": event.id,
        "purpose": str(event.purpose),
        "action": str(event.action),
        "occurred_at": event.occurred_at.isoformat(),
        "ip": event.ip,
        "user_agent": event.user_agent,
        "source": event.source,
        "notice_version": notice.id if notice else None,
        "notice_hash": notice.hash if notice else None,
        "confirmed_at": event.confirmed_at.isoformat() if event.confirmed_at else None,
        "confirmation_ip": event.confirmation_ip,
        "basis": BASIS[event.basis],
    }


# How an event is known (ConsentEvent.basis), as the proof says it.
BASIS = {
    None: "recorded by Outreach",
    "declared": "declared by the importer",
    "imported": "recorded by the tool the contact was imported from, kept as it was",
}


def invitable(session: Session, group_id: int, resend_after: timedelta) -> list[int]:
    """Pending contacts of a group not invited within `resend_after`."""
    from outreach.groups.models import Group
    from outreach.groups.service import members_condition

    cutoff = utcnow() - resend_after
    group = session.get_one(Group, group_id)
    return list(
        session.scalars(
            sa.select(Contact.id)
            .where(
                members_condition(session, group),
                Contact.status == ContactStatus.PENDING,
                sa.or_(
                    Contact.confirmation_sent_at.is_(None), Contact.confirmation_sent_at < cutoff
                ),
            )
            .order_by(Contact.id)
        )
    )


def invite(session: Session, contact_ids: list[int]) -> list[int]:
    """Queue an opt-in invitation to each contact and note when (invitations are throttled
    and drive the purge): a contact counts as invited only once its email is in the outbox.
    Returns the outbox ids."""
    queued = []
    now = utcnow()
    for contact in session.scalars(sa.select(Contact).where(Contact.id.in_(contact_ids))):
        contact.confirmation_sent_at = now
        queued.append(queue_consent_email(session, contact, "invite"))
    session.flush()
    return [row.id for row in queued]


def invite_pending(session: Session, group_id: int) -> list[int]:
    """Invite the group's pending contacts not invited within a confirmation link's
    lifetime (never twice while a link still works); returns the outbox ids."""
    lifetime = timedelta(hours=settings_of(session).confirm_token_hours)
    return invite(session, invitable(session, group_id, lifetime))


def purge_pending(session: Session, older_than: timedelta) -> int:
    """Delete pending contacts asked to confirm longer ago than `older_than`, with events."""
    cutoff = utcnow() - older_than
    stale = sa.select(Contact.id).where(
        Contact.status == ContactStatus.PENDING,
        sa.func.coalesce(Contact.confirmation_sent_at, Contact.created_at) < cutoff,
        Contact.confirmation_sent_at.is_not(None),
    )
    ids = list(session.scalars(stale))
    if not ids:
        return 0
    from outreach.groups.models import GroupMembership

    session.execute(sa.delete(ConsentEvent).where(ConsentEvent.contact_id.in_(ids)))
    session.execute(sa.delete(GroupMembership).where(GroupMembership.contact_id.in_(ids)))
    session.execute(sa.delete(Contact).where(Contact.id.in_(ids)))
    return len(ids)
