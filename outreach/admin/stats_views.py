"""Admin › Statistics: the campaigns, and per campaign the per-group table, a bar chart of
the human open rate per group, the human opens and clicks over time, and the CSV.

The charts are inline SVG drawn here on the server from `campaign_stats` (no script, no
library, nothing fetched): this module only turns its figures into coordinates."""

from __future__ import annotations

import io
import math
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from flask import make_response, render_template

from outreach.admin.blueprint import bp
from outreach.campaigns.service import get_campaign
from outreach.db import get_db
from outreach.reporting.stats import (
    CampaignStats,
    GroupStats,
    campaign_overview,
    campaign_stats,
    percent,
    write_csv,
)

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
class BarChart:
    """The human open rate per group on a 0-100 % scale."""

    width: int
    height: int
    top: int
    bottom: int
    left: int
    right: int
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
        ticks=[(round(bottom - p / 100 * BAR_PLOT, 2), f"{p}%") for p in (0, 25, 50, 75, 100)],
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
class SeriesChart:
    """Human opens and clicks per hour (or per day over a long span)."""

    width: int
    height: int
    top: int
    bottom: int
    left: int
    right: int
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
    bottom = SERIES_TOP + SERIES_PLOT
    right = SERIES_WIDTH - SERIES_RIGHT
    span = right - SERIES_LEFT

    def y_of(value: int) -> float:
        return round(bottom - value / top_value * SERIES_PLOT, 2)

    def x_of(index: int) -> float:
        if len(times) == 1:
            return SERIES_LEFT + span / 2
        return round(SERIES_LEFT + index / (len(times) - 1) * span, 2)

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
                x_of(i),
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
        width=SERIES_WIDTH,
        height=bottom + SERIES_FOOT,
        top=SERIES_TOP,
        bottom=bottom,
        left=SERIES_LEFT,
        right=right,
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


# ---------------------------------------------------------------- pages


@bp.get("/statistics")
def statistics() -> Any:
    """Every campaign, with a link to its statistics."""
    with get_db().reader() as session:
        rows = campaign_overview(session)
    return render_template("admin/statistics.html", campaigns=rows)


@bp.get("/statistics/<int:campaign_id>")
def campaign_statistics(campaign_id: int) -> Any:
    """The per-group table, the open-rate bars and the opens and clicks over time."""
    with get_db().reader() as session:
        campaign = get_campaign(session, campaign_id)
        stats = campaign_stats(session, campaign)
    return render_template(
        "admin/statistics_campaign.html",
        campaign=campaign,
        stats=stats,
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
    return csv_response(stats)


def csv_response(stats: CampaignStats) -> Any:
    """The report as a CSV attachment."""
    out = io.StringIO()
    write_csv(stats, out)
    response = make_response(out.getvalue())
    response.mimetype = "text/csv"
    response.headers["Content-Disposition"] = (
        f'attachment; filename="campaign-{stats.campaign_id}-statistics.csv"'
    )
    return response
