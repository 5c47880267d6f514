"""The outbox ledger: queue an email inside the caller's transaction, claim what is due,
record each outcome. Like the delivery ledger, every step is keyed by the row, so a nudge
delivered twice, or two workers draining at once, sends nothing twice."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.orm import Session

from outreach.claims import worker_id
from outreach.db import utcnow
from outreach.delivery.transport import Envelope, TransportError
from outreach.errors import Conflict, NotFound
from outreach.outbox.models import OutboxMessage, OutboxStatus

# The outbox actor (outreach.outbox.tasks), named here: services never import actors.
QUEUE, ACTOR = "transactional", "send_outbox"

MAX_ATTEMPTS = 8
CLAIM_SIZE = 20
BACKOFF_FACTORS = (1, 6, 24, 120, 360, 720)  # × OUTREACH_RETRY_BASE_MS: 5 s … 1 h
PATH_FACTOR = 6  # a broken sending path is tried again after 30 s (by default)
NUDGE_FLAG = "outreach.outbox.queued"
log = logging.getLogger(__name__)


def queue_email(
    session: Session,
    kind: str,
    envelope: Envelope,
    message: bytes,
    *,
    subject: str,
    message_id: str | None = None,
    contact_id: int | None = None,
    request_id: int | None = None,
    campaign_id: int | None = None,
    ephemeral: bool = False,
    nudge_workers: bool = True,
) -> OutboxMessage:
    """Store one email to send; a worker sends it once the caller's transaction commits
    (unless `nudge_workers` is False: the caller sends it itself, see deliver_now)."""
    row = OutboxMessage(
        kind=kind,
        recipient=envelope.recipients[0][:320],
        sender=envelope.sender[:320],
        subject=subject[:500],
        message=message,
        message_id=message_id,
        contact_id=contact_id,
        request_id=request_id,
        campaign_id=campaign_id,
        ephemeral=ephemeral,
        status=OutboxStatus.QUEUED,
        next_attempt_at=utcnow(),
    )
    session.add(row)
    if nudge_workers:
        session.info[NUDGE_FLAG] = True
    return row


@event.listens_for(Session, "after_commit")
def _nudge_after_commit(session: Session) -> None:
    # The row is the record; this message only wakes a worker. Lost, the sweeper sends it.
    if session.info.pop(NUDGE_FLAG, False):
        nudge()


@event.listens_for(Session, "after_rollback")
def _forget_after_rollback(session: Session) -> None:
    session.info.pop(NUDGE_FLAG, None)


def nudge(delay_ms: int = 0) -> None:
    """Ask a worker to drain the outbox. Only a nudge: if the broker cannot take it, the
    rows wait for the sweeper (every minute), so the failure is logged, not raised."""
    from outreach.broker import send_by_name

    try:
        send_by_name(QUEUE, ACTOR, delay_ms=delay_ms or None)
    except Exception as exc:  # noqa: BLE001 - the database row is the record, not this
        log.warning("outbox: could not nudge a worker (%s); the sweeper will send it", exc)


@dataclass
class Claimed:
    """One outbox email a worker now owns."""

    id: int
    envelope: Envelope
    message: bytes
    attempts: int
    token: str = ""


UNCLAIMED: dict[str, Any] = {"claimed_by": None, "claim_token": None, "lease_until": None}


def _mine(ids: list[int], token: str) -> sa.ColumnElement[bool]:
    """These rows, while the claim `token` still holds them."""
    rows = OutboxMessage.id.in_(ids)
    return sa.and_(rows, OutboxMessage.claim_token == token) if token else rows


def _due(now: datetime) -> sa.ColumnElement[bool]:
    return sa.or_(
        sa.and_(OutboxMessage.status == OutboxStatus.QUEUED, OutboxMessage.next_attempt_at <= now),
        sa.and_(OutboxMessage.status == OutboxStatus.SENDING, OutboxMessage.lease_until < now),
    )


def claim_due(
    session: Session,
    lease: timedelta,
    ids: list[int] | None = None,
    limit: int = CLAIM_SIZE,
    token: str = "",
) -> list[Claimed]:
    """Take up to `limit` due emails (oldest first), or only those of `ids`."""
    now = utcnow()
    due = _due(now)
    chosen = sa.select(OutboxMessage.id).where(due).order_by(OutboxMessage.id).limit(limit)
    if ids is not None:
        chosen = chosen.where(OutboxMessage.id.in_(ids))
    if session.get_bind().dialect.name == "postgresql":
        chosen = chosen.with_for_update(skip_locked=True)
    rows = session.execute(
        sa.update(OutboxMessage)
        # `due` again: a concurrent claimer re-checks it on the row it waited for.
        .where(OutboxMessage.id.in_(chosen.scalar_subquery()), due)
        .values(
            status=OutboxStatus.SENDING,
            lease_until=now + lease,
            attempts=OutboxMessage.attempts + 1,
            claimed_by=worker_id(),
            claim_token=token or None,
        )
        .returning(
            OutboxMessage.id,
            OutboxMessage.sender,
            OutboxMessage.recipient,
            OutboxMessage.message,
            OutboxMessage.attempts,
        )
    ).all()
    found = [Claimed(i, Envelope(s, (r,)), bytes(m), a, token) for i, s, r, m, a in rows]
    return sorted(found, key=lambda c: c.id)


def renew(session: Session, tokens: list[str], lease: timedelta) -> None:
    """Extend the leases of claims still being sent (the heartbeat)."""
    if tokens:
        session.execute(
            sa.update(OutboxMessage)
            .where(
                OutboxMessage.claim_token.in_(tokens), OutboxMessage.status == OutboxStatus.SENDING
            )
            .values(lease_until=utcnow() + lease)
        )


def release_claims(session: Session, tokens: list[str], workers: Sequence[str] = ()) -> int:
    """Give back what is left of claims that ended on an error (`tokens`), or every claim of
    dead `workers`; returns how many emails."""
    if workers:
        held = OutboxMessage.claimed_by.in_(workers)
    elif tokens:
        held = OutboxMessage.claim_token.in_(tokens)
    else:
        return 0
    done = session.execute(
        sa.update(OutboxMessage)
        .where(held, OutboxMessage.status == OutboxStatus.SENDING)
        .values(status=OutboxStatus.QUEUED, next_attempt_at=utcnow(), **UNCLAIMED)
    )
    return int(done.rowcount or 0)  # type: ignore[attr-defined]


def record_sent(session: Session, outbox_id: int, token: str = "") -> None:
    """The server accepted the email (an ephemeral one forgets its address and body);
    recorded while the claim is still `token`'s, or the row was given back meanwhile."""
    mine = sa.or_(
        OutboxMessage.claim_token == (token or None), OutboxMessage.status == OutboxStatus.QUEUED
    )
    sent = sa.update(OutboxMessage).where(OutboxMessage.id == outbox_id, mine)
    session.execute(
        sent.values(status=OutboxStatus.SENT, sent_at=utcnow(), last_error=None, **UNCLAIMED)
    )
    sent = sa.update(OutboxMessage).where(
        OutboxMessage.id == outbox_id, OutboxMessage.status == OutboxStatus.SENT
    )
    session.execute(
        sent.where(OutboxMessage.ephemeral.is_(True)).values(
            recipient="", message=b"", message_id=None
        )
    )


