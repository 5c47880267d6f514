"""The delivery ledger: freeze the audience, claim batches, record outcomes, control.

Every step is idempotent and keyed by the unique (campaign, contact) delivery row, so a
message that dramatiq delivers twice, or a sweeper that re-enqueues a live range, sends
nothing twice.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from functools import cache
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from outreach.campaigns.audience import recipients
from outreach.campaigns.models import Campaign, CampaignStatus
from outreach.campaigns.service import presend_checks
from outreach.claims import worker_id
from outreach.config import Settings
from outreach.consent.models import Suppression
from outreach.consent.service import suppress, unmailable_reason
from outreach.contacts.models import Contact, ContactStatus
from outreach.db import UTCDateTime, utcnow
from outreach.db_bulk import (
    DriverStatement,
    IdList,
    dialect_of,
    is_postgres,
    refresh_statistics,
    table_of,
)
from outreach.delivery.models import Delivery, DeliveryStatus
from outreach.delivery.queries import failure_reasons, suspected_duplicates
from outreach.errors import Conflict, ValidationError
from outreach.reporting.tallies import recount, refresh_blocks, status_counts

BATCH_SIZE = 500
FREEZE_CHUNK = 20_000
LEASE = timedelta(minutes=5)
MAX_ATTEMPTS = 5
RETRY_FACTORS = (1, 6, 24, 120)  # × OUTREACH_RETRY_BASE_MS: 5 s, 30 s, 2 min, 10 min
STALLED_AFTER = timedelta(minutes=2)
# No batch in flight, deliveries waiting and no progress for this long: their broker
# messages were lost (a broker restarted without its data); the sweeper enqueues again.
QUIET_AFTER = timedelta(seconds=30)
PAUSE_REASON_MAX = 500


def start(session: Session, campaign: Campaign, at: datetime | None = None) -> int:
    """Check, then send now or schedule; returns the number of deliveries frozen."""
    checked = presend_checks(session, campaign, audience_warnings=False)  # errors decide
    errors = [p for p in checked if p.level == "error"]
    if errors:
        listed = "; ".join(f"{p.variant}: {p.message}" for p in errors)
        raise ValidationError(
            f"campaign {campaign.name!r} cannot be sent: {listed}", field="campaign"
        )
    if campaign.status not in (CampaignStatus.DRAFT, CampaignStatus.SCHEDULED):
        raise Conflict(f"campaign {campaign.name!r} is {campaign.status}", field="campaign")
    if at is not None and at > utcnow():
        campaign.status, campaign.scheduled_at = CampaignStatus.SCHEDULED, at
        return 0
    campaign.status, campaign.started_at = CampaignStatus.SENDING, utcnow()
    campaign.progress_at, campaign.consecutive_failures = utcnow(), 0
    return freeze_audience(session, campaign)


def freeze_audience(session: Session, campaign: Campaign) -> int:
    """Insert one queued delivery per recipient (set-based: one statement, run for each
    chunk of contact ids)."""
    top = session.scalar(sa.select(sa.func.max(Contact.id))) or 0
    now = utcnow()
    before = _count(session, campaign.id)
    if is_postgres(session):  # its JIT compiled each chunk's plan anew: ~50 ms a chunk
        session.execute(sa.text("SET LOCAL jit = off"))
    rows = recipients(session, campaign, ranged=True).subquery("r")
    # Tracking consent is read when each message goes (the engine's recipients) and
    # written with its outcome: not looked up here for a million rows.
    opens = clicks = sa.false()
    chosen = sa.select(
        sa.literal(campaign.id),
        rows.c.contact_id,
        rows.c.variant_id,
        rows.c.group_id,
        rows.c.group_name,
        sa.literal(DeliveryStatus.QUEUED.value),
        sa.literal(0),
        opens,
        clicks,
        sa.literal(now),
        sa.literal(0),
        sa.literal(0),
        sa.literal(0),
        sa.literal(0),
    )
    if before:  # a freeze resumed: not those who have their delivery already
        chosen = chosen.where(
            ~sa.select(Delivery.id)
            .where(Delivery.campaign_id == campaign.id, Delivery.contact_id == rows.c.contact_id)
            .exists()
        )
    insert = sa.insert(table_of(Delivery)).from_select(
        [
            "campaign_id",
            "contact_id",
            "variant_id",
            "group_id",
            "group_name",
            "status",
            "attempts",
            "tracking_opens",
            "tracking_clicks",
            "queued_at",
            "human_opens",
            "machine_opens",
            "clicks",
            "machine_clicks",
        ],
        chosen,
    )
    for low in range(0, top + 1, FREEZE_CHUNK):
        session.execute(insert, {"low": low, "high": low + FREEZE_CHUNK})
    refresh_statistics(session, table_of(Delivery))
    recount(session, campaign.id)
    # rowcount of INSERT … SELECT is not reliable on every driver: count instead.
    return _count(session, campaign.id) - before


def _count(session: Session, campaign_id: int) -> int:
    return (
        session.scalar(
            sa.select(sa.func.count())
            .select_from(Delivery)
            .where(Delivery.campaign_id == campaign_id)
        )
        or 0
    )


def batch_size(settings: Settings) -> int:
    """Deliveries per batch: OUTREACH_BATCH_SIZE, fewer under a send rate, so that a
    batch lasts about a third of the lease at one thread's share of the rate."""
    size = max(1, settings.batch_size)
    if settings.send_rate > 0:
        per_thread = settings.send_rate / max(1, settings.worker_threads)
        size = min(size, max(1, int(per_thread * settings.lease_seconds / 3)))
    return size


