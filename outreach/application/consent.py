"""Consent use cases: invite, subscribe, confirm, change preferences, unsubscribe.

Each takes a session and plain values (link tokens as the visitor brought them, form
values already parsed, the `Evidence` of where the action came from), returns a plain
result and never commits: the page, the API resource or the command that called it does.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from datetime import timedelta
from typing import Any

from sqlalchemy.orm import Session

from outreach.consent import links, service
from outreach.consent.models import Purpose
from outreach.consent.service import Evidence, SignupOutcome
from outreach.contacts.models import Contact, ContactStatus
from outreach.contacts.service import get_contact
from outreach.db import settings_of
from outreach.errors import ValidationError
from outreach.groups.service import (
    get_group,
    join_topics,
    public_sectors,
    public_topics,
    set_topics,
)
from outreach.tokens import TokenError, read_token

MAX_FIELD = 1000  # characters of one sign-up field


@dataclass(frozen=True)
class Invitations:
    """The opt-in invitations queued in the outbox for a group (sent once committed)."""

    group: str
    outbox_ids: tuple[int, ...]


@dataclass(frozen=True)
class Subscription:
    """What a sign-up did; never shown to the visitor (no address enumeration)."""

    contact_id: int
    outcome: SignupOutcome


@dataclass(frozen=True)
class Confirmation:
    """The contact a confirmation link names; `already_confirmed` when it was used before
    by a contact still subscribed (the page then says so instead of offering a button)."""

    contact_id: int
    first_name: str | None
    already_confirmed: bool = False


@dataclass(frozen=True)
class UnsubscribeLink:
    """What an unsubscribe link names: the contact id, and whether it receives nothing
    already (gone, unsubscribed, restricted)."""

    contact_id: int
    already: bool


@dataclass(frozen=True)
class Topic:
    """A public affinity group a subscriber may join or leave."""

    id: int
    name: str
    description: str


@dataclass(frozen=True)
class Preferences:
    """What the preferences page of one contact shows."""

    contact_id: int
    email: str
    topics: tuple[Topic, ...]
    member_of: frozenset[int]
    tracking: Mapping[Purpose, bool]  # each tracking purpose: is its box ticked
    subscribed: bool


@dataclass(frozen=True)
class Subscriber:
    """The contact a subscription (unsubscribe or preferences) link names."""

    contact_id: int
    email: str


def invite(session: Session, group_name: str) -> Invitations:
    """Queue opt-in invitations to the pending contacts of a group, never twice while an
    earlier invitation's link still works."""
    group = get_group(session, group_name)
    return Invitations(group.name, tuple(service.invite_pending(session, group.id)))


def subscribe(
    session: Session,
    *,
    email: str,
    first_name: str,
    sector: str,
    purposes: Iterable[Purpose],
    topics: Iterable[int],
    evidence: Evidence,
) -> Subscription:
    """Record a form sign-up and owe the address its email (throttled per address); the
    ticked public topics are joined, unless the address is subscribed already: a
    stranger's sign-up never alters a subscription."""
    values = {"email": email, "first_name": first_name, "sector": sector}
    _check_signup(session, values)
    signup = service.sign_up(
        session,
        values,
        list(purposes),
        _as_shown(session, evidence),
        resend_after=service.RESEND_AFTER,
    )
    if signup.outcome is not SignupOutcome.ALREADY_SUBSCRIBED:
        join_topics(session, signup.contact.id, topics)
    return Subscription(signup.contact.id, signup.outcome)


def _check_signup(session: Session, values: dict[str, str]) -> None:
    for name, value in values.items():
        if len(value) > MAX_FIELD:
            raise ValidationError(f"{name.replace('_', ' ')} is too long", field=name)
    if values["sector"] and values["sector"] not in public_sectors(session):
        # Only the curated (public) sectors: a private one is refused like an unknown one.
        raise ValidationError("choose a sector from the list", field="sector")


def check_confirmation_link(session: Session, token: str) -> Confirmation:
    """What a confirmation link would do, changing nothing (a GET never confirms);
    TokenError when it cannot work."""
    contact, payload = _confirmation_target(session, token)
    if service.token_spent(session, str(payload.get("jti", ""))):
        return _already_confirmed(contact)
    return Confirmation(contact.id, contact.first_name)


def confirm(session: Session, token: str, evidence: Evidence) -> Confirmation:
    """Spend the confirmation link, confirm every purpose given (an invitation's consent
    is given by following it) and owe the welcome message; TokenError when it cannot."""
    contact, payload = _confirmation_target(session, token)
    jti = str(payload.get("jti", ""))
    if service.token_spent(session, jti):
        return _already_confirmed(contact)
    service.spend_token(session, jti, links.CONFIRM)
    if payload.get("i"):
        service.record_invitation_acceptance(session, contact.id, evidence)
    service.confirm(session, contact, evidence)
    return Confirmation(contact.id, contact.first_name)


