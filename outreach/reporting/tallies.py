"""Running tallies behind the statistics: the report reads a few hundred rows, not millions.

* `delivery_tallies`: status counts per block of BLOCK delivery ids, group and variant.
  They are recomputed from the ledger (replaced, never incremented) for the blocks a batch
  touched, so a batch that runs twice cannot count twice.
* `engagement_tallies`: unique human openers, machine openers, clickers, machine clickers
  and unsubscribes per group and variant, incremented in the transaction that changes the
  deliveries.
* `hourly_tallies`: human opens and clicks per hour (UTC).
* `link_clicks`: per delivery and link, human and machine clicks and the first human one,
  added in the transaction that records the hits. They are the per-link figures' own
  ledger, not a tally: nothing else keeps them once retention removes the hits, so the
  recount leaves them alone.

`recount` rebuilds the first three from the ledger; the audience freeze, the end of sending
and a cancellation call it, so whatever a killed worker left unrefreshed is mended. On
PostgreSQL, advisory locks order the writers: block refreshes and hit recording share a
campaign lock, a recount takes it alone, and the block refreshes of a campaign take
turns. On SQLite every write transaction already holds the database lock. The tallies
outlive the rows they count: retention may remove individual hits and anonymize
deliveries without changing a figure.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from outreach.db_bulk import insert_rows, is_postgres, table_of, upsert
from outreach.delivery.models import Delivery, DeliveryStatus
from outreach.tracking.models import (
    DeliveryTally,
    EngagementTally,
    HitKind,
    HourlyTally,
    LinkClick,
    TrackingHit,
)

BLOCK = 1024
_CAMPAIGN_LOCK = 0x6F75_7400_0000_0000  # "out" in the high bytes: our advisory-lock space
_REFRESH_LOCK = 0x6F75_7401_0000_0000
STATUS_COUNTS = ("recipients", "sent", "failed", "bounced", "skipped")
ENGAGEMENT_COUNTS = (
    "human_openers",
    "machine_openers",
    "clickers",
    "unsubscribes",
    "machine_clickers",
)


def machine_opened() -> sa.ColumnElement[bool]:
    """A machine open, the one definition every figure uses: the delivery has at least one
    open hit judged a machine's (outreach.tracking.service: a privacy proxy or scanner user
    agent, Apple's proxy network, a HEAD request, seconds after delivery)."""
    return Delivery.machine_opens > 0


def machine_clicked() -> sa.ColumnElement[bool]:
    """A machine click, likewise: at least one click hit judged a machine's (as above, or a
    burst of links within seconds: a link scanner)."""
    return Delivery.machine_clicks > 0


def _lock_campaigns(session: Session, campaign_ids: Iterable[int], *, alone: bool) -> None:
    """Advisory campaign locks on PostgreSQL, in id order (no deadlock between writers)."""
    if not is_postgres(session):
        return
    function = "pg_advisory_xact_lock" if alone else "pg_advisory_xact_lock_shared"
    for campaign_id in sorted(set(campaign_ids)):
        session.execute(sa.select(getattr(sa.func, function)(_CAMPAIGN_LOCK + campaign_id)))


def _count(condition: sa.ColumnElement[bool]) -> sa.ColumnElement[int]:
    return sa.func.coalesce(sa.func.sum(sa.case((condition, 1), else_=0)), 0)


