"""Recording open and click hits: honest, per delivery, and only where consent exists."""

from __future__ import annotations

import functools
import ipaddress
import re
from collections import defaultdict
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.orm import Session

from outreach.consent.models import Purpose
from outreach.consent.service import consent_confirmed
from outreach.contacts.models import Contact, ContactStatus
from outreach.db import UTCDateTime, utcnow
from outreach.db_bulk import insert_rows, is_postgres, table_of, upsert
from outreach.delivery.models import Delivery, DeliveryStatus
from outreach.reporting.tallies import (
    add_engagement,
    add_hours,
    add_link_clicks,
    link_click_row,
    lock_for_hits,
)
from outreach.tracking.models import HitKind, RecordedBatch, TrackingHit

OPEN_TOO_SOON = timedelta(seconds=2)
CLICK_TOO_SOON = timedelta(seconds=5)
CLICK_BURST = (3, timedelta(seconds=2))  # this many clicks within this long: a scanner
APPLE_PROXY = ipaddress.ip_network("17.0.0.0/8")
_AGENTS = (
    ("gmail-proxy", re.compile(r"GoogleImageProxy|ggpht\.com", re.I)),
    ("yahoo-proxy", re.compile(r"YahooMailProxy", re.I)),
    ("outlook-scanner", re.compile(r"Microsoft Office|ms-office|Office Existence", re.I)),
    (
        "security-scanner",
        re.compile(r"barracuda|mimecast|proofpoint|symantec|trendmicro|forcepoint|safelinks", re.I),
    ),
    (
        "bot",
        re.compile(
            r"bot\b|crawler|spider|python|curl|wget|go-http-client|headless|"
            r"java/|okhttp|libwww|scan",
            re.I,
        ),
    ),
)


@functools.lru_cache(maxsize=4096)  # a few browsers and proxies send nearly every hit
def _agent_pattern(user_agent: str) -> str | None:
    for family, pattern in _AGENTS:
        if pattern.search(user_agent):
            return family
    return None


@dataclass(frozen=True)
class Hit:
    """One request to a tracking endpoint, before it is judged."""

    kind: HitKind
    delivery_id: int
    at: datetime
    user_agent: str
    ip: str | None
    head: bool = False
    url: str | None = None


def _coarse_ip(ip: str | None) -> str | None:
    """All the classification needs of an address: Apple's proxy network or nothing."""
    try:  # the prefix test spares parsing every other address
        if ip and ip.startswith("17.") and ipaddress.ip_address(ip) in APPLE_PROXY:
            return str(APPLE_PROXY.network_address)
    except ValueError:
        pass
    return None


def encode_hit(hit: Hit) -> list[Any]:
    """A hit as a broker message argument (JSON), without the raw IP address."""
    return [
        hit.kind.value,
        hit.delivery_id,
        hit.at.isoformat(),
        hit.user_agent,
        _coarse_ip(hit.ip),
        hit.head,
        hit.url,
    ]


def decode_hit(value: list[Any]) -> Hit:
    """The hit `encode_hit` made."""
    kind, delivery_id, at, user_agent, ip, head, url = value
    return Hit(
        HitKind(kind), int(delivery_id), datetime.fromisoformat(at), user_agent, ip, head, url
    )


def record_batch_once(session: Session, batch_id: str, hits: list[Hit]) -> int:
    """record_hits, unless this batch was recorded before (a redelivered message)."""
    claimed = session.execute(
        upsert(session, table_of(RecordedBatch))
        .values(batch_id=batch_id, recorded_at=utcnow())
        .on_conflict_do_nothing()
        .returning(table_of(RecordedBatch).c.batch_id)
    ).first()
    return record_hits(session, hits) if claimed is not None else 0


def agent_family(user_agent: str, ip: str | None) -> tuple[str, bool]:
    """A coarse family for the user agent, and whether it is a machine by itself."""
    family = _agent_pattern(user_agent)
    if family is not None:
        return family, True
    if _coarse_ip(ip) is not None:
        return "apple-privacy-proxy", True
    if not user_agent.strip():
        return "none", True
    return "browser", False


