"""Per-group, per-variant statistics of a campaign, honestly: human opens over the
recipients who allowed tracking (the denominator is shown), machine opens and clicks apart.

Every figure counts recipients (deliveries), never hits: `unique_human_opens` the
recipients with a human open, `machine_opens` those with a machine open and
`machine_clicks` those with a machine click, as outreach.reporting.tallies defines them
(machine_opened, machine_clicked). A recipient whose privacy proxy fetched the pixel and
who then opened the message counts in both. The demo, `outreach stats`, the API and the
admin all print these figures; none counts on its own.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields
from datetime import datetime
from typing import IO, Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from outreach.campaigns.models import Campaign, CampaignGroup, Variant
from outreach.delivery.queries import failure_reasons, suspected_duplicates
from outreach.groups.models import Group
from outreach.reporting.tallies import ENGAGEMENT_COUNTS, STATUS_COUNTS
from outreach.spreadsheet import SafeWriter
from outreach.tracking.models import DeliveryTally, EngagementTally, HourlyTally


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
    # Last, so the CSV's earlier columns keep their places; shown beside machine_opens.
    machine_clicks: int = 0


@dataclass
class CampaignStats:
    """The whole report."""

    campaign_id: int
    name: str
    rows: list[GroupStats]
    total: GroupStats
    hourly: list[dict[str, Any]]
    failures: list[tuple[str, int]] = field(default_factory=list)  # (reason, deliveries)
    suspected_duplicates: int = 0

    def to_dict(self) -> dict[str, Any]:
        """The JSON document of `outreach stats --json` and the API."""
        return {
            "campaign": self.campaign_id,
            "name": self.name,
            "groups": [asdict(r) for r in self.rows],
            "total": asdict(self.total),
            "hourly": self.hourly,
            "failures": [{"reason": r, "count": n} for r, n in self.failures],
            "suspected_duplicates": self.suspected_duplicates,
        }


def percent(rate: float | None) -> str:
    """A rate as the reports print it: one decimal, or "-" when nobody allowed tracking."""
    return "-" if rate is None else f"{rate * 100:.1f}%"


def _rate(part: int, whole: int) -> float | None:
    return round(part / whole, 4) if whole else None


REMOVED_VARIANT = "(removed)"  # the label of a variant id the campaign no longer has


def variant_labels(session: Session, campaign_id: int) -> dict[int, str]:
    """Variant id -> the name shown: its group's, or "fallback"."""
    rows = session.execute(
        sa.select(Variant.id, Variant.group_id, Group.name)
        .outerjoin(Group, Group.id == Variant.group_id)
        .where(Variant.campaign_id == campaign_id)
    ).all()
    return {vid: ("fallback" if gid is None else name) for vid, gid, name in rows}


def campaign_stats(session: Session, campaign: Campaign) -> CampaignStats:
    """The per-group report and the hourly time series, read from the running tallies."""
    status = session.execute(
        sa.select(
            DeliveryTally.group_name,
            DeliveryTally.variant_id,
            *(
                sa.func.sum(getattr(DeliveryTally, c))
                for c in (*STATUS_COUNTS, "open_tracked", "click_tracked")
            ),
        )
        .where(DeliveryTally.campaign_id == campaign.id)
        .group_by(DeliveryTally.group_name, DeliveryTally.variant_id)
    ).all()
    engaged = {
        (row[0], row[1]): dict(zip(ENGAGEMENT_COUNTS, map(int, row[2:]), strict=True))
        for row in session.execute(
            sa.select(
                EngagementTally.group_name,
                EngagementTally.variant_id,
                *(getattr(EngagementTally, c) for c in ENGAGEMENT_COUNTS),
            ).where(EngagementTally.campaign_id == campaign.id)
        )
    }
    labels = variant_labels(session, campaign.id)
    none = dict.fromkeys(ENGAGEMENT_COUNTS, 0)
    report = []
    for group, variant, recipients, sent, failed, bounced, skipped, o_tracked, c_tracked in sorted(
        status, key=lambda r: (r[0], labels.get(r[1], ""))
    ):
        report.append(
            _row(
                group,
                labels.get(variant),
                int(recipients),
                int(sent),
                int(failed),
                int(bounced),
                int(skipped),
                int(o_tracked),
                int(c_tracked),
                engaged.get((group, variant), none),
            )
        )
    return CampaignStats(
        campaign.id,
        campaign.name,
        report,
        _total(report),
        hourly(session, campaign.id),
        failure_reasons(session, campaign.id),
        suspected_duplicates(session, campaign.id),
    )