def forget_address(session: Session, email_key: str) -> None:
    """Erasure: delete every outbox email to this address (sent or not)."""
    session.execute(
        sa.delete(OutboxMessage).where(sa.func.lower(OutboxMessage.recipient) == email_key)
    )


def backoff(attempts: int, base_ms: int) -> timedelta:
    """How long to wait before attempt number `attempts + 1`."""
    factor = BACKOFF_FACTORS[min(max(attempts, 1) - 1, len(BACKOFF_FACTORS) - 1)]
    return timedelta(milliseconds=base_ms * factor)


def record_failure(
    session: Session, item: Claimed, error: TransportError, base_ms: int
) -> OutboxStatus:
    """A refusal concerning this recipient: retried later (4xx, dropped) or final (5xx)."""
    final = error.permanent or item.attempts >= MAX_ATTEMPTS
    status = OutboxStatus.FAILED if final else OutboxStatus.QUEUED
    session.execute(
        sa.update(OutboxMessage)
        .where(_mine([item.id], item.token))
        .values(
            status=status,
            last_error=error.message[:1000],
            next_attempt_at=utcnow() + backoff(item.attempts, base_ms),
            **UNCLAIMED,
        )
    )
    return status


def release(session: Session, items: list[Claimed], error: str, base_ms: int) -> None:
    """The sending path is broken (connection, TLS, AUTH…): give the emails back, no attempt
    counted, to be tried again after a pause."""
    if items:
        session.execute(
            sa.update(OutboxMessage)
            .where(_mine([i.id for i in items], items[0].token))
            .values(
                status=OutboxStatus.QUEUED,
                attempts=OutboxMessage.attempts - 1,
                last_error=error[:1000],
                next_attempt_at=utcnow() + timedelta(milliseconds=base_ms * PATH_FACTOR),
                **UNCLAIMED,
            )
        )