def _verdict(hit: Hit, sent_at: datetime | None, burst: bool) -> tuple[bool, str | None, str]:
    family, machine = agent_family(hit.user_agent, hit.ip)
    if hit.head:
        return True, "HEAD request", family
    if machine:
        return True, f"user agent: {family}", family
    too_soon = OPEN_TOO_SOON if hit.kind is HitKind.OPEN else CLICK_TOO_SOON
    if sent_at is not None and hit.at - sent_at < too_soon:
        return True, "seconds after delivery", family
    if burst:
        return True, "many links at once", family
    return False, None, family


def _among(
    session: Session, column: sa.orm.InstrumentedAttribute[int], ids: set[int]
) -> sa.ColumnElement[bool]:
    """column IN ids; one array parameter on PostgreSQL, so the statement text (and its
    parsing by the driver) does not change with every batch size."""
    if is_postgres(session):
        return column == sa.any_(sa.literal(sorted(ids), ARRAY(sa.Integer)))
    return column.in_(ids)


def record_hits(session: Session, hits: list[Hit]) -> int:
    """Judge and store a batch of hits; returns how many were kept (the rest discarded)."""
    if not hits:
        return 0
    ids = {h.delivery_id for h in hits}
    lock_for_hits(
        session,
        session.scalars(
            sa.select(Delivery.campaign_id).where(_among(session, Delivery.id, ids)).distinct()
        ),
    )
    rows = session.execute(
        sa.select(
            Delivery.id,
            Delivery.campaign_id,
            Delivery.sent_at,
            Delivery.tracking_opens,
            Delivery.tracking_clicks,
            Contact.status.label("contact_status"),
            consent_confirmed(Purpose.OPEN_TRACKING).label("opens_allowed"),
            consent_confirmed(Purpose.CLICK_TRACKING).label("clicks_allowed"),
            Delivery.status,
            Delivery.group_name,
            Delivery.variant_id,
            Delivery.human_opens,
            Delivery.machine_opens,
            Delivery.clicks,
            Delivery.machine_clicks,
        )
        .join(Contact, Contact.id == Delivery.contact_id)
        .where(_among(session, Delivery.id, ids))
        .order_by(Delivery.id)
        # The counters read here decide "first open": no other recorder may move them.
        .with_for_update(of=Delivery)
    ).all()
    known = {row.id: row for row in rows}
    bursts = _click_bursts(session, hits)
    stored: list[dict[str, object]] = []
    for hit in hits:
        row = known.get(hit.delivery_id)
        if row is None or not _allowed(hit, row):
            continue  # erased, withdrawn, restricted, or never tracked: discarded
        machine, reason, family = _verdict(hit, row.sent_at, hit in bursts)
        stored.append(
            {
                "delivery_id": hit.delivery_id,
                "campaign_id": row.campaign_id,
                "kind": hit.kind,
                "machine": machine,
                "reason": reason,
                "url": hit.url[:2000] if hit.url else None,
                "agent_family": family,
                "occurred_at": hit.at,
            }
        )
    insert_rows(session, table_of(TrackingHit), stored)
    totals = _update_counters(session, stored)
    add_engagement(session, _newly_engaged(known, totals))
    add_hours(session, _hours(stored))
    add_link_clicks(session, _link_clicks(known, stored))
    return len(stored)


def _link_clicks(
    known: dict[int, sa.Row],  # type: ignore[type-arg]
    stored: list[dict[str, object]],
) -> list[dict[str, object]]:
    """Per delivery and link: this batch's human and machine clicks and the first human one,
    with the delivery's campaign, group and variant."""
    counts: dict[tuple[int, str], dict[str, Any]] = {}
    for hit in stored:
        url = hit["url"]
        if hit["kind"] is not HitKind.CLICK or not isinstance(url, str):
            continue
        row = known[hit["delivery_id"]]  # type: ignore[index]
        entry = counts.setdefault(
            (row.id, url),
            link_click_row(row.campaign_id, row.id, row.group_name, row.variant_id or 0, url),
        )
        if hit["machine"]:
            entry["machine_clicks"] += 1
            continue
        entry["human_clicks"] += 1
        at = hit["occurred_at"]
        entry["first_human_at"] = min(filter(None, (entry["first_human_at"], at)))
    return list(counts.values())