def pending_ranges(
    session: Session, campaign_id: int, size: int = BATCH_SIZE
) -> Iterator[tuple[int, int]]:
    """(low, high) delivery id ranges of about `size` deliveries still to send."""
    ids = session.scalars(
        sa.select(Delivery.id)
        .where(
            Delivery.campaign_id == campaign_id,
            Delivery.status.in_((DeliveryStatus.QUEUED, DeliveryStatus.SENDING)),
        )
        .order_by(Delivery.id)
        .execution_options(yield_per=10_000)
    )
    low = count = last = None
    for delivery_id in ids:
        if low is None:
            low, count = delivery_id, 0
        last, count = delivery_id, (count or 0) + 1
        if count >= size:
            yield low, last
            low = None
    if low is not None and last is not None:
        yield low, last


@dataclass
class Claimed:
    """One delivery a worker now owns."""

    id: int
    contact_id: int
    variant_id: int
    group_name: str
    attempts: int
    token: str = ""


UNCLAIMED: dict[str, Any] = {"claimed_by": None, "claim_token": None, "lease_until": None}


def _claimable(now: datetime) -> sa.ColumnElement[bool]:
    """Queued and due (a retry waits out its backoff), or in flight with a lapsed lease."""
    return sa.or_(
        sa.and_(
            Delivery.status == DeliveryStatus.QUEUED,
            sa.or_(Delivery.lease_until.is_(None), Delivery.lease_until <= now),
        ),
        sa.and_(Delivery.status == DeliveryStatus.SENDING, Delivery.lease_until < now),
    )


def sending_facts(session: Session, campaign_id: int) -> tuple[str, int] | None:
    """A sending campaign's sender and failure streak (None: it is not sending)."""
    row = session.execute(
        sa.select(Campaign.status, Campaign.from_email, Campaign.consecutive_failures).where(
            Campaign.id == campaign_id
        )
    ).one_or_none()
    if row is None or row.status is not CampaignStatus.SENDING:
        return None
    return row.from_email or "", row.consecutive_failures or 0


