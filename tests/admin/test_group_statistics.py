"""Admin › Statistics › a group over time (issue 18, item 6): its human open and click
rates over its last campaigns as a table, a chart drawn on the server and a CSV, linked
from the statistics list."""

from __future__ import annotations

import csv
import io
import re
from datetime import UTC, datetime, timedelta

import sqlalchemy as sa
from flask import Flask
from flask.testing import FlaskClient

from outreach.admin.stats_views import trend_chart
from outreach.campaigns.models import Campaign
from outreach.consent.models import Purpose
from outreach.db import get_db
from outreach.groups.service import get_group, sector_group_ids
from outreach.reporting.stats import GroupCampaign, group_trend
from tests.support.pages import rows_of
from tests.support.statistics import Recipient, build_campaign

OPENS, CLICKS = Purpose.OPEN_TRACKING, Purpose.CLICK_TRACKING
JUNE = [
    Recipient("t6@example.org", "Thinkers", (OPENS, CLICKS)),
    Recipient("t7@example.org", "Thinkers", (OPENS,), human=1),
]
SERIES_TOP, SERIES_PLOT = 36, 180  # the chart's plot: 100 % at the top, 0 % at the bottom


def two_campaigns(app: Flask) -> tuple[int, int]:
    """May (tests/support/statistics' people) and June, a month apart; their ids."""
    may = build_campaign(app)
    june = build_campaign(app, JUNE, [], name="June letter")
    with get_db(app).session() as session:
        for campaign_id, day in ((may, 4), (june, 1)):
            started = datetime(2026, 5 if campaign_id == may else 6, day, 8, tzinfo=UTC)
            session.execute(
                sa.update(Campaign).where(Campaign.id == campaign_id).values(started_at=started)
            )
    return may, june


def thinkers_id(app: Flask) -> int:
    with get_db(app).reader() as session:
        return get_group(session, "Thinkers").id


def test_the_group_page_shows_its_rates_per_campaign_and_charts_them(
    app: Flask, auth: FlaskClient
) -> None:
    may, june = two_campaigns(app)
    group_id = thinkers_id(app)

    response = auth.get(f"/admin/statistics/groups/{group_id}")

    assert response.status_code == 200
    page = response.get_data(as_text=True)
    assert rows_of(page, "group-trend") == [
        "May letter 2026-05-04 08:00:00 UTC 4 66.7% 2 of 3 who allowed tracking "
        "50.0% 1 of 2 who allowed tracking",
        "June letter 2026-06-01 08:00:00 UTC 2 50.0% 1 of 2 who allowed tracking "
        "0.0% 0 of 1 who allowed tracking",
    ]
    assert f'href="/admin/statistics/{may}"' in page and f'href="/admin/statistics/{june}"' in page
    chart = re.search(r'<svg[^>]*id="group-trend-chart".*?</svg>', page, flags=re.S)
    assert chart, "no chart"
    svg = chart.group(0)
    opens = re.findall(r'class="marker opens" cx="([\d.]+)" cy="([\d.]+)"', svg)
    assert [float(y) for _, y in opens] == [
        round(SERIES_TOP + SERIES_PLOT * (1 - rate), 2) for rate in (0.6667, 0.5)
    ]
    assert float(opens[0][0]) < float(opens[1][0])  # oldest on the left
    assert re.findall(r'class="marker clicks"[^>]*data-rate="([\d.]+)"', svg) == ["0.5", "0.0"]
    assert "May letter (2026-05-04): open rate 66.7% (2 of 3)" in svg
    assert "<script" not in page


def test_the_group_csv_and_the_link_from_the_statistics_list(app: Flask, auth: FlaskClient) -> None:
    two_campaigns(app)
    group_id = thinkers_id(app)

    listing = auth.get("/admin/statistics").get_data(as_text=True)
    assert f'href="/admin/statistics/groups/{group_id}"' in listing
    assert any(row.startswith("Thinkers sector") for row in rows_of(listing, "statistics-groups"))
    page = auth.get(f"/admin/statistics/groups/{group_id}?last=1").get_data(as_text=True)
    assert [row.split(" 20")[0] for row in rows_of(page, "group-trend")] == ["June letter"]
    assert f'href="/admin/statistics/groups/{group_id}.csv?last=1"' in page

    response = auth.get(f"/admin/statistics/groups/{group_id}.csv")

    assert response.status_code == 200 and response.mimetype == "text/csv"
    assert response.headers["Content-Disposition"] == (
        f'attachment; filename="group-{group_id}-trend.csv"'
    )
    rows = list(csv.DictReader(io.StringIO(response.get_data(as_text=True))))
    with get_db(app).reader() as session:
        history = group_trend(session, "Thinkers")
    assert [(r["name"], r["open_rate"], r["clickers"]) for r in rows] == [
        ("May letter", "0.6667", "1"),
        ("June letter", "0.5", "0"),
    ]
    assert [r["campaign_id"] for r in rows] == [str(h.campaign_id) for h in history]


def test_a_group_no_campaign_reached_says_so_and_unknown_groups_are_404(
    app: Flask, auth: FlaskClient
) -> None:
    build_campaign(app)
    with get_db(app).reader() as session:
        managers = get_group(session, "Managers").id  # reached, but only by the fallback
    with get_db(app).session() as session:
        quiet = sector_group_ids(session, ["Journalists"])["journalists"]

    page = auth.get(f"/admin/statistics/groups/{quiet}").get_data(as_text=True)
    assert 'id="no-campaign"' in page and "<svg" not in page
    assert rows_of(auth.get(f"/admin/statistics/groups/{managers}").get_data(as_text=True))
    for path in ("/admin/statistics/groups/999", "/admin/statistics/groups/999.csv"):
        assert auth.get(path).status_code == 404, path
    assert auth.get("/admin/statistics/groups/99999999999999999999").status_code == 404


def test_the_group_page_needs_a_signed_in_administrator(app: Flask) -> None:
    client = app.test_client()
    for path in ("/admin/statistics/groups/1", "/admin/statistics/groups/1.csv"):
        response = client.get(path)
        assert response.status_code == 302 and "/admin/login" in response.headers["Location"]


def campaign(rate: float | None, clicks: float | None, number: int) -> GroupCampaign:
    started = datetime(2026, 1, 1, tzinfo=UTC) + timedelta(days=number)
    return GroupCampaign(number, f"C{number}", started, 10, 10, 0, rate, 10, 0, clicks)


def test_a_campaign_without_tracking_leaves_a_gap_and_none_at_all_draws_nothing() -> None:
    chart = trend_chart([campaign(0.5, None, 1), campaign(None, None, 2), campaign(1.0, 0.25, 3)])

    assert chart is not None
    assert [p.y_open for p in chart.points] == [126.0, None, 36.0]
    assert len(chart.opens_line.split()) == 2 and len(chart.clicks_line.split()) == 1
    assert "no open rate (nobody sent it allowed that tracking)" in chart.points[1].title
    assert trend_chart([campaign(None, None, 1)]) is None
    assert trend_chart([]) is None
