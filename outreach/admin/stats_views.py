"""Admin › Statistics: the campaigns and the groups; per campaign the per-group table, a bar
chart of the human open rate per group, the human opens and clicks over time, the links
by clicks, and the CSVs; per group its open and click rates over its last campaigns, as a
table, a chart and a CSV.

The charts are inline SVG drawn here on the server from `campaign_stats` and `group_trend`
(no script, no library, nothing fetched): this module only turns figures into coordinates."""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, timedelta
from functools import partial
from typing import Any

import sqlalchemy as sa
from flask import render_template, request

from outreach.admin.blueprint import bp
from outreach.campaigns.models import Campaign
from outreach.campaigns.service import get_campaign
from outreach.db import get_db
from outreach.groups.service import get_group, list_groups
from outreach.reporting.links import link_stats, write_links_csv
from outreach.reporting.recipients import combined_reach
from outreach.reporting.stats import (
    CampaignStats,
    GroupCampaign,
    GroupStats,
    campaign_overview,
    campaign_stats,
    group_trend,
    percent,
    write_csv,
    write_trend_csv,
)
from outreach.spreadsheet import csv_download

# Geometry of the charts, in SVG user units (the CSS scales them to the page).
BAR_SLOT, BAR_WIDTH, BAR_MIN_WIDTH = 96, 56, 420
# BAR_RIGHT leaves room for the overall rate's label, beside the plot (never over a bar).
BAR_TOP, BAR_PLOT, BAR_LEFT, BAR_RIGHT, BAR_FOOT = 24, 180, 52, 84, 56
SERIES_WIDTH, SERIES_TOP, SERIES_PLOT, SERIES_LEFT, SERIES_RIGHT, SERIES_FOOT = (
    720,
    36,
    180,
    52,
    44,
    44,
)
LABEL_CHARS = 14
# Beyond this many hours between the first and the last hit, the series is drawn per day.
MAX_HOURLY_POINTS = 24 * 31


bp.add_app_template_filter(percent, "rate")


def _short(text: str, limit: int = LABEL_CHARS) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _label(row: GroupStats) -> str:
    """A row's name: its group, and the variant it received when that is another one."""
    if row.variant and row.variant != row.group:
        return f"{row.group} ({row.variant})"
    return row.group


@dataclass
class Frame:
    """A chart's size and the edges of its plot, in SVG user units."""

    width: int
    height: int
    top: int
    bottom: int
    left: int
    right: int


def line_frame() -> Frame:
    """The frame of the line charts: opens and clicks over time, a group's rates."""
    bottom = SERIES_TOP + SERIES_PLOT
    return Frame(
        SERIES_WIDTH,
        bottom + SERIES_FOOT,
        SERIES_TOP,
        bottom,
        SERIES_LEFT,
        SERIES_WIDTH - SERIES_RIGHT,
    )


def percent_ticks(bottom: float, plot: float) -> list[tuple[float, str]]:
    """The y axis of a 0-100 % chart: each quarter's height and label."""
    return [(round(bottom - p / 100 * plot, 2), f"{p}%") for p in (0, 25, 50, 75, 100)]


def spread(index: int, count: int, left: float, right: float) -> float:
    """The x of the index-th of `count` points spread from left to right (one: the middle)."""
    if count == 1:
        return left + (right - left) / 2
    return round(left + index / (count - 1) * (right - left), 2)


# ---------------------------------------------------------------- bar chart


@dataclass
class Bar:
    """One group's open rate; `height` 0 and `rate` None when nobody allowed tracking."""

    label: str
    short: str
    caption: str
    rate: float | None
    x: float
    y: float
    height: float
    center: float


@dataclass
class BarChart(Frame):
    """The human open rate per group on a 0-100 % scale."""

    bars: list[Bar]
    bar_width: int
    ticks: list[tuple[float, str]]
    overall: float | None
    overall_y: float | None
    description: str