def _ledger_counts(where: sa.ColumnElement[bool]) -> sa.Select[*tuple[Any, ...]]:
    """Per block, group and variant: the status and engagement counts of the ledger."""
    sent = Delivery.status == DeliveryStatus.SENT
    block = (Delivery.id // BLOCK).label("block")
    variant = sa.func.coalesce(Delivery.variant_id, 0).label("variant_id")
    return (
        sa.select(
            block,
            Delivery.group_name,
            variant,
            sa.func.count().label("recipients"),
            _count(sent).label("sent"),
            _count(Delivery.status == DeliveryStatus.FAILED).label("failed"),
            _count(Delivery.status == DeliveryStatus.BOUNCED).label("bounced"),
            _count(Delivery.status == DeliveryStatus.SKIPPED).label("skipped"),
            _count(sa.and_(sent, Delivery.tracking_opens)).label("open_tracked"),
            _count(sa.and_(sent, Delivery.tracking_clicks)).label("click_tracked"),
            _count(sa.and_(sent, Delivery.tracking_opens, Delivery.human_opens > 0)).label(
                "human_openers"
            ),
            _count(machine_opened()).label("machine_openers"),
            _count(sa.and_(sent, Delivery.tracking_clicks, Delivery.clicks > 0)).label("clickers"),
            _count(Delivery.unsubscribed_at.is_not(None)).label("unsubscribes"),
            _count(machine_clicked()).label("machine_clickers"),
        )
        .where(where)
        .group_by(block, Delivery.group_name, variant)
    )


_BLOCK_COLUMNS = (
    "block",
    "group_name",
    "variant_id",
    *STATUS_COUNTS,
    "open_tracked",
    "click_tracked",
)


def _replace_blocks(
    session: Session, campaign_id: int, rows: list[Any], blocks: tuple[int, int] | None
) -> None:
    table = table_of(DeliveryTally)
    stale = sa.delete(table).where(table.c.campaign_id == campaign_id)
    if blocks is not None:
        stale = stale.where(table.c.block.between(*blocks))
    session.execute(stale)
    insert_rows(
        session,
        table,
        [
            {"campaign_id": campaign_id, **{c: getattr(row, c) for c in _BLOCK_COLUMNS}}
            for row in rows
        ],
    )


def refresh_blocks(session: Session, campaign_id: int, low: int, high: int) -> None:
    """Recompute the status tallies of the blocks holding delivery ids low..high."""
    _lock_campaigns(session, [campaign_id], alone=False)
    if is_postgres(session):  # one refresh of a campaign at a time (a few ms each)
        session.execute(sa.select(sa.func.pg_advisory_xact_lock(_REFRESH_LOCK + campaign_id)))
    low, high = session.execute(  # a range from the broker may be wider than the ledger
        sa.select(sa.func.min(Delivery.id), sa.func.max(Delivery.id)).where(
            Delivery.campaign_id == campaign_id, Delivery.id.between(low, high)
        )
    ).one()
    if low is None:
        return
    first, last = low // BLOCK, high // BLOCK
    rows = session.execute(
        _ledger_counts(
            sa.and_(
                Delivery.campaign_id == campaign_id,
                Delivery.id >= first * BLOCK,
                Delivery.id < (last + 1) * BLOCK,
            )
        )
    ).all()
    _replace_blocks(session, campaign_id, list(rows), (first, last))


def status_counts(session: Session, campaign_id: int) -> dict[str, dict[str, int]]:
    """Per group, its deliveries per status (queued, sending, sent, failed, bounced,
    skipped), for a campaign's live progress: from the tallies, except the blocks holding
    deliveries in flight, which are counted from the ledger (their batches refresh the
    tallies when they end). A few hundred tally rows and at most the ledger rows of the
    batches in flight, whatever the campaign's size. A batch whose worker was killed is
    counted again when its range is sent again (and by the recount when sending ends)."""
    live = sorted(
        session.scalars(
            sa.select(Delivery.id // BLOCK)
            .where(Delivery.campaign_id == campaign_id, Delivery.status == DeliveryStatus.SENDING)
            .distinct()
        )
    )
    counts: dict[str, dict[str, int]] = defaultdict(
        lambda: {status.value: 0 for status in DeliveryStatus}
    )
    tally = DeliveryTally
    summed = [sa.func.sum(getattr(tally, c)) for c in STATUS_COUNTS]
    rows = session.execute(
        sa.select(tally.group_name, *summed)
        .where(tally.campaign_id == campaign_id, tally.block.not_in(live))
        .group_by(tally.group_name)
    )
    for group, recipients, *done in rows:
        entry = counts[group]
        for column, number in zip(STATUS_COUNTS[1:], done, strict=True):
            entry[column] += int(number or 0)
        entry[DeliveryStatus.QUEUED.value] += int(recipients or 0) - sum(int(n or 0) for n in done)
    if live:
        in_blocks = sa.or_(
            *(Delivery.id.between(block * BLOCK, (block + 1) * BLOCK - 1) for block in live)
        )
        for group, status, number in session.execute(
            sa.select(Delivery.group_name, Delivery.status, sa.func.count())
            # "+ 0": read by id ranges, never through a campaign index (without statistics
            # SQLite would walk the whole campaign's index: 130 ms for a million).
            .where(Delivery.campaign_id + 0 == campaign_id, in_blocks)
            .group_by(Delivery.group_name, Delivery.status)
        ):
            counts[group][str(status)] += number
    return dict(sorted(counts.items()))


def _hour(session: Session) -> sa.ColumnElement[Any]:
    if is_postgres(session):
        return sa.func.date_trunc("hour", TrackingHit.occurred_at, "UTC")
    # SQLAlchemy's SQLite storage format for DateTime, truncated to the hour.
    return sa.func.strftime("%Y-%m-%d %H:00:00.000000", TrackingHit.occurred_at)


def recount(session: Session, campaign_id: int) -> None:
    """Rebuild every tally of a campaign from its ledger and hits."""
    _lock_campaigns(session, [campaign_id], alone=True)
    rows = list(session.execute(_ledger_counts(Delivery.campaign_id == campaign_id)).all())
    _replace_blocks(session, campaign_id, rows, None)
    engagement: dict[tuple[str, int], dict[str, int]] = defaultdict(
        lambda: dict.fromkeys(ENGAGEMENT_COUNTS, 0)
    )
    for row in rows:
        entry = engagement[(row.group_name, row.variant_id)]
        for column in ENGAGEMENT_COUNTS:
            entry[column] += getattr(row, column)
    session.execute(sa.delete(EngagementTally).where(EngagementTally.campaign_id == campaign_id))
    insert_rows(
        session,
        table_of(EngagementTally),
        [
            {"campaign_id": campaign_id, "group_name": g, "variant_id": v, **counts}
            for (g, v), counts in sorted(engagement.items())
        ],
    )
    _recount_hours(session, campaign_id)


def _recount_hours(session: Session, campaign_id: int) -> None:
    hour = _hour(session).label("hour")
    session.execute(sa.delete(HourlyTally).where(HourlyTally.campaign_id == campaign_id))
    session.execute(
        sa.insert(table_of(HourlyTally)).from_select(
            ["campaign_id", "hour", "opens", "clicks"],
            sa.select(
                sa.literal(campaign_id),
                hour,
                _count(TrackingHit.kind == HitKind.OPEN),
                _count(TrackingHit.kind == HitKind.CLICK),
            )
            .where(TrackingHit.campaign_id == campaign_id, TrackingHit.machine.is_(False))
            .group_by(hour),
        )
    )


def _add_counts(
    session: Session,
    model: type[Any],
    keys: tuple[str, ...],
    rows: list[dict[str, Any]],
    *,
    fixed: tuple[str, ...] = (),
    earliest: tuple[str, ...] = (),
) -> None:
    """Add each row's counters to the tally with its keys, creating it when missing; `fixed`
    columns are only written when it is created, `earliest` ones keep the earliest time."""
    if not rows:
        return
    table = table_of(model)
    statement = upsert(session, table)
    new = statement.excluded
    counters = [c for c in rows[0] if c not in (*keys, *fixed, *earliest)]
    changes = {c: table.c[c] + new[c] for c in counters}
    for c in earliest:  # NULL (none yet) on either side: the other
        changes[c] = sa.case(
            (sa.or_(table.c[c].is_(None), new[c] < table.c[c]), new[c]), else_=table.c[c]
        )
    statement = statement.on_conflict_do_update(index_elements=list(keys), set_=changes)
    # Sorted: every writer takes the row locks in the same order.
    session.execute(statement, sorted(rows, key=lambda r: tuple(r[k] for k in keys)))


def lock_for_hits(session: Session, campaign_ids: Iterable[int]) -> None:
    """Before recording hits: shut out a concurrent recount of these campaigns."""
    _lock_campaigns(session, campaign_ids, alone=False)


def add_engagement(session: Session, counts: dict[tuple[int, str, int], dict[str, int]]) -> None:
    """Add to the engagement tallies, keyed by (campaign, group name, variant id)."""
    _add_counts(
        session,
        EngagementTally,
        ("campaign_id", "group_name", "variant_id"),
        [
            {
                "campaign_id": c,
                "group_name": g,
                "variant_id": v,
                **{k: entry.get(k, 0) for k in ENGAGEMENT_COUNTS},
            }
            for (c, g, v), entry in counts.items()
        ],
    )


def add_hours(session: Session, counts: dict[tuple[int, datetime], tuple[int, int]]) -> None:
    """Add human opens and clicks to the hourly tallies, keyed by (campaign, hour)."""
    _add_counts(
        session,
        HourlyTally,
        ("campaign_id", "hour"),
        [
            {"campaign_id": c, "hour": hour, "opens": opens, "clicks": clicks}
            for (c, hour), (opens, clicks) in counts.items()
        ],
    )


def add_link_clicks(session: Session, rows: list[dict[str, Any]]) -> None:
    """Add clicks to the per-link ledger, one row per (delivery, url) with its campaign,
    group name, variant id (0: none), human and machine clicks and first human click."""
    _add_counts(
        session,
        LinkClick,
        ("delivery_id", "url"),
        rows,
        fixed=("campaign_id", "group_name", "variant_id"),
        earliest=("first_human_at",),
    )


def link_click_row(
    campaign_id: int, delivery_id: int, group_name: str, variant_id: int, url: str
) -> dict[str, Any]:
    """A row for add_link_clicks, no click counted yet."""
    return {
        "campaign_id": campaign_id,
        "delivery_id": delivery_id,
        "group_name": group_name,
        "variant_id": variant_id,
        "url": url,
        "human_clicks": 0,
        "machine_clicks": 0,
        "first_human_at": None,
    }
