"""The worker side of sending: one batch of deliveries at a time, per worker thread.

Per process: compiled message builders per variant (MJML and inlining once), a reused
SMTP connection per thread, and the pacer. Per batch: one transaction claims it under a
token of its own (whose lease is renewed while it is sent) and reads, with its
recipients, whether each may be mailed; one more at its end notes progress, finishes the
campaign when nothing is left and refreshes its tallies. Per message: the pacer's wait,
then, when the last look is half a second old, a look at what changed since the claim
(withdrawals, suppressions, restrictions, deletions, a pause: service.changes_since), so
that an unsubscribe holds within a second at any rate; render — a message that cannot
be built fails alone —, send, and the outcome committed at once and synchronously, so
that a worker killed mid-batch, or a database crash, re-sends at most the one message
per thread whose SMTP transaction had completed.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from outreach import actor_runtime as runtime
from outreach.campaigns.models import Campaign, Variant
from outreach.campaigns.service import message_builder
from outreach.claims import DELIVERY, Unrecorded, claims
from outreach.consent.links import message_links
from outreach.consent.models import Purpose
from outreach.consent.service import consent_confirmed, unmailable_reason
from outreach.contacts.models import Contact
from outreach.db import Database
from outreach.delivery import service
from outreach.delivery.pacing import Pacer, pacer_for
from outreach.delivery.transport import Envelope, Transport, TransportError, outgoing
from outreach.groups.models import Group
from outreach.rendering.message import Links, MessageBuilder, Tracking
from outreach.tokens import delivery_tag
from outreach.tracking.links import click_url, open_url

log = logging.getLogger(__name__)
RECHECK_SECONDS = 0.5
MAX_MESSAGE_BYTES = 10 * 1024 * 1024  # what most receiving servers accept


@dataclass
class BatchResult:
    """What happened to one batch."""

    sent: int = 0
    failed: int = 0
    retry: bool = False
    paused: bool = False
    retry_at: datetime | None = None  # the earliest retry's time (None: at once)


@dataclass
class _Recipient:
    id: int
    email: str
    first_name: str
    last_name: str
    sector: str | None
    organization: str
    language: str
    attributes: dict[str, Any]
    track_opens: bool = False
    track_clicks: bool = False
    email_hmac: str | None = None
    unmailable: str | None = None  # why it may not be mailed now (None: it may)
    stamp: datetime | None = None  # its updated_at when last looked at in full


@dataclass
class _Batch:
    """A claimed batch with all it needs to be sent (read in the claim's transaction)."""

    claimed: list[service.Claimed]
    people: dict[int, _Recipient]
    sender: str
    streak: int
    since: datetime  # changes stamped from then on are looked for while it is sent


class Engine:
    """Sends batches for one worker process."""

    def __init__(self, database: Database) -> None:
        self.database = database
        self.settings = database.settings
        self.local = threading.local()
        self.lock = threading.Lock()
        self.builders: dict[tuple[int, str, datetime], MessageBuilder] = {}
        self.transports: list[Transport] = []
        self.pacer: Pacer = pacer_for(self.settings.send_rate, self.settings.broker_url)

    def transport(self) -> Transport:
        """This thread's transport (one SMTP connection, reused)."""
        if getattr(self.local, "transport", None) is None:
            self.local.transport = outgoing(self.settings)
            with self.lock:
                self.transports.append(self.local.transport)
        return self.local.transport  # type: ignore[no-any-return]

    def drop_transport(self) -> None:
        """Close this thread's connection after a failure; the next send reconnects."""
        transport = getattr(self.local, "transport", None)
        if transport is not None:
            transport.close()
            with self.lock:
                self.transports.remove(transport)
        self.local.transport = None

    def close_transports(self) -> None:
        """Close every thread's connection (the worker threads have ended)."""
        with self.lock:
            transports, self.transports = self.transports, []
        for transport in transports:
            transport.close()

    def builders_for(
        self, session: Session, keys: set[tuple[int, str]]
    ) -> dict[tuple[int, str], MessageBuilder]:
        """The builders of a batch's variants (per variant and group name), each compiled
        once per process until its variant changes: one query says which are current."""
        versions = dict(
            session.execute(
                sa.select(Variant.id, Variant.updated_at).where(
                    Variant.id.in_({variant_id for variant_id, _ in keys})
                )
            ).all()
        )
        found = {}
        for variant_id, group_name in keys:
            if variant_id not in versions:
                raise LookupError(f"variant {variant_id} is gone")
            cache_key = (variant_id, group_name, versions[variant_id])
            with self.lock:
                built = self.builders.get(cache_key)
            if built is None:
                built = self._compile(session, variant_id, group_name)
                with self.lock:
                    self.builders[cache_key] = built
            found[(variant_id, group_name)] = built
        return found

    def _compile(self, session: Session, variant_id: int, group_name: str) -> MessageBuilder:
        variant = session.get(Variant, variant_id)
        campaign = session.get(Campaign, variant.campaign_id) if variant else None
        if variant is None or campaign is None:
            raise LookupError(f"variant {variant_id} is gone")
        label = "fallback"
        if variant.group_id:
            label = (
                session.scalar(sa.select(Group.name).where(Group.id == variant.group_id))
                or group_name
            )
        return message_builder(campaign, variant, label, group_name, self.settings)

    def send_batch(self, campaign_id: int, low: int, high: int) -> BatchResult:
        """Claim a range, then send each delivery in it."""
        db = self.database
        lease = timedelta(seconds=self.settings.lease_seconds)
        token = claims.new(DELIVERY, lease.total_seconds())
        self.local.token = token
        try:
            looked = time.monotonic()  # (at the latest) the claim looks at every contact
            with db.session() as session:
                batch = self._claim(session, campaign_id, low, high, lease, token)
            if batch is None or not batch.claimed:
                claims.close(token)
                if batch is not None:  # all skipped: the last batch still finishes
                    with db.session() as session:
                        service.end_batch(
                            session, campaign_id, batch.streak, self.settings.pause_after, low, high
                        )
                return BatchResult()
            result = self._send_claimed(campaign_id, batch, BatchResult(), looked, (low, high))
        except BaseException:  # the database went away, most likely: mended by the heartbeat
            claims.abandon(token, getattr(self.local, "unrecorded", None))
            raise
        finally:
            self.local.unrecorded = None
        claims.close(token)
        return result

    def _claim(
        self,
        session: Session,
        campaign_id: int,
        low: int,
        high: int,
        lease: timedelta,
        token: str,
    ) -> _Batch | None:
        """The claim, its recipients with whether each may be mailed now (those who may
        not are skipped, saying why), the campaign's sender and failure streak, and the
        builders: one transaction. None when the campaign is not sending or nothing was
        claimed; no deliveries when all those claimed were skipped."""
        since = service.utcnow() - service.CHANGE_MARGIN  # before the claim looks
        facts = service.sending_facts(session, campaign_id)
        if facts is None:
            return None
        claimed = service.claim(session, campaign_id, low, high, lease, token, sending=True)
        if not claimed:
            return None
        people = self._recipients(session, [c.contact_id for c in claimed])
        reasons = {cid: person.unmailable for cid, person in people.items()}
        claimed = service.skip_for(session, claimed, reasons)
        sender, streak = facts
        if not claimed:  # everyone skipped
            return _Batch([], {}, sender, streak, since)
        self.local.builders = self.builders_for(
            session, {(c.variant_id, c.group_name) for c in claimed}
        )
        return _Batch(claimed, people, sender, streak, since)

    def _send_claimed(
        self,
        campaign_id: int,
        batch: _Batch,
        result: BatchResult,
        looked: float,
        ranged: tuple[int, int],
    ) -> BatchResult:
        """Send the claimed deliveries of a batch, then note progress, finish the campaign
        if nothing is left and refresh the tallies of the range (one transaction)."""
        pause_after = self.settings.pause_after
        with self._ledger():
            streak = self._send_all(campaign_id, batch, result, looked)
        with self.database.session() as session:
            result.paused = service.end_batch(session, campaign_id, streak, pause_after, *ranged)
        return result

    @contextmanager
    def _ledger(self) -> Iterator[sa.Connection]:
        """One autocommit connection per batch: each outcome is its own one-statement
        transaction, committed — and flushed, PostgreSQL's default kept on purpose — the
        moment it is written, so that no crash forgets a message the server took."""
        with self.database.engine.connect() as plain:
            self.local.ledger = plain.execution_options(isolation_level="AUTOCOMMIT")
            try:
                yield self.local.ledger
            finally:
                self.local.ledger = None

    def _send_all(self, campaign_id: int, batch: _Batch, result: BatchResult, looked: float) -> int:
        """Send the claimed deliveries in order; returns the failure streak. `looked`:
        when the claim looked at every claimed contact's consent."""
        db, pause_after = self.database, self.settings.pause_after
        claimed, people, sender, streak = batch.claimed, batch.people, batch.sender, batch.streak
        lease = float(self.settings.lease_seconds)
        # The lease was granted at the claim, before the recipients were read and the
        # builders compiled: the first renewal is due a third of a lease after the claim.
        renewed_at, blocked, checked_at = looked, set[int](), looked
        token = claimed[0].token
        contacts = service.BATCH_CONTACTS.value(c.contact_id for c in claimed)
        ranged = (claimed[0].id, claimed[-1].id)

        def rest(position: int) -> list[service.Claimed]:
            return [c for c in claimed[position:] if c.id not in blocked]

        for position, item in enumerate(claimed):
            if time.monotonic() - renewed_at > lease / 3:  # the heartbeat does too
                renewed_at = time.monotonic()
                service.renew(self.local.ledger, [token], timedelta(seconds=lease))
                claims.renewed([token], renewed_at, lease)
            if runtime.stopping() or not claims.holds(token, lease / 3):
                # This process is stopping, or its lease may lapse before this message is
                # sent (renewals failed): the next claim sends these.
                with db.session() as session:
                    service.release(session, rest(position), None)
                result.retry = True
                break
            self.pacer.wait()  # then look, so that the look is fresh when the message goes
            if time.monotonic() - checked_at > RECHECK_SECONDS:
                # Someone may have unsubscribed since the claim, or the campaign was paused
                # or cancelled: look again, so that no message goes on a look more than
                # 0.5 s old. The look asks what changed since the claim, and only those
                # contacts (none, nearly always) are looked at again in full.
                changes = service.changes_since(
                    self.local.ledger, campaign_id, batch.since, contacts, *ranged
                )
                if not changes.sending:
                    with db.session() as session:
                        service.release(session, rest(position), None)
                    break
                doubtful = [c for c in rest(position) if _touched(c, people, changes)]
                if doubtful:
                    with db.session() as session:
                        allowed = {c.id for c in service.skip_unmailable(session, doubtful)}
                    blocked |= {c.id for c in doubtful} - allowed
                    for c in doubtful:  # looked at in full as of this stamp
                        if c.contact_id in people and c.contact_id in changes.contacts:
                            people[c.contact_id].stamp = changes.contacts[c.contact_id]
                checked_at = time.monotonic()
            if item.id in blocked:
                continue
            outcome = self._send_one(campaign_id, sender, item, people.get(item.contact_id))
            if outcome == "retry":
                retry_at = self.local.retry_at
                result.retry_at = min(result.retry_at or retry_at, retry_at)
            if outcome == "path":  # the sending path is broken: nobody's fault but ours
                with db.session() as session:
                    service.release(session, rest(position), self.local.last_error)
                    if runtime.stopping():  # closed under us as the process stops
                        result.retry = True
                        break
                    service.pause_for_path(session, campaign_id, self.local.last_error)
                result.paused = True
                break
            result.sent += outcome == "sent"
            result.failed += outcome in ("failed", "retry")
            result.retry |= outcome == "retry"
            streak = 0 if outcome == "sent" else streak + (outcome in ("failed", "retry"))
            if streak >= pause_after:  # a refusing server must not burn through the list
                with db.session() as session:
                    service.release(
                        session,
                        [c for c in claimed[position + 1 :] if c.id not in blocked],
                        "campaign paused",
                    )
                break
        return streak

    def _recipients(self, session: Session, ids: list[int]) -> dict[int, _Recipient]:
        rows = session.execute(
            sa.select(
                Contact.id,
                Contact.email,
                Contact.first_name,
                Contact.last_name,
                Contact.sector,
                Contact.organization,
                Contact.language,
                Contact.attributes,
                # Tracking consent as it stands now, not when the audience froze.
                consent_confirmed(Purpose.OPEN_TRACKING),
                consent_confirmed(Purpose.CLICK_TRACKING),
                Contact.email_hmac,
                unmailable_reason(),
                Contact.updated_at,
            ).where(Contact.id.in_(ids))
        ).all()
        return {row[0]: _Recipient(*row) for row in rows}

    def _send_one(
        self, campaign_id: int, sender: str, item: service.Claimed, person: _Recipient | None
    ) -> str:
        if person is None:
            return "skipped"
        tag = delivery_tag(self.settings.secret_key, item.id)
        try:
            message_id, message = self._build(campaign_id, item, person, tag)
        except Exception as exc:  # this recipient's data, not the batch: it fails alone
            return self._unbuildable(item, exc)
        domain = self.settings.bounce_domain
        envelope_sender = f"bounces+{tag}@{domain}" if domain else sender
        try:
            self.transport().send(Envelope(envelope_sender, (person.email,)), message)
        except TransportError as exc:
            return self._failed(item, exc)
        values = service.sent_values(message_id, person.track_opens, person.track_clicks)
        self.local.unrecorded = Unrecorded(DELIVERY, item.id, item.token, values)
        if not service.record_sent(self.local.ledger, item.id, item.token, values):
            log.warning("delivery %s: sent, but another claim held it meanwhile", item.id)
        # Committed and flushed: a kill or a crash from here on re-sends nothing.
        self.local.unrecorded = None
        return "sent"

    def _build(
        self, campaign_id: int, item: service.Claimed, person: _Recipient, tag: str
    ) -> tuple[str, bytes]:
        builder = self.local.builders[(item.variant_id, item.group_name)]
        links = Links(*message_links(self.settings, person.id, campaign_id))
        tracking = self._tracking(item.id, person, links)
        message_id, message = builder.build(person, links, tracking, delivery=tag)
        if len(message) > MAX_MESSAGE_BYTES:
            raise ValueError(
                f"the message is {len(message) / 1e6:.1f} MB, over the "
                f"{MAX_MESSAGE_BYTES / 1e6:.0f} MB receiving servers take"
            )
        return message_id, message

    def _unbuildable(self, item: service.Claimed, exc: Exception) -> str:
        reason = f"cannot build message: {exc}"[:1000]
        log.warning("delivery %s: %s", item.id, reason)
        with self.database.session() as session:
            service.record_failure(session, item, reason, permanent=True, bounce=False)
        return "failed"

    def _tracking(self, delivery_id: int, person: _Recipient, links: Links) -> Tracking | None:
        """Pixel and rewritten links, each only with its own consent."""
        if not (person.track_opens or person.track_clicks):
            return None
        base, secret = self.settings.base_url, self.settings.secret_key
        return Tracking(
            open_url=open_url(base, secret, delivery_id) if person.track_opens else None,
            click=(lambda target: click_url(base, secret, delivery_id, target))
            if person.track_clicks
            else None,
            keep=(links.unsubscribe, links.preferences),
        )

    def _failed(self, item: service.Claimed, exc: TransportError) -> str:
        self.local.last_error = exc.message
        if not exc.concerns_recipient:  # connection, TLS, AUTH, EHLO, MAIL FROM
            self.drop_transport()
            return "path"
        if exc.smtp_code is None:  # dropped or timed out in RCPT/DATA: try this one later
            self.drop_transport()
        factor = service.RETRY_FACTORS[min(item.attempts, len(service.RETRY_FACTORS)) - 1]
        self.local.retry_at = service.utcnow() + timedelta(
            milliseconds=self.settings.retry_base_ms * factor
        )
        with self.database.session() as session:
            status = service.record_failure(
                session,
                item,
                exc.message,
                permanent=exc.permanent,
                bounce=exc.bounce,
                retry_at=self.local.retry_at,
                # no answer to DATA: the server may have kept the message all the same
                suspect=exc.phase == "data" and exc.smtp_code is None,
            )
        return "retry" if status == "queued" else "failed"


def _touched(
    item: service.Claimed, people: dict[int, _Recipient], changes: service.Changes
) -> bool:
    """Whether something changed since the claim for this delivery's contact."""
    person = people.get(item.contact_id)
    if person is None or item.id in changes.orphaned:
        return True
    stamp = changes.contacts.get(item.contact_id, person.stamp)
    return stamp != person.stamp or person.email_hmac in changes.suppressed


_engines: dict[int, Engine] = {}
_engines_lock = threading.Lock()


def close_all_transports() -> None:
    """The process stops sending: close the SMTP connection of every engine's threads."""
    with _engines_lock:
        engines = list(_engines.values())
    for engine in engines:
        engine.close_transports()


def engine_for(database: Database) -> Engine:
    """One engine per database per process."""
    with _engines_lock:
        if id(database) not in _engines:
            _engines[id(database)] = Engine(database)
        return _engines[id(database)]