def bar_chart(stats: CampaignStats) -> BarChart | None:
    """The bars, or None when no recipient that was sent the campaign allowed open tracking."""
    if not stats.total.open_tracked:
        return None
    width = max(BAR_MIN_WIDTH, BAR_LEFT + BAR_SLOT * len(stats.rows) + BAR_RIGHT)
    bottom = BAR_TOP + BAR_PLOT
    bars = []
    for i, row in enumerate(stats.rows):
        label = _label(row)
        height = round((row.open_rate or 0.0) * BAR_PLOT, 2)
        if row.open_rate is None:
            caption = f"{label}: no open rate, none of the {row.sent} sent allowed open tracking"
        else:
            caption = (
                f"{label}: {percent(row.open_rate)} — {row.unique_human_opens} of "
                f"{row.open_tracked} who allowed tracking opened"
            )
        x = BAR_LEFT + i * BAR_SLOT + (BAR_SLOT - BAR_WIDTH) / 2
        bars.append(
            Bar(
                label=label,
                short=_short(row.group),
                caption=caption,
                rate=row.open_rate,
                x=x,
                y=round(bottom - height, 2),
                height=height,
                center=x + BAR_WIDTH / 2,
            )
        )
    overall = stats.total.open_rate
    return BarChart(
        width=width,
        height=bottom + BAR_FOOT,
        top=BAR_TOP,
        bottom=bottom,
        left=BAR_LEFT,
        right=width - BAR_RIGHT,
        bars=bars,
        bar_width=BAR_WIDTH,
        ticks=percent_ticks(bottom, BAR_PLOT),
        overall=overall,
        overall_y=None if overall is None else round(bottom - overall * BAR_PLOT, 2),
        description="; ".join(b.caption for b in bars)
        + f". All groups: {percent(overall)} of {stats.total.open_tracked}.",
    )


# ---------------------------------------------------------------- time series


@dataclass
class Point:
    """One bucket of the series: its time, counts and place."""

    at: datetime
    title: str
    opens: int
    clicks: int
    x: float
    y_opens: float
    y_clicks: float


@dataclass
class SeriesChart(Frame):
    """Human opens and clicks per hour (or per day over a long span)."""

    unit: str
    points: list[Point]
    opens_line: str
    clicks_line: str
    y_ticks: list[tuple[float, int]]
    x_ticks: list[tuple[float, str]]
    total_opens: int
    total_clicks: int
    description: str = ""
    rows: list[dict[str, Any]] = field(default_factory=list)


def _hour_of(text: str) -> datetime:
    """An `hourly` bucket as an aware UTC datetime (SQLite gives text, PostgreSQL a time)."""
    moment = datetime.fromisoformat(str(text).replace(" ", "T"))
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC)


def _nice_ceiling(value: int) -> tuple[int, int]:
    """A round top for the y axis at or above `value`, and the step between its ticks."""
    if value <= 4:
        return max(value, 1), 1
    magnitude = 10 ** int(math.floor(math.log10(value / 4)))
    for factor in (1, 2, 5, 10):
        step = factor * magnitude
        if step * 4 >= value:
            return step * math.ceil(value / step), step
    raise AssertionError("unreachable")  # pragma: no cover - factor 10 always fits