def claim(
    session: Session,
    campaign_id: int,
    low: int,
    high: int,
    lease: timedelta = LEASE,
    token: str = "",
    *,
    sending: bool = False,
) -> list[Claimed]:
    """Take the claimable deliveries of a range for this worker, under `token`; none if
    the campaign is not sending (`sending`: the caller has just read that it is)."""
    if not sending:
        status = session.scalar(sa.select(Campaign.status).where(Campaign.id == campaign_id))
        if status is not CampaignStatus.SENDING:
            return []
    now = utcnow()
    rows = session.execute(
        sa.update(Delivery)
        .where(
            Delivery.campaign_id == campaign_id,
            Delivery.id.between(low, high),
            _claimable(now),
        )
        .values(
            status=DeliveryStatus.SENDING,
            lease_until=now + lease,
            attempts=Delivery.attempts + 1,
            claimed_by=worker_id(),
            claim_token=token or None,
        )
        .returning(
            Delivery.id,
            Delivery.contact_id,
            Delivery.variant_id,
            Delivery.group_name,
            Delivery.attempts,
        )
    ).all()
    found = [
        Claimed(i, c, v, g, a, token) for i, c, v, g, a in rows if c is not None and v is not None
    ]
    orphans = [i for i, c, v, _g, _a in rows if c is None or v is None]
    if orphans:  # the contact was erased (or the variant removed) since the audience froze
        session.execute(
            sa.update(Delivery)
            .where(Delivery.id.in_(orphans))
            .values(status=DeliveryStatus.SKIPPED, skip_reason="erased", **UNCLAIMED)
        )
    return sorted(found, key=lambda c: c.id)


def renew(session: Session | sa.Connection, tokens: list[str], lease: timedelta) -> None:
    """Extend the leases of claims still being sent (the heartbeat, the sending loop)."""
    if tokens:
        session.execute(
            sa.update(Delivery)
            .where(Delivery.claim_token.in_(tokens), Delivery.status == DeliveryStatus.SENDING)
            .values(lease_until=utcnow() + lease)
        )


def release_claims(session: Session, tokens: list[str]) -> list[int]:
    """Give back what is left of claims that ended on an error (no attempt counted);
    returns the campaigns concerned, whose batches need enqueueing again."""
    if not tokens:
        return []
    rows = session.execute(
        sa.update(Delivery)
        .where(Delivery.claim_token.in_(tokens), Delivery.status == DeliveryStatus.SENDING)
        .values(status=DeliveryStatus.QUEUED, attempts=Delivery.attempts - 1, **UNCLAIMED)
        .returning(Delivery.campaign_id)
    ).all()
    return sorted({r[0] for r in rows})


def reclaim_from(session: Session, workers: list[str]) -> list[int]:
    """Give back at once what these dead workers held; the first row in flight of each of
    their claims is marked a suspected duplicate (its message may have reached the server
    before the worker died). Returns the campaigns concerned."""
    if not workers:
        return []
    held = sa.and_(Delivery.status == DeliveryStatus.SENDING, Delivery.claimed_by.in_(workers))
    in_flight = sa.select(sa.func.min(Delivery.id)).where(held).group_by(Delivery.claim_token)
    session.execute(
        sa.update(Delivery)
        .where(Delivery.id.in_(in_flight.scalar_subquery()))
        .values(suspected_duplicate=True)
    )
    rows = session.execute(
        sa.update(Delivery)
        .where(held)
        .values(status=DeliveryStatus.QUEUED, **UNCLAIMED)
        .returning(Delivery.campaign_id)
    ).all()
    return sorted({r[0] for r in rows})


_LISTED = IdList("contact_ids")


@cache
def _why_unmailable(dialect: str) -> sa.Select[Any]:
    """Built once per dialect, so that its compiled form is cached however many contacts
    it asks about: the listed contacts, each with why it may not be mailed now (NULL: it
    may; a contact that is gone has no row)."""
    return sa.select(Contact.id, unmailable_reason()).where(_LISTED.condition(dialect, Contact.id))


def skip_unmailable(session: Session | sa.Connection, claimed: list[Claimed]) -> list[Claimed]:
    """Mark those no longer allowed a message as skipped (with why); return the rest."""
    if not claimed:
        return []
    reasons: dict[int, str | None] = dict(
        session.execute(  # type: ignore[call-overload]
            _why_unmailable(dialect_of(session)), _LISTED.value(c.contact_id for c in claimed)
        ).all()
    )
    return skip_for(session, claimed, reasons)


