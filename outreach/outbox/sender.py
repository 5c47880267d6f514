"""Sending the outbox: drained by the workers on a nudge, by the sweeper every minute, and
by a command given --wait; each email is claimed before it is sent, so it is sent once.

No actor lives here (outreach.outbox.tasks has it): surfaces import this module freely.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from datetime import timedelta

from outreach import actor_runtime as runtime
from outreach.claims import OUTBOX, Unrecorded, claims
from outreach.config import Settings
from outreach.db import Database, utcnow
from outreach.delivery.transport import Transport, TransportError, outgoing
from outreach.outbox import service
from outreach.outbox.models import OutboxStatus

log = logging.getLogger(__name__)
MIN_LEASE_SECONDS, MAX_LEASE_SECONDS = 60, 300


@dataclass
class DrainResult:
    """What one drain did."""

    sent: int = 0
    failed: int = 0
    retrying: int = 0
    path_error: str | None = None
    errors: list[str] = field(default_factory=list)


def outbox_lease(settings: Settings) -> timedelta:
    """Long enough for a claim of CLAIM_SIZE emails to a slow server whatever the campaign
    lease is set to (the heartbeat renews it, but a process without one has only this)."""
    return timedelta(seconds=max(MIN_LEASE_SECONDS, min(settings.lease_seconds, MAX_LEASE_SECONDS)))


def drain(database: Database, ids: list[int] | None = None) -> DrainResult:
    """Send every due outbox email (or only those of `ids`) until none is left."""
    result = DrainResult()
    lease = outbox_lease(database.settings)
    transport: list[Transport] = []
    try:
        while not runtime.stopping() and result.path_error is None:
            token = claims.new(OUTBOX, lease.total_seconds())
            try:
                with database.session() as session:
                    claimed = service.claim_due(session, lease, ids, token=token)
                if claimed:
                    _send_claimed(database, claimed, transport, result)
            except BaseException:  # the database went away: the heartbeat gives them back
                claims.abandon(token)
                raise
            claims.close(token)
            if not claimed:
                break
    finally:
        for opened in transport:
            opened.close()
    if result.retrying or result.path_error:
        nudge_when_due(database)
    return result


def deliver_now(database: Database, ids: list[int], timeout: float = 60.0) -> int:
    """Send these outbox emails from this process, now (the person waits for the answer);
    those a worker took meanwhile are waited for. TransportError says why some were not
    sent: they stay in the outbox, retried automatically."""
    result = drain(database, ids)
    deadline = time.monotonic() + timeout
    while True:
        with database.reader() as session:
            found = service.states(session, ids)
        if time.monotonic() > deadline or all(
            s is not OutboxStatus.SENDING for s in found.values()
        ):
            break
        time.sleep(0.1)
    sent = sum(s is OutboxStatus.SENT for s in found.values())
    if sent < len(ids):
        problem = result.path_error or "; ".join(result.errors) or "not sent yet"
        raise TransportError(
            f"{sent} of {len(ids)} sent: {problem} (the rest stay in Admin › Outbox and are "
            "retried automatically)"
        )
    return sent


def _send_claimed(
    database: Database,
    claimed: list[service.Claimed],
    transport: list[Transport],
    result: DrainResult,
) -> None:
    base_ms = database.settings.retry_base_ms
    for position, item in enumerate(claimed):
        if runtime.stopping():
            with database.session() as session:
                service.release(session, claimed[position:], "stopped before sending", 0)
            return
        if not transport:
            transport.append(outgoing(database.settings))
        try:
            transport[0].send(item.envelope, item.message)
        except TransportError as exc:
            if not exc.concerns_recipient:  # connection, TLS, AUTH…: nobody's fault but ours
                transport.pop().close()
                with database.session() as session:
                    service.release(session, claimed[position:], exc.message, base_ms)
                result.path_error = exc.message
                log.warning("outbox: sending path failed, will retry: %s", exc.message)
                return
            with database.session() as session:
                status = service.record_failure(session, item, exc, base_ms)
            result.errors.append(exc.message)
            if status is OutboxStatus.FAILED:
                result.failed += 1
            else:
                result.retrying += 1
            continue
        try:
            with database.session() as session:
                service.record_sent(session, item.id, item.token)
        except BaseException:  # sent all the same: recorded once the database answers
            claims.abandon(item.token, Unrecorded(OUTBOX, item.id, item.token))
            raise
        result.sent += 1


def nudge_when_due(database: Database) -> None:
    """Wake a worker when the next retry is due (the sweeper would, within a minute)."""
    with database.reader() as session:
        due = service.next_due(session)
    if due is not None:
        delay = max(0, int((due - utcnow()).total_seconds() * 1000)) + 50
        if delay < 60_000:
            service.nudge(delay)