def series_chart(stats: CampaignStats) -> SeriesChart | None:
    """The opens and clicks over time, or None when there is no human hit."""
    counts: dict[datetime, list[int]] = {}
    for entry in stats.hourly:
        bucket = counts.setdefault(_hour_of(entry["hour"]), [0, 0])
        bucket[0] += int(entry["opens"])
        bucket[1] += int(entry["clicks"])
    if not any(o or c for o, c in counts.values()):
        return None
    first, last = min(counts), max(counts)
    step, unit = timedelta(hours=1), "hour"
    if (last - first) / step >= MAX_HOURLY_POINTS:
        step, unit = timedelta(days=1), "day"
        daily: dict[datetime, list[int]] = {}
        for moment, (o, c) in counts.items():
            bucket = daily.setdefault(moment.replace(hour=0), [0, 0])
            bucket[0] += o
            bucket[1] += c
        counts, first, last = daily, first.replace(hour=0), last.replace(hour=0)
    times = [first + i * step for i in range(int((last - first) / step) + 1)]
    top_value, tick_step = _nice_ceiling(max(max(v) for v in counts.values()))
    frame = line_frame()

    def y_of(value: int) -> float:
        return round(frame.bottom - value / top_value * SERIES_PLOT, 2)

    label_format = "%m-%d %H:00" if unit == "hour" else "%Y-%m-%d"
    title_format = "%Y-%m-%d %H:00 UTC" if unit == "hour" else "%Y-%m-%d (UTC)"
    points = []
    for i, moment in enumerate(times):
        opens, clicks = counts.get(moment, [0, 0])
        points.append(
            Point(
                moment,
                moment.strftime(title_format),
                opens,
                clicks,
                spread(i, len(times), frame.left, frame.right),
                y_of(opens),
                y_of(clicks),
            )
        )
    every = max(1, math.ceil(len(points) / 6))
    x_ticks = [(p.x, p.at.strftime(label_format)) for p in points[::every]]
    total_opens = sum(p.opens for p in points)
    total_clicks = sum(p.clicks for p in points)
    busiest = max(points, key=lambda p: p.opens + p.clicks)
    return SeriesChart(
        **asdict(frame),
        unit=unit,
        points=points,
        opens_line=" ".join(f"{p.x},{p.y_opens}" for p in points),
        clicks_line=" ".join(f"{p.x},{p.y_clicks}" for p in points),
        y_ticks=[(y_of(v), v) for v in range(0, top_value + 1, tick_step)],
        x_ticks=x_ticks,
        total_opens=total_opens,
        total_clicks=total_clicks,
        description=(
            f"From {points[0].title} to {points[-1].title}: {total_opens} human opens and "
            f"{total_clicks} clicks in all; the busiest {unit}, {busiest.title}, had "
            f"{busiest.opens} opens and {busiest.clicks} clicks."
        ),
        rows=[
            {"at": p.at.strftime(label_format), "opens": p.opens, "clicks": p.clicks}
            for p in points
            if p.opens or p.clicks
        ],
    )


# ---------------------------------------------------------------- a group over time


@dataclass
class TrendPoint:
    """One campaign of a group's history: its place and its two rates (None: not tracked)."""

    label: str
    title: str
    x: float
    open_rate: float | None
    click_rate: float | None
    y_open: float | None
    y_click: float | None


@dataclass
class TrendChart(Frame):
    """A group's human open and click rates over its last campaigns, on a 0-100 % scale."""

    points: list[TrendPoint]
    opens_line: str
    clicks_line: str
    ticks: list[tuple[float, str]]
    description: str


def _rate_caption(name: str, rate: float | None, part: int, whole: int) -> str:
    if rate is None:
        return f"no {name} rate (nobody sent it allowed that tracking)"
    return f"{name} rate {percent(rate)} ({part} of {whole})"


def trend_chart(history: list[GroupCampaign]) -> TrendChart | None:
    """The two lines, or None when no campaign of the history has either rate."""
    if all(h.open_rate is None and h.click_rate is None for h in history):
        return None
    frame = line_frame()

    def y_of(rate: float | None) -> float | None:
        return None if rate is None else round(frame.bottom - rate * SERIES_PLOT, 2)

    every = max(1, math.ceil(len(history) / 6))
    points = []
    for i, h in enumerate(history):
        started = h.sent_at.strftime("%Y-%m-%d") if h.sent_at else "not started"
        title = (
            f"{h.name} ({started}): "
            f"{_rate_caption('open', h.open_rate, h.human_openers, h.open_tracked)}, "
            f"{_rate_caption('click', h.click_rate, h.clickers, h.click_tracked)}"
        )
        points.append(
            TrendPoint(
                _short(h.name) if i % every == 0 else "",
                title,
                spread(i, len(history), frame.left, frame.right),
                h.open_rate,
                h.click_rate,
                y_of(h.open_rate),
                y_of(h.click_rate),
            )
        )
    return TrendChart(
        **asdict(frame),
        points=points,
        # A campaign without a rate leaves its point out of that line (not a zero).
        opens_line=" ".join(f"{p.x},{p.y_open}" for p in points if p.y_open is not None),
        clicks_line=" ".join(f"{p.x},{p.y_click}" for p in points if p.y_click is not None),
        ticks=percent_ticks(frame.bottom, SERIES_PLOT),
        description="; ".join(p.title for p in points) + ".",
    )


