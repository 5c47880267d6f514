"""The worker side of sending: one batch of deliveries at a time, per worker thread.

Per process: compiled message builders per variant (MJML and inlining once), a reused
SMTP connection per thread, and the pacer. Per message: the consent re-check (at most
half a second old), render, send, and the outcome committed at once, so that a worker
killed mid-batch re-sends at most the one message whose SMTP transaction had completed.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from outreach import runtime
from outreach.campaigns.models import Campaign, Variant
from outreach.campaigns.service import compile_checked
from outreach.consent.links import message_links
from outreach.consent.models import Purpose
from outreach.consent.service import consent_confirmed
from outreach.contacts.models import Contact
from outreach.db import Database
from outreach.delivery import service
from outreach.delivery.pacing import Pacer, pacer_for
from outreach.delivery.transport import Envelope, Transport, TransportError, outgoing
from outreach.groups.models import Group
from outreach.rendering.message import Links, MessageBuilder, Tracking
from outreach.tracking.links import click_url, open_url
from outreach.tracking.tallies import refresh_blocks

RECHECK_SECONDS = 0.5


@dataclass
class BatchResult:
    """What happened to one batch."""

    sent: int = 0
    failed: int = 0
    retry: bool = False
    paused: bool = False


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


class Engine:
    """Sends batches for one worker process."""

    def __init__(self, database: Database) -> None:
        self.database = database
        self.settings = database.settings
        self.local = threading.local()
        self.lock = threading.Lock()
        self.builders: dict[tuple[int, datetime], MessageBuilder] = {}
        self.pacer: Pacer = pacer_for(self.settings.send_rate, self.settings.broker_url)

    def transport(self) -> Transport:
        """This thread's transport (one SMTP connection, reused)."""
        if getattr(self.local, "transport", None) is None:
            self.local.transport = outgoing(self.settings)
        return self.local.transport  # type: ignore[no-any-return]

    def drop_transport(self) -> None:
        """Close this thread's connection after a failure; the next send reconnects."""
        transport = getattr(self.local, "transport", None)
        if transport is not None:
            transport.close()
        self.local.transport = None

    def builder(self, session: Session, variant_id: int, group_name: str) -> MessageBuilder:
        """The builder of a variant, compiled once per process (until the variant changes)."""
        variant = session.get(Variant, variant_id)
        campaign = session.get(Campaign, variant.campaign_id) if variant else None
        if variant is None or campaign is None:
            raise LookupError(f"variant {variant_id} is gone")
        key = (variant_id, variant.updated_at)
        with self.lock:
            found = self.builders.get(key)
        if found is not None:
            return found
        label = group_name if variant.group_id else "fallback"
        if variant.group_id:
            label = (
                session.scalar(sa.select(Group.name).where(Group.id == variant.group_id))
                or group_name
            )
        built = MessageBuilder(
            compile_checked(campaign, variant, label),
            campaign_id=campaign.id,
            campaign_name=campaign.name,
            from_name=campaign.from_name,
            from_email=campaign.from_email,
            reply_to=campaign.reply_to,
            group_name=group_name,
            unsubscribe_mailto=self.settings.unsubscribe_mailto or campaign.from_email,
        )
        with self.lock:
            self.builders[key] = built
        return built

    def send_batch(self, campaign_id: int, low: int, high: int) -> BatchResult:
        """Claim a range, then send each delivery in it."""
        db = self.database
        lease = timedelta(seconds=self.settings.lease_seconds)
        try:
            with db.session() as session:
                claimed = service.skip_unmailable(
                    session, service.claim(session, campaign_id, low, high, lease)
                )
            if not claimed:
                return BatchResult()
            return self._send_claimed(campaign_id, claimed, BatchResult())
        finally:  # whatever happened, the statistics of this range follow the ledger
            with db.session() as session:
                refresh_blocks(session, campaign_id, low, high)

    def _send_claimed(
        self, campaign_id: int, claimed: list[service.Claimed], result: BatchResult
    ) -> BatchResult:
        """Send the claimed deliveries of a batch, then note progress."""
        db = self.database
        with db.session() as session:
            sender = (
                session.scalar(sa.select(Campaign.from_email).where(Campaign.id == campaign_id))
                or ""
            )
            people = self._recipients(session, [c.contact_id for c in claimed])
            self.local.builders = {
                key: self.builder(session, *key)
                for key in {(c.variant_id, c.group_name) for c in claimed}
            }
            streak = service.consecutive_failures(session, campaign_id)
        pause_after = self.settings.pause_after
        with self._ledger():
            streak = self._send_all(campaign_id, sender, claimed, people, streak, result)
        with db.session() as session:
            result.paused = service.note_progress(session, campaign_id, streak, pause_after)
            service.finish_if_done(session, campaign_id)
        return result

    @contextmanager
    def _ledger(self) -> Iterator[sa.Connection]:
        """One autocommit connection per batch: each outcome is its own one-statement
        transaction, committed the moment it is written (one round trip)."""
        with self.database.engine.connect() as plain:
            connection = plain.execution_options(isolation_level="AUTOCOMMIT")
            postgres = connection.dialect.name == "postgresql"
            if postgres:
                # Committed outcomes survive a worker crash either way; not waiting for the
                # WAL flush only risks the last few on a crash of PostgreSQL itself.
                connection.exec_driver_sql("SET synchronous_commit = off")
            self.local.ledger = connection
            try:
                yield connection
            finally:
                self.local.ledger = None
                if postgres:
                    connection.exec_driver_sql("RESET synchronous_commit")

    def _send_all(
        self,
        campaign_id: int,
        sender: str,
        claimed: list[service.Claimed],
        people: dict[int, _Recipient],
        streak: int,
        result: BatchResult,
    ) -> int:
        """Send the claimed deliveries in order; returns the failure streak."""
        db, pause_after = self.database, self.settings.pause_after
        checked_at, blocked = time.monotonic(), set[int]()

        def rest(position: int) -> list[service.Claimed]:
            return [c for c in claimed[position:] if c.id not in blocked]

        for position, item in enumerate(claimed):
            if runtime.stopping():  # this process is stopping: the next one sends these
                with db.session() as session:
                    service.release(session, rest(position), None)
                result.retry = True
                break
            if time.monotonic() - checked_at > RECHECK_SECONDS:
                # Someone may have unsubscribed since the claim, or the campaign was paused
                # or cancelled: look again, at most 0.5 s old.
                unchecked = rest(position)
                with db.session() as session:
                    if not service.still_sending(session, campaign_id):
                        service.release(session, unchecked, None)
                        break
                    allowed = {c.id for c in service.skip_unmailable(session, unchecked)}
                blocked |= {c.id for c in unchecked} - allowed
                checked_at = time.monotonic()
            if item.id in blocked:
                continue
            outcome = self._send_one(campaign_id, sender, item, people.get(item.contact_id))
            if outcome == "path":  # the sending path is broken: nobody's fault but ours
                with db.session() as session:
                    service.release(session, rest(position), self.local.last_error)
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
            ).where(Contact.id.in_(ids))
        ).all()
        return {row[0]: _Recipient(*row) for row in rows}

    def _send_one(
        self, campaign_id: int, sender: str, item: service.Claimed, person: _Recipient | None
    ) -> str:
        if person is None:
            return "skipped"
        builder = self.local.builders[(item.variant_id, item.group_name)]
        links = Links(*message_links(self.settings, person.id, campaign_id))
        message_id, message = builder.build(person, links, self._tracking(item.id, person, links))
        self.pacer.wait()
        try:
            self.transport().send(Envelope(sender, (person.email,)), message)
        except TransportError as exc:
            return self._failed(item, exc)
        ledger = self.local.ledger
        service.record_sent(ledger, item.id, message_id, person.track_opens, person.track_clicks)
        # Autocommitted at once: a kill from here on re-sends nothing.
        return "sent"

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
        with self.database.session() as session:
            status = service.record_failure(
                session, item, exc.message, permanent=exc.permanent, bounce=exc.bounce
            )
        return "retry" if status == "queued" else "failed"


_engines: dict[int, Engine] = {}
_engines_lock = threading.Lock()


def engine_for(database: Database) -> Engine:
    """One engine per database per process."""
    with _engines_lock:
        if id(database) not in _engines:
            _engines[id(database)] = Engine(database)
        return _engines[id(database)]