def skip_for(
    session: Session | sa.Connection, claimed: list[Claimed], reasons: dict[int, str | None]
) -> list[Claimed]:
    """Skip those whose contact has a reason (`unmailable_reason`, read by the caller; a
    contact without an entry is gone); return the rest."""
    by_reason: dict[str, list[int]] = {}
    allowed = []
    for item in claimed:
        reason = reasons.get(item.contact_id, "erased")
        if reason is None:
            allowed.append(item)
        else:
            by_reason.setdefault(reason, []).append(item.id)
    for reason, ids in by_reason.items():  # one statement per reason, not per delivery
        session.execute(
            sa.update(Delivery)
            .where(Delivery.id.in_(ids))
            .values(status=DeliveryStatus.SKIPPED, skip_reason=reason, **UNCLAIMED)
        )
    return allowed


# A change that a batch in flight must heed shows on the contact's row (its status; a
# newsletter consent event touches it too: consent.service.record_event, the importer),
# on the suppression list (a bounce, an erasure, a blocklist), or as a delivery whose
# contact was deleted. Each stamps the time of the writer's clock before its commit; a
# look asks for stamps from CHANGE_MARGIN before the claim on, so that a writer whose
# transaction (or clock) runs up to that far behind is still seen.
CHANGE_MARGIN = timedelta(seconds=30)
BATCH_CONTACTS = IdList("batch_contacts")


@dataclass
class Changes:
    """What changed since a batch was claimed, as one look sees it."""

    sending: bool  # the campaign is still sending (not paused or cancelled)
    # Of the batch's contacts, those stamped since, with their stamp (updated_at): those
    # whose stamp is not the one read at the claim have changed.
    contacts: dict[int, datetime] = field(default_factory=dict)
    suppressed: set[str] = field(default_factory=set)  # address HMACs suppressed since
    orphaned: set[int] = field(default_factory=set)  # deliveries whose contact was deleted


@cache
def _changes(dialect: str) -> sa.CompoundSelect[Any]:
    """One statement, built once per dialect, reading only index ranges of what is new
    (nothing, nearly always), never a row per recipient."""
    since = sa.bindparam("since", type_=UTCDateTime())
    text, number = sa.cast(sa.null(), sa.String), sa.cast(sa.null(), sa.Integer)
    stamp = sa.cast(sa.null(), UTCDateTime())
    return sa.union_all(
        sa.select(
            sa.literal(1).label("kind"),
            sa.cast(Campaign.status, sa.String).label("text"),
            number.label("number"),
            stamp.label("stamp"),
        ).where(Campaign.id == sa.bindparam("campaign")),
        sa.select(sa.literal(2), text, Contact.id, Contact.updated_at).where(
            Contact.updated_at >= since, BATCH_CONTACTS.condition(dialect, Contact.id)
        ),
        sa.select(sa.literal(3), Suppression.email_hmac, number, stamp).where(
            Suppression.created_at >= since
        ),
        sa.select(sa.literal(4), text, Delivery.id, stamp).where(
            Delivery.id.between(sa.bindparam("low"), sa.bindparam("high")),
            Delivery.campaign_id == sa.bindparam("campaign"),
            Delivery.contact_id.is_(None),
        ),
    )


def changes_since(
    connection: Session | sa.Connection,
    campaign_id: int,
    since: datetime,
    batch: dict[str, str],
    low: int,
    high: int,
) -> Changes:
    """The look of a batch in flight: whether its campaign still sends, and what changed
    since `since` for its contacts (`batch`: BATCH_CONTACTS.value of them) or its
    deliveries `low`..`high`."""
    found = Changes(sending=False)
    rows = connection.execute(  # type: ignore[call-overload]
        _changes(dialect_of(connection)),
        {"campaign": campaign_id, "since": since, "low": low, "high": high, **batch},
    )
    for kind, text, number, stamp in rows:
        if kind == 1:
            found.sending = text == CampaignStatus.SENDING.value
        elif kind == 2:
            found.contacts[number] = stamp
        elif kind == 3:
            found.suppressed.add(text)
        else:
            found.orphaned.add(number)
    return found