def _newly_engaged(
    known: dict[int, sa.Row],
    totals: dict[int, dict[str, object]],  # type: ignore[type-arg]
) -> dict[tuple[int, str, int], dict[str, int]]:
    """Deliveries whose first human open, machine open, click or machine click is in this
    batch."""
    counts: dict[tuple[int, str, int], dict[str, int]] = {}
    for delivery_id, entry in totals.items():
        row = known[delivery_id]
        sent = row.status is DeliveryStatus.SENT
        # The same rules as the recount's (tallies._ledger_counts), for one batch.
        firsts = {
            "human_openers": sent and row.tracking_opens and not row.human_opens,
            "machine_openers": not row.machine_opens,
            "clickers": sent and row.tracking_clicks and not row.clicks,
            "machine_clickers": not row.machine_clicks,
        }
        added = {
            "human_openers": entry["human_opens"],
            "machine_openers": entry["machine_opens"],
            "clickers": entry["clicks"],
            "machine_clickers": entry["machine_clicks"],
        }
        new = {name: int(bool(firsts[name] and added[name])) for name in firsts}
        if any(new.values()):
            key = (row.campaign_id, row.group_name, row.variant_id or 0)
            tally = counts.setdefault(key, dict.fromkeys(new, 0))
            for name, first in new.items():
                tally[name] += first
    return counts


def _hours(stored: list[dict[str, object]]) -> dict[tuple[int, datetime], tuple[int, int]]:
    """Human opens and clicks per (campaign, hour)."""
    counts: dict[tuple[int, datetime], tuple[int, int]] = {}
    for hit in stored:
        if hit["machine"]:
            continue
        at: datetime = hit["occurred_at"]  # type: ignore[assignment]
        campaign_id: int = hit["campaign_id"]  # type: ignore[assignment]
        key = (campaign_id, at.astimezone(UTC).replace(minute=0, second=0, microsecond=0))
        opens, clicks = counts.get(key, (0, 0))
        counts[key] = (opens + 1, clicks) if hit["kind"] is HitKind.OPEN else (opens, clicks + 1)
    return counts


def _allowed(hit: Hit, row: sa.Row) -> bool:  # type: ignore[type-arg]
    if row.contact_status is ContactStatus.RESTRICTED:
        return False  # restricted: kept out of statistics until lifted
    if hit.kind is HitKind.OPEN:
        return bool(row.tracking_opens and row.opens_allowed)
    return bool(row.tracking_clicks and row.clicks_allowed)


def _click_bursts(session: Session, hits: list[Hit]) -> set[Hit]:
    """Clicks that belong to a burst of several links within seconds (scanners)."""
    count, window = CLICK_BURST
    by_delivery: dict[int, list[datetime]] = defaultdict(list)
    clicks = [h for h in hits if h.kind is HitKind.CLICK]
    if not clicks:
        return set()
    earliest = min(h.at for h in clicks) - window
    for delivery_id, at in session.execute(
        sa.select(TrackingHit.delivery_id, TrackingHit.occurred_at).where(
            _among(session, TrackingHit.delivery_id, {h.delivery_id for h in clicks}),
            TrackingHit.kind == HitKind.CLICK,
            TrackingHit.occurred_at >= earliest,
        )
    ):
        by_delivery[delivery_id].append(at)
    for hit in clicks:
        by_delivery[hit.delivery_id].append(hit.at)
    burst = set()
    for hit in clicks:
        near = [t for t in by_delivery[hit.delivery_id] if abs(t - hit.at) <= window]
        if len(near) >= count:
            burst.add(hit)
    return burst