def next_due(session: Session) -> datetime | None:
    """When the next email is due: a queued one's next attempt, or the end of the lease of
    one a worker claimed (and may have died with)."""
    queued = session.scalar(
        sa.select(sa.func.min(OutboxMessage.next_attempt_at)).where(
            OutboxMessage.status == OutboxStatus.QUEUED
        )
    )
    leased = session.scalar(
        sa.select(sa.func.min(OutboxMessage.lease_until)).where(
            OutboxMessage.status == OutboxStatus.SENDING
        )
    )
    found = [t for t in (queued, leased) if t is not None]
    return min(found) if found else None


def retry(session: Session, outbox_id: int) -> OutboxMessage:
    """Send a failed email again (an operator's decision, e.g. once the address is fixed)."""
    row = session.get(OutboxMessage, outbox_id)
    if row is None:
        raise NotFound(f"no outbox email {outbox_id}", field="id")
    if row.status is not OutboxStatus.FAILED:
        raise Conflict(f"outbox email {outbox_id} is {row.status}, not failed", field="status")
    row.status, row.attempts, row.next_attempt_at = OutboxStatus.QUEUED, 0, utcnow()
    session.info[NUDGE_FLAG] = True
    return row


def listing(
    session: Session, status: str | None = None, limit: int = 100, before: int | None = None
) -> list[OutboxMessage]:
    """Outbox emails, newest first, optionally of one status."""
    stmt = sa.select(OutboxMessage).order_by(OutboxMessage.id.desc()).limit(limit)
    if status:
        stmt = stmt.where(OutboxMessage.status == OutboxStatus(status))
    if before:
        stmt = stmt.where(OutboxMessage.id < before)
    return list(session.scalars(stmt))


def counts(session: Session) -> dict[str, int]:
    """How many outbox emails are in each status."""
    found = dict(
        session.execute(
            sa.select(OutboxMessage.status, sa.func.count()).group_by(OutboxMessage.status)
        ).all()
    )
    return {s.value: int(found.get(s, 0)) for s in OutboxStatus}


def states(session: Session, ids: list[int]) -> dict[int, OutboxStatus]:
    """The status of each of `ids`."""
    return dict(
        session.execute(
            sa.select(OutboxMessage.id, OutboxMessage.status).where(OutboxMessage.id.in_(ids))
        ).all()
    )


def to_dict(row: OutboxMessage) -> dict[str, Any]:
    """The JSON document of one outbox email (without its body)."""
    return {
        "id": row.id,
        "kind": row.kind,
        "to": row.recipient,
        "subject": row.subject,
        "status": str(row.status),
        "attempts": row.attempts,
        "last_error": row.last_error,
        "created_at": row.created_at.isoformat(),
        "next_attempt_at": row.next_attempt_at.isoformat() if row.next_attempt_at else None,
        "sent_at": row.sent_at.isoformat() if row.sent_at else None,
    }


def purge_sent(session: Session, before: datetime) -> int:
    """Delete sent and failed emails created before `before` (retention)."""
    result = session.execute(
        sa.delete(OutboxMessage).where(
            OutboxMessage.status.in_((OutboxStatus.SENT, OutboxStatus.FAILED)),
            OutboxMessage.created_at < before,
        )
    )
    return int(result.rowcount or 0)  # type: ignore[attr-defined]


def emails_of(session: Session, contact_id: int) -> list[dict[str, Any]]:
    """The outbox emails of one contact, for its access export (without the bodies)."""
    rows = session.scalars(
        sa.select(OutboxMessage)
        .where(OutboxMessage.contact_id == contact_id)
        .order_by(OutboxMessage.id)
    )
    return [
        {k: v for k, v in to_dict(row).items() if k not in ("id", "next_attempt_at")}
        for row in rows
    ]