def sent_values(
    message_id: str, tracking_opens: bool = False, tracking_clicks: bool = False
) -> dict[str, Any]:
    """What `record_sent` writes (kept as is when the database cannot be reached)."""
    return {
        "message_id": message_id,
        "sent_at": utcnow(),
        "tracking_opens": tracking_opens,
        "tracking_clicks": tracking_clicks,
    }


_RECORD_SENT = DriverStatement(
    table_of(Delivery),
    # The statuses as stored (DeliveryStatus values).
    "UPDATE deliveries SET status = 'sent', last_error = NULL, "
    "claimed_by = NULL, claim_token = NULL, lease_until = NULL, message_id = {message_id}, "
    "sent_at = {sent_at}, tracking_opens = {tracking_opens}, tracking_clicks = {tracking_clicks} "
    "WHERE id = {id} AND (claim_token = {token} OR status IN "
    "('queued', 'skipped'))",
    typed={
        "sent_at": "sent_at",
        "tracking_opens": "tracking_opens",
        "tracking_clicks": "tracking_clicks",
    },
)


def record_sent(
    session: Session | sa.Connection, delivery_id: int, token: str, values: dict[str, Any]
) -> bool:
    """The server accepted the message: recorded while the claim is still `token`'s, or
    nobody's (given back meanwhile, not yet sent again). If another claim holds the row, or
    it was sent already, it is marked a suspected duplicate; False then."""
    connection = session if isinstance(session, sa.Connection) else session.connection()
    if _RECORD_SENT.run(connection, id=delivery_id, token=token or None, **values):
        return True
    session.execute(
        sa.update(Delivery).where(Delivery.id == delivery_id).values(suspected_duplicate=True)
    )
    return False


def record_failure(
    session: Session,
    item: Claimed,
    error: str,
    *,
    permanent: bool,
    bounce: bool,
    retry_at: datetime | None = None,
    suspect: bool = False,
) -> DeliveryStatus:
    """A refusal: retried later (transient, not before `retry_at`) or final (permanent,
    bounce). `suspect`: the server may have taken the message before failing (no answer
    to DATA), so a retry may deliver a second copy."""
    if bounce:
        status = DeliveryStatus.BOUNCED
        contact = session.get(Contact, item.contact_id)
        if contact is not None:
            contact.status = ContactStatus.BOUNCED
            if contact.email_hmac:
                suppress(session, contact.email_hmac, "hard bounce")
    elif permanent or item.attempts >= MAX_ATTEMPTS:
        status = DeliveryStatus.FAILED
    else:
        status = DeliveryStatus.QUEUED
    values: dict[str, Any] = {**UNCLAIMED, "status": status, "last_error": error[:1000]}
    if status is DeliveryStatus.QUEUED:
        values["lease_until"] = retry_at
    if suspect:
        values["suspected_duplicate"] = True
    session.execute(sa.update(Delivery).where(_mine(item)).values(**values))
    return status


def _mine(item: Claimed) -> sa.ColumnElement[bool]:
    """The row of a claimed delivery, while the claim is still its own."""
    if not item.token:
        return Delivery.id == item.id
    return sa.and_(Delivery.id == item.id, Delivery.claim_token == item.token)