def _row(
    group: str,
    variant: str | None,
    recipients: int,
    sent: int,
    failed: int,
    bounced: int,
    skipped: int,
    open_tracked: int,
    click_tracked: int,
    engaged: dict[str, int],
) -> GroupStats:
    opens, clicks = engaged["human_openers"], engaged["clickers"]
    return GroupStats(
        group,
        variant or REMOVED_VARIANT,
        recipients,
        sent,
        failed,
        bounced,
        skipped,
        opens,
        engaged["machine_openers"],
        open_tracked,
        _rate(opens, open_tracked),
        clicks,
        click_tracked,
        _rate(clicks, click_tracked),
        engaged["unsubscribes"],
        machine_clicks=engaged["machine_clickers"],
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


def hourly(session: Session, campaign_id: int) -> list[dict[str, Any]]:
    """Human opens and clicks per hour (UTC)."""
    rows = session.execute(
        sa.select(HourlyTally.hour, HourlyTally.opens, HourlyTally.clicks)
        .where(HourlyTally.campaign_id == campaign_id)
        .order_by(HourlyTally.hour)
    ).all()
    return [{"hour": h.isoformat(), "opens": o, "clicks": c} for h, o, c in rows]


COLUMNS = [f.name for f in fields(GroupStats)]


def write_csv(stats: CampaignStats, out: IO[str]) -> None:
    """The report as CSV, one row per group and a total."""
    writer = SafeWriter(out)
    writer.writerow(COLUMNS)
    for row in [*stats.rows, stats.total]:
        writer.writerow(asdict(row).values())


@dataclass
class CampaignOverview:
    """One line of the campaign list: where it stands and how it did."""

    campaign: Campaign
    groups: list[str]
    recipients: int
    sent: int
    open_rate: float | None  # human openers of the sent who allowed open tracking
    click_rate: float | None  # clickers of the sent who allowed click tracking

    @property
    def date(self) -> datetime | None:
        """When it was sent (or is being), or is scheduled for; None for a draft."""
        c = self.campaign
        return c.finished_at or c.started_at or c.scheduled_at

    def to_dict(self) -> dict[str, Any]:
        """The document of `campaigns list --json` and the API's list."""
        c, date = self.campaign, self.date
        return {
            "id": c.id,
            "name": c.name,
            "status": str(c.status),
            "groups": self.groups,
            "date": date.isoformat() if date else None,
            "scheduled_at": c.scheduled_at.isoformat() if c.scheduled_at else None,
            "started_at": c.started_at.isoformat() if c.started_at else None,
            "finished_at": c.finished_at.isoformat() if c.finished_at else None,
            "created_at": c.created_at.isoformat(),
            "recipients": self.recipients,
            "sent": self.sent,
            "open_rate": self.open_rate,
            "click_rate": self.click_rate,
        }


def _summed(
    session: Session,
    tally: type[DeliveryTally] | type[EngagementTally],
    columns: tuple[str, ...],
    *conditions: sa.ColumnElement[bool],
) -> dict[int, list[int]]:
    """Per campaign, the sums of these tally columns (over the rows the conditions keep)."""
    summed = session.execute(
        sa.select(tally.campaign_id, *(sa.func.sum(getattr(tally, c)) for c in columns))
        .where(*conditions)
        .group_by(tally.campaign_id)
    )
    return {row[0]: [int(n or 0) for n in row[1:]] for row in summed}


def campaign_overview(session: Session) -> list[CampaignOverview]:
    """Every campaign, newest first, with its target groups, recipients, messages sent and
    rates: from the tallies (a few rows per campaign), never a scan of the ledger. The
    rates are those of `campaign_stats`' total row."""
    found = session.scalars(sa.select(Campaign).order_by(Campaign.id.desc())).all()
    names: dict[int, list[str]] = {c.id: [] for c in found}
    for campaign_id, name in session.execute(
        sa.select(CampaignGroup.campaign_id, Group.name)
        .join(Group, Group.id == CampaignGroup.group_id)
        .order_by(CampaignGroup.campaign_id, CampaignGroup.position)
    ):
        names.setdefault(campaign_id, []).append(name)
    status = _summed(
        session, DeliveryTally, ("recipients", "sent", "open_tracked", "click_tracked")
    )
    engagement = _summed(session, EngagementTally, ("human_openers", "clickers"))
    listed = []
    for c in found:
        recipients, sent, open_tracked, click_tracked = status.get(c.id, [0, 0, 0, 0])
        openers, clickers = engagement.get(c.id, [0, 0])
        listed.append(
            CampaignOverview(
                c,
                names.get(c.id, []),
                recipients,
                sent,
                _rate(openers, open_tracked),
                _rate(clickers, click_tracked),
            )
        )
    return listed


@dataclass
class GroupCampaign:
    """One campaign in a group's history: how its members who were sent it engaged."""

    campaign_id: int
    name: str
    sent_at: datetime | None  # when the campaign started sending
    sent: int
    open_tracked: int
    human_openers: int
    open_rate: float | None
    click_tracked: int
    clickers: int
    click_rate: float | None


def group_trend(session: Session, group_name: str, last: int = 12) -> list[GroupCampaign]:
    """A group's human open and click rates over its last `last` campaigns that reached it,
    oldest first: from the tallies, by the group name each delivery was frozen with (the
    rates of that group's rows in each campaign's report)."""
    status = _summed(
        session,
        DeliveryTally,
        ("sent", "open_tracked", "click_tracked"),
        DeliveryTally.group_name == group_name,
    )
    reached = [campaign_id for campaign_id, (sent, *_rest) in status.items() if sent]
    engagement = _summed(
        session,
        EngagementTally,
        ("human_openers", "clickers"),
        EngagementTally.group_name == group_name,
        EngagementTally.campaign_id.in_(reached),
    )
    campaigns = session.scalars(
        sa.select(Campaign)
        .where(Campaign.id.in_(reached))
        .order_by(Campaign.started_at.desc(), Campaign.id.desc())
        .limit(max(1, last))
    ).all()
    history = []
    for c in reversed(campaigns):
        sent, open_tracked, click_tracked = status[c.id]
        openers, clickers = engagement.get(c.id, [0, 0])
        history.append(
            GroupCampaign(
                c.id,
                c.name,
                c.started_at,
                sent,
                open_tracked,
                openers,
                _rate(openers, open_tracked),
                click_tracked,
                clickers,
                _rate(clickers, click_tracked),
            )
        )
    return history


def write_trend_csv(history: list[GroupCampaign], out: IO[str]) -> None:
    """A group's history as CSV, one campaign a line (spreadsheet-safe)."""
    writer = SafeWriter(out)
    names = [f.name for f in fields(GroupCampaign)]
    writer.writerow(names)
    for row in history:
        values = asdict(row)
        writer.writerow(
            [values[n].isoformat() if isinstance(values[n], datetime) else values[n] for n in names]
        )