# ---------------------------------------------------------------- pages


@bp.get("/statistics")
def statistics() -> Any:
    """Every campaign and every group, each with a link to its statistics."""
    with get_db().reader() as session:
        rows = campaign_overview(session)
        groups = list_groups(session)
    return render_template("admin/statistics.html", campaigns=rows, groups=groups)


@bp.get("/statistics/<int:campaign_id>")
def campaign_statistics(campaign_id: int) -> Any:
    """The per-group table, the open-rate bars, the opens and clicks over time, the links."""
    with get_db().reader() as session:
        campaign = get_campaign(session, campaign_id)
        stats = campaign_stats(session, campaign)
        links = link_stats(session, campaign)
        original = session.get(Campaign, campaign.followup_of) if campaign.followup_of else None
        combined = combined_reach(session, original.id, campaign.id) if original else []
        followups = session.scalars(
            sa.select(Campaign).where(Campaign.followup_of == campaign.id).order_by(Campaign.id)
        ).all()
    return render_template(
        "admin/statistics_campaign.html",
        campaign=campaign,
        stats=stats,
        links=links,
        original=original,
        combined=combined,
        followups=followups,
        bars=bar_chart(stats),
        series=series_chart(stats),
        percent=percent,
        label_of=_label,
    )


@bp.get("/statistics/<int:campaign_id>.csv")
def campaign_statistics_csv(campaign_id: int) -> Any:
    """The per-group table as CSV, as `outreach stats --csv` prints it."""
    with get_db().reader() as session:
        stats = campaign_stats(session, get_campaign(session, campaign_id))
    return csv_download(partial(write_csv, stats), f"campaign-{campaign_id}-statistics.csv")


@bp.get("/statistics/<int:campaign_id>/links.csv")
def campaign_links_csv(campaign_id: int) -> Any:
    """The links table as CSV, as `outreach stats --links --csv` prints it."""
    with get_db().reader() as session:
        links = link_stats(session, get_campaign(session, campaign_id))
    return csv_download(partial(write_links_csv, links), f"campaign-{campaign_id}-links.csv")


TREND_LAST, TREND_MOST = 12, 200  # campaigns shown by default, and at most (as the API)


def _last() -> int:
    """How many of its last campaigns the page shows (?last=N, as `groups trend --last`)."""
    asked = request.args.get("last", TREND_LAST, type=int)
    return min(max(asked, 1), TREND_MOST)


@bp.get("/statistics/groups/<int:group_id>")
def group_statistics(group_id: int) -> Any:
    """A group's human open and click rates over its last campaigns: table and chart."""
    last = _last()
    with get_db().reader() as session:
        group = get_group(session, group_id)
        history = group_trend(session, group.name, last)
    return render_template(
        "admin/statistics_group.html",
        group=group,
        history=history,
        last=last,
        chart=trend_chart(history),
        percent=percent,
    )


@bp.get("/statistics/groups/<int:group_id>.csv")
def group_statistics_csv(group_id: int) -> Any:
    """The group's history as CSV, as `outreach groups trend --csv` prints it."""
    with get_db().reader() as session:
        group = get_group(session, group_id)
        history = group_trend(session, group.name, _last())
    return csv_download(partial(write_trend_csv, history), f"group-{group_id}-trend.csv")