def _update_counters(
    session: Session, stored: list[dict[str, object]]
) -> dict[int, dict[str, object]]:
    """Per delivery: human and machine opens, first and last human open, clicks."""
    totals: dict[int, dict[str, object]] = {}
    for hit in stored:
        entry = totals.setdefault(
            hit["delivery_id"],  # type: ignore[arg-type]
            {
                "human_opens": 0,
                "machine_opens": 0,
                "clicks": 0,
                "machine_clicks": 0,
                "first": None,
                "last": None,
            },
        )
        human = not hit["machine"]
        if hit["kind"] is HitKind.OPEN:
            key = "human_opens" if human else "machine_opens"
            if human:
                at = hit["occurred_at"]
                entry["first"] = min(filter(None, (entry["first"], at)))  # type: ignore[type-var]
                entry["last"] = max(filter(None, (entry["last"], at)))  # type: ignore[type-var]
        else:
            key = "clicks" if human else "machine_clicks"
        entry[key] = int(entry[key]) + 1  # type: ignore[call-overload]
    if not totals:
        return totals
    if is_postgres(session):
        _update_counters_from_arrays(session, totals)
        return totals
    # One executemany for the whole batch (one UPDATE per delivery costs ~1 ms each).
    rows = [
        {
            "b_id": delivery_id,
            "b_human": entry["human_opens"],
            "b_machine": entry["machine_opens"],
            "b_clicks": entry["clicks"],
            "b_machine_clicks": entry["machine_clicks"],
            "b_first": entry["first"],
            "b_last": entry["last"],
        }
        for delivery_id, entry in sorted(totals.items())  # same lock order in every process
    ]
    statement = (
        sa.update(table_of(Delivery))
        .where(table_of(Delivery).c.id == sa.bindparam("b_id"))
        .values(
            human_opens=Delivery.human_opens + sa.bindparam("b_human"),
            machine_opens=Delivery.machine_opens + sa.bindparam("b_machine"),
            clicks=Delivery.clicks + sa.bindparam("b_clicks"),
            machine_clicks=Delivery.machine_clicks + sa.bindparam("b_machine_clicks"),
            first_open_at=sa.func.coalesce(
                Delivery.first_open_at, sa.bindparam("b_first", type_=UTCDateTime)
            ),
            last_open_at=sa.func.coalesce(
                sa.bindparam("b_last", type_=UTCDateTime), Delivery.last_open_at
            ),
        )
    )
    session.execute(statement, rows)
    return totals


_ARRAY_UPDATE = sa.text(
    "UPDATE deliveries AS d SET human_opens = d.human_opens + b.human, "
    "machine_opens = d.machine_opens + b.machine, clicks = d.clicks + b.clicks, "
    "machine_clicks = d.machine_clicks + b.machine_clicks, "
    "first_open_at = COALESCE(d.first_open_at, b.first), "
    "last_open_at = COALESCE(b.last, d.last_open_at) "
    "FROM unnest(CAST(:ids AS integer[]), CAST(:human AS integer[]), "
    "CAST(:machine AS integer[]), CAST(:clicks AS integer[]), "
    "CAST(:machine_clicks AS integer[]), CAST(:first AS timestamptz[]), "
    "CAST(:last AS timestamptz[])) AS b(id, human, machine, clicks, machine_clicks, first, last) "
    "WHERE d.id = b.id"
)


def _update_counters_from_arrays(session: Session, totals: dict[int, dict[str, object]]) -> None:
    """PostgreSQL: the whole batch in one statement and one round trip (executemany sends
    one UPDATE per delivery, ~0.1 ms of client time each)."""
    ordered = sorted(totals.items())  # the rows are already locked in this order
    column = {
        name: [entry[name] for _, entry in ordered]
        for name in ("human_opens", "machine_opens", "clicks", "machine_clicks", "first", "last")
    }
    session.execute(
        _ARRAY_UPDATE,
        {
            "ids": [delivery_id for delivery_id, _ in ordered],
            "human": column["human_opens"],
            "machine": column["machine_opens"],
            "clicks": column["clicks"],
            "machine_clicks": column["machine_clicks"],
            "first": column["first"],
            "last": column["last"],
        },
    )