def release(session: Session, items: list[Claimed], error: str | None) -> None:
    """Give deliveries back untouched (the sending path failed, the worker is stopping): no
    attempt counted; if the campaign was cancelled meanwhile, they are skipped instead."""
    if not items:
        return
    ids = [i.id for i in items]
    cancelled = (
        session.scalar(
            sa.select(Campaign.status)
            .join(Delivery, Delivery.campaign_id == Campaign.id)
            .where(Delivery.id == ids[0])
        )
        is CampaignStatus.CANCELLED
    )
    values: dict[str, Any] = (
        {"status": DeliveryStatus.SKIPPED, "skip_reason": "cancelled"}
        if cancelled
        else {
            "status": DeliveryStatus.QUEUED,
            "attempts": Delivery.attempts - 1,
            **({"last_error": error[:1000]} if error else {}),
        }
    )
    tokens = {i.token for i in items if i.token}
    mine = Delivery.claim_token.in_(tokens) if tokens else sa.true()
    session.execute(
        sa.update(Delivery)
        .where(Delivery.id.in_(ids), Delivery.status == DeliveryStatus.SENDING, mine)
        .values(**UNCLAIMED, **values)
    )


def note_progress(
    session: Session,
    campaign_id: int,
    consecutive: int,
    pause_after: int,
    campaign: Campaign | None = None,
) -> bool:
    """Store the failure streak; pause the campaign when it reaches `pause_after`."""
    campaign = campaign or session.get(Campaign, campaign_id)
    if campaign is None:
        return False
    campaign.progress_at = utcnow()
    campaign.consecutive_failures = consecutive
    if campaign.status is CampaignStatus.SENDING and consecutive >= pause_after:
        campaign.status = CampaignStatus.PAUSED
        campaign.pause_reason = (
            f"paused automatically after {consecutive} consecutive "
            "failures; check the SMTP server, then resume"
        )
        return True
    return False


def pause_for_path(session: Session, campaign_id: int, reason: str) -> None:
    """The sending path failed (connection, TLS, AUTH, EHLO, MAIL FROM): pause at once,
    saying why, instead of failing recipients who are not at fault."""
    campaign = session.get(Campaign, campaign_id)
    if campaign is not None and campaign.status is CampaignStatus.SENDING:
        campaign.status = CampaignStatus.PAUSED
        advice = " (no recipient was failed: fix the SMTP settings, then resume)"
        campaign.pause_reason = reason[: PAUSE_REASON_MAX - len(advice)] + advice


def finish_if_done(session: Session, campaign_id: int) -> bool:
    """Mark a sending campaign sent once nothing is queued or in flight."""
    # The campaign row first, locked: two batches ending at once in two workers each saw
    # the other's deliveries still in flight, and neither marked the campaign sent. FOR NO
    # KEY UPDATE, not FOR UPDATE: a block refresh inserting tallies (a foreign key to this
    # row) holds the campaign's shared advisory lock, which the recount below waits for —
    # FOR UPDATE made them wait for each other (a deadlock, seen with 2 workers × 4).
    campaign = session.get(Campaign, campaign_id, with_for_update={"key_share": True})
    # Whether any is left, not how many: a count read every waiting row at every batch's
    # end (half a million index entries, halfway through a million).
    left = session.scalar(
        sa.select(
            sa.exists().where(
                Delivery.campaign_id == campaign_id,
                Delivery.status.in_((DeliveryStatus.QUEUED, DeliveryStatus.SENDING)),
            )
        )
    )
    if not left and campaign is not None and campaign.status is CampaignStatus.SENDING:
        campaign.status, campaign.finished_at = CampaignStatus.SENT, utcnow()
        recount(session, campaign_id)  # mends blocks a killed worker left unrefreshed
        return True
    return False


def end_batch(
    session: Session, campaign_id: int, streak: int, pause_after: int, low: int, high: int
) -> bool:
    """The end of a batch, in one transaction: its failure streak noted (the campaign
    paused when it reaches `pause_after`; True then), the campaign marked sent when nothing
    is left, and the tallies of the range refreshed from the ledger. The campaign row is
    locked first, as finish_if_done explains; the tally locks after it."""
    paused = note_progress(
        session,
        campaign_id,
        streak,
        pause_after,
        session.get(Campaign, campaign_id, with_for_update={"key_share": True}),
    )
    if not finish_if_done(session, campaign_id):  # which recounts every tally
        refresh_blocks(session, campaign_id, low, high)
    return paused


