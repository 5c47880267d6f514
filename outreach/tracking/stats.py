"""Per-group, per-variant statistics of a campaign, honestly: human opens over the
recipients who allowed tracking (the denominator is shown), machine opens apart."""

from __future__ import annotations

import csv
from dataclasses import asdict, dataclass, fields
from datetime import datetime
from typing import IO, Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from outreach.campaigns.models import Campaign, Variant
from outreach.delivery.models import Delivery, DeliveryStatus
from outreach.groups.models import Group
from outreach.tracking.models import HitKind, TrackingHit


@dataclass
class GroupStats:
    """One row of the report: a group and the variant it received."""

    group: str
    variant: str
    recipients: int
    sent: int
    failed: int
    bounced: int
    skipped: int
    unique_human_opens: int
    machine_opens: int
    open_tracked: int
    open_rate: float | None
    unique_clicks: int
    click_tracked: int
    click_rate: float | None
    unsubscribes: int


@dataclass
class CampaignStats:
    """The whole report."""

    campaign_id: int
    name: str
    rows: list[GroupStats]
    total: GroupStats
    hourly: list[dict[str, Any]]

    def to_dict(self) -> dict[str, Any]:
        """The JSON document of `outreach stats --json` and the API."""
        return {
            "campaign": self.campaign_id,
            "name": self.name,
            "groups": [asdict(r) for r in self.rows],
            "total": asdict(self.total),
            "hourly": self.hourly,
        }


def _count(condition: sa.ColumnElement[bool]) -> sa.ColumnElement[int]:
    return sa.func.coalesce(sa.func.sum(sa.case((condition, 1), else_=0)), 0)


def _rate(part: int, whole: int) -> float | None:
    return round(part / whole, 4) if whole else None


def campaign_stats(session: Session, campaign: Campaign) -> CampaignStats:
    """The per-group report and the hourly time series."""
    sent = Delivery.status == DeliveryStatus.SENT
    label = sa.case((Variant.group_id.is_(None), "fallback"), else_=Group.name)
    rows = session.execute(
        sa.select(
            Delivery.group_name,
            label,
            sa.func.count(),
            _count(sent),
            _count(Delivery.status == DeliveryStatus.FAILED),
            _count(Delivery.status == DeliveryStatus.BOUNCED),
            _count(Delivery.status == DeliveryStatus.SKIPPED),
            _count(sa.and_(sent, Delivery.tracking_opens, Delivery.human_opens > 0)),
            _count(Delivery.machine_opens > 0),
            _count(sa.and_(sent, Delivery.tracking_opens)),
            _count(sa.and_(sent, Delivery.tracking_clicks, Delivery.clicks > 0)),
            _count(sa.and_(sent, Delivery.tracking_clicks)),
            _count(Delivery.unsubscribed_at.is_not(None)),
        )
        .select_from(Delivery)
        .outerjoin(Variant, Variant.id == Delivery.variant_id)
        .outerjoin(Group, Group.id == Variant.group_id)
        .where(Delivery.campaign_id == campaign.id)
        .group_by(Delivery.group_name, label)
        .order_by(Delivery.group_name)
    ).all()
    report = [_row(*row) for row in rows]
    return CampaignStats(
        campaign.id, campaign.name, report, _total(report), hourly(session, campaign.id)
    )


def _row(
    group: str,
    variant: str | None,
    recipients: int,
    sent: int,
    failed: int,
    bounced: int,
    skipped: int,
    opens: int,
    machine: int,
    open_tracked: int,
    clicks: int,
    click_tracked: int,
    unsubscribes: int,
) -> GroupStats:
    return GroupStats(
        group,
        variant or "(removed)",
        recipients,
        sent,
        failed,
        bounced,
        skipped,
        opens,
        machine,
        open_tracked,
        _rate(opens, open_tracked),
        clicks,
        click_tracked,
        _rate(clicks, click_tracked),
        unsubscribes,
    )


def _total(rows: list[GroupStats]) -> GroupStats:
    sums = {
        f.name: sum(getattr(r, f.name) for r in rows)
        for f in fields(GroupStats)
        if f.type in ("int", int)
    }
    return GroupStats(
        group="all",
        variant="",
        **sums,  # type: ignore[arg-type]
        open_rate=_rate(sums["unique_human_opens"], sums["open_tracked"]),
        click_rate=_rate(sums["unique_clicks"], sums["click_tracked"]),
    )


def _hour(session: Session) -> sa.ColumnElement[Any]:
    if session.get_bind().dialect.name == "postgresql":
        # In UTC whatever the session's time zone (PostgreSQL 12+).
        return sa.func.date_trunc("hour", TrackingHit.occurred_at, "UTC")
    return sa.func.strftime("%Y-%m-%dT%H:00:00+00:00", TrackingHit.occurred_at)


def hourly(session: Session, campaign_id: int) -> list[dict[str, Any]]:
    """Human opens and clicks per hour."""
    hour = _hour(session).label("hour")
    rows = session.execute(
        sa.select(
            hour,
            _count(TrackingHit.kind == HitKind.OPEN),
            _count(TrackingHit.kind == HitKind.CLICK),
        )
        .where(TrackingHit.campaign_id == campaign_id, TrackingHit.machine.is_(False))
        .group_by(hour)
        .order_by(hour)
    ).all()
    return [
        {"hour": h.isoformat() if isinstance(h, datetime) else str(h), "opens": o, "clicks": c}
        for h, o, c in rows
    ]


COLUMNS = [f.name for f in fields(GroupStats)]


def write_csv(stats: CampaignStats, out: IO[str]) -> None:
    """The report as CSV, one row per group and a total."""
    writer = csv.writer(out)
    writer.writerow(COLUMNS)
    for row in [*stats.rows, stats.total]:
        writer.writerow(["" if v is None else v for v in asdict(row).values()])