def _confirmation_target(session: Session, token: str) -> tuple[Contact, dict[str, Any]]:
    max_age = settings_of(session).confirm_token_hours * 3600
    payload = _payload(session, links.CONFIRM, token, max_age)
    return _linked_contact(session, payload), payload


def _already_confirmed(contact: Contact) -> Confirmation:
    """A used link: what is true now, or TokenError when the contact left since."""
    if contact.status is not ContactStatus.SUBSCRIBED:
        raise TokenError("this link has already been used")
    return Confirmation(contact.id, contact.first_name, already_confirmed=True)


def check_unsubscribe_link(session: Session, token: str) -> UnsubscribeLink:
    """What an unsubscribe link would do, changing nothing (mail scanners follow links)."""
    payload = _payload(session, links.SUBSCRIPTION, token)
    contact = session.get(Contact, payload.get("c"))
    already = contact is None or contact.status not in service.UNSUBSCRIBABLE
    return UnsubscribeLink(payload["c"], already)


def unsubscribe(session: Session, token: str, evidence: Evidence) -> int | None:
    """Unsubscribe the contact a message's link names at once, noting the campaign it came
    from (in the ledger source and the campaign's tally); None when the contact is gone."""
    payload = _payload(session, links.SUBSCRIPTION, token)
    contact = session.get(Contact, payload.get("c"))
    if contact is None:
        return None
    campaign_id = payload.get("k")
    source = f"{evidence.source}:campaign {campaign_id}"
    service.unsubscribe(session, contact, replace(evidence, source=source), campaign_id=campaign_id)
    return contact.id


def preferences(session: Session, token: str) -> Preferences:
    """What the preferences page of the contact a link names shows."""
    return _preferences_of(session, _subscription_contact(session, token))


def change_preferences(
    session: Session,
    token: str,
    *,
    topics: Iterable[int],
    tracking: Mapping[Purpose, bool],
    evidence: Evidence,
) -> Preferences:
    """Make the contact a member of exactly these public topics and give or withdraw its
    tracking consents; returns the page as it now stands."""
    contact = _subscription_contact(session, token)
    shown = _as_shown(session, evidence)
    set_topics(session, contact.id, topics)
    service.set_tracking(session, contact, dict(tracking), shown)
    return _preferences_of(session, contact)


def unsubscribe_everything(session: Session, token: str, evidence: Evidence) -> int:
    """Unsubscribe from the preferences page: every consent withdrawn, all mail stopped."""
    contact = _subscription_contact(session, token)
    service.unsubscribe(session, contact, _as_shown(session, evidence))
    return contact.id


def subscriber(session: Session, token: str) -> Subscriber:
    """The contact a subscription link names; TokenError when it is gone."""
    contact = _subscription_contact(session, token)
    return Subscriber(contact.id, contact.email)


def check_download_link(session: Session, token: str) -> int:
    """The contact an unexpired lead-magnet link names; TokenError when it is gone."""
    payload = _payload(session, links.DOWNLOAD, token, links.DOWNLOAD_MAX_AGE)
    return _linked_contact(session, payload).id


def consent_proof(session: Session, email_or_id: str | int) -> dict[str, Any]:
    """A contact's complete consent history with the notice texts it cites."""
    return service.proof(session, get_contact(session, email_or_id))


def purge_unconfirmed(session: Session, days: int | None = None) -> int:
    """Delete sign-ups not confirmed within `days` (default: the configured retention)
    with their data; returns how many."""
    kept = days if days is not None else settings_of(session).pending_retention_days
    return service.purge_pending(session, timedelta(days=kept))


def _preferences_of(session: Session, contact: Contact) -> Preferences:
    # Private groups (sectors, VIP, imported lists) are never shown nor changed here.
    topics = tuple(Topic(g.id, g.name, g.description) for g in public_topics(session))
    return Preferences(
        contact_id=contact.id,
        email=contact.email,
        topics=topics,
        member_of=frozenset(service.member_groups(session, contact.id)),
        tracking=service.tracking_choices(session, contact.id),
        subscribed=contact.status is ContactStatus.SUBSCRIBED,
    )


def _as_shown(session: Session, evidence: Evidence) -> Evidence:
    """The evidence citing the notice the form displayed (the one in force when the form
    names none we hold)."""
    notice = service.shown_notice(session, evidence.notice_version_id)
    return replace(evidence, notice_version_id=notice.id)


def _payload(
    session: Session, purpose: str, token: str, max_age: int | None = None
) -> dict[str, Any]:
    return read_token(settings_of(session).secret_key, purpose, token, max_age)


def _linked_contact(session: Session, payload: dict[str, Any]) -> Contact:
    contact = session.get(Contact, payload.get("c"))
    if contact is None:
        raise TokenError("this link is not valid any more")
    return contact


def _subscription_contact(session: Session, token: str) -> Contact:
    return _linked_contact(session, _payload(session, links.SUBSCRIPTION, token))