def pause(session: Session, campaign: Campaign) -> None:
    """Workers stop claiming; batches in flight stop within half a second."""
    if campaign.status not in (CampaignStatus.SENDING, CampaignStatus.SCHEDULED):
        raise Conflict(f"campaign {campaign.name!r} is {campaign.status}", field="campaign")
    campaign.status, campaign.pause_reason = CampaignStatus.PAUSED, "paused by an operator"


def resume(session: Session, campaign: Campaign) -> None:
    """Sending goes on from the ledger (the caller re-enqueues the pending ranges); a
    campaign still `sending` whose workers are gone simply continues."""
    if campaign.status is CampaignStatus.SENDING:
        campaign.progress_at = utcnow()
        finish_if_done(session, campaign.id)
        return
    if campaign.status is not CampaignStatus.PAUSED:
        raise Conflict(f"campaign {campaign.name!r} is {campaign.status}", field="campaign")
    campaign.status, campaign.pause_reason = CampaignStatus.SENDING, None
    campaign.consecutive_failures, campaign.progress_at = 0, utcnow()
    if campaign.started_at is None:
        campaign.started_at = utcnow()
        freeze_audience(session, campaign)
    # Batches in flight during the pause may have sent everything already.
    finish_if_done(session, campaign.id)


def retry_failed(
    session: Session, campaign: Campaign, reason: str | None = None, actor: str = "operator"
) -> int:
    """Queue again the failed deliveries whose contact may still be mailed (bounces stay
    bounced); a finished campaign goes back to sending. Returns how many."""
    if campaign.status not in (CampaignStatus.SENDING, CampaignStatus.PAUSED, CampaignStatus.SENT):
        raise Conflict(
            f"campaign {campaign.name!r} is {campaign.status}: only a sending, paused or sent "
            "campaign has recipients to retry",
            field="campaign",
        )
    retryable = (
        sa.select(Delivery.id)
        .join(Contact, Contact.id == Delivery.contact_id)
        .where(
            Delivery.campaign_id == campaign.id,
            Delivery.status == DeliveryStatus.FAILED,
            unmailable_reason().is_(None),
        )
    )
    ids = list(session.scalars(retryable))
    if not ids:
        return 0
    session.execute(
        sa.update(Delivery)
        .where(Delivery.id.in_(ids), Delivery.status == DeliveryStatus.FAILED)
        .values(status=DeliveryStatus.QUEUED, attempts=0, **UNCLAIMED)
    )
    if campaign.status is CampaignStatus.SENT:
        campaign.status, campaign.finished_at = CampaignStatus.SENDING, None
    campaign.progress_at, campaign.consecutive_failures = utcnow(), 0
    from outreach.privacy.models import AuditEntry

    session.add(
        AuditEntry(
            actor=actor[:320],
            action="retry_failed",
            subject_type="campaign",
            subject_id=campaign.id,
            details={"deliveries": len(ids), "reason": (reason or "")[:500]},
        )
    )
    recount(session, campaign.id)
    return len(ids)


def cancel(session: Session, campaign: Campaign) -> int:
    """Stop for good: what was not sent becomes skipped (cancelled)."""
    if campaign.status in (CampaignStatus.SENT, CampaignStatus.CANCELLED):
        raise Conflict(f"campaign {campaign.name!r} is {campaign.status}", field="campaign")
    campaign.status, campaign.finished_at = CampaignStatus.CANCELLED, utcnow()
    result = session.execute(
        sa.update(Delivery)
        .where(Delivery.campaign_id == campaign.id, Delivery.status == DeliveryStatus.QUEUED)
        .values(status=DeliveryStatus.SKIPPED, skip_reason="cancelled")
    )
    recount(session, campaign.id)
    return int(result.rowcount or 0)  # type: ignore[attr-defined]


@dataclass
class GroupProgress:
    """Delivery counts of one group of a campaign."""

    group: str
    counts: dict[str, int] = field(default_factory=dict)

    @property
    def total(self) -> int:
        """Every delivery of the group."""
        return sum(self.counts.values())


@dataclass
class Progress:
    """Where a campaign stands."""

    campaign_id: int
    name: str
    status: str
    pause_reason: str | None
    groups: list[GroupProgress]
    rate_per_minute: int
    scheduled_at: datetime | None = None
    started_at: datetime | None = None
    finished_at: datetime | None = None
    suspected_duplicates: int = 0
    failures: list[tuple[str, int]] = field(default_factory=list)  # (reason, deliveries)

    @property
    def remaining(self) -> int:
        """Deliveries still queued or in flight."""
        return sum(g.counts.get("queued", 0) + g.counts.get("sending", 0) for g in self.groups)

    @property
    def total(self) -> int:
        """Every delivery."""
        return sum(g.total for g in self.groups)

    def to_dict(self) -> dict[str, Any]:
        """The JSON document of `campaigns status --json` and the API."""
        return {
            "campaign": self.campaign_id,
            "name": self.name,
            "status": self.status,
            "pause_reason": self.pause_reason,
            "scheduled_at": self.scheduled_at.isoformat() if self.scheduled_at else None,
            "started_at": self.started_at.isoformat() if self.started_at else None,
            "finished_at": self.finished_at.isoformat() if self.finished_at else None,
            "rate_per_minute": self.rate_per_minute,
            "total": self.total,
            "remaining": self.remaining,
            "groups": [{"group": g.group, **g.counts} for g in self.groups],
            "suspected_duplicates": self.suspected_duplicates,
            "failures": [{"reason": r, "count": n} for r, n in self.failures],
        }


def progress(session: Session, campaign: Campaign) -> Progress:
    """Per group: queued, sending, sent, failed, bounced, skipped (from the tallies and
    the batches in flight: reporting.tallies.status_counts); and the messages sent in
    the last minute (an index range of sent_at)."""
    groups = [
        GroupProgress(group, counts)
        for group, counts in status_counts(session, campaign.id).items()
        if sum(counts.values())
    ]
    recent = session.scalar(
        sa.select(sa.func.count())
        .select_from(Delivery)
        .where(
            Delivery.campaign_id == campaign.id, Delivery.sent_at >= utcnow() - timedelta(minutes=1)
        )
    )
    return Progress(
        campaign.id,
        campaign.name,
        str(campaign.status),
        campaign.pause_reason,
        groups,
        int(recent or 0),
        campaign.scheduled_at,
        campaign.started_at,
        campaign.finished_at,
        suspected_duplicates(session, campaign.id),
        failure_reasons(session, campaign.id),
    )


def due_campaigns(session: Session) -> list[Campaign]:
    """Scheduled campaigns whose time has come."""
    return list(
        session.scalars(
            sa.select(Campaign).where(
                Campaign.status == CampaignStatus.SCHEDULED, Campaign.scheduled_at <= utcnow()
            )
        )
    )


def stalled_campaigns(session: Session, *, everything: bool = False) -> list[int]:
    """Sending campaigns without progress for a while, whose deliveries wait with no batch
    in flight (their broker messages were lost), or with nothing left to send (the sweeper
    marks those sent); or all sending ones."""
    stmt = sa.select(Campaign.id).where(Campaign.status == CampaignStatus.SENDING)
    if not everything:
        now = utcnow()
        of_campaign = Delivery.campaign_id == Campaign.id
        in_flight = sa.exists().where(
            of_campaign, Delivery.status == DeliveryStatus.SENDING, Delivery.lease_until >= now
        )
        waiting = sa.exists().where(of_campaign, _claimable(now))
        left = sa.exists().where(
            of_campaign, Delivery.status.in_((DeliveryStatus.QUEUED, DeliveryStatus.SENDING))
        )
        stmt = stmt.where(
            sa.or_(
                Campaign.progress_at.is_(None),
                Campaign.progress_at < now - STALLED_AFTER,
                sa.and_(Campaign.progress_at < now - QUIET_AFTER, ~in_flight, waiting),
                ~left,  # all done, but the batch that should have said so did not
            )
        )
    return list(session.scalars(stmt))
