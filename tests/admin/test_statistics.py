"""Admin › Statistics: the campaign list, the per-group table with its denominators, the two
server-drawn SVG charts, the CSV, the empty states, 404s and the login requirement.

The data goes through the services (sign-up and confirmation with tracking purposes, a
campaign with a group variant and a fallback); deliveries and hits are ledger rows as the
sender and the tracker would leave them."""

from __future__ import annotations

import csv
import html as html_lib
import io
import re
from urllib.parse import parse_qs, urlsplit

import pytest
from flask import Flask
from flask.testing import FlaskClient

from outreach.admin.stats_views import bar_chart, series_chart
from outreach.campaigns.service import create_campaign, get_campaign
from outreach.consent.models import Purpose
from outreach.db import get_db
from outreach.delivery.models import DeliveryStatus
from outreach.reporting.stats import COLUMNS, CampaignStats, GroupStats, campaign_stats
from outreach.tracking.models import HitKind
from tests.support.pages import rows_of
from tests.support.statistics import PEOPLE, Recipient, build_campaign

OPENS, CLICKS = Purpose.OPEN_TRACKING, Purpose.CLICK_TRACKING
BAR_PLOT = 180  # the bar chart's plot height for 100 %


EXPECTED_ROWS = [
    "Managers fallback 4 2 0 1 1 1 0 0 50.0% of 2 who allowed tracking "
    "1 100.0% of 1 who allowed tracking 0",
    "Thinkers Thinkers 5 4 1 0 0 2 1 1 66.7% of 3 who allowed tracking "
    "1 50.0% of 2 who allowed tracking 1",
]
EXPECTED_TOTAL = (
    "All groups 9 6 1 1 1 3 1 1 60.0% of 5 who allowed tracking 2 66.7% of 3 who allowed tracking 1"
)


def text_of(fragment: str) -> str:
    """A fragment's text, tags stripped and spaces collapsed."""
    text = html_lib.unescape(" ".join(re.sub(r"<[^>]+>", " ", fragment).split()))
    return text.replace("\u00ad", "")  # soft hyphens


def svg(page: str, svg_id: str) -> str:
    """The markup of one inline SVG of a page."""
    match = re.search(rf'<svg[^>]*id="{svg_id}".*?</svg>', page, flags=re.S)
    assert match, f"no svg #{svg_id}"
    return match.group(0)


def attrs(tag: str) -> dict[str, str]:
    return dict(re.findall(r'([\w-]+)="([^"]*)"', tag))


def page_of(client: FlaskClient, url: str) -> str:
    response = client.get(url)
    assert response.status_code == 200, response.status_code
    return response.get_data(as_text=True)


# ---------------------------------------------------------------- the list


def test_the_list_links_every_campaign_to_its_statistics(app: Flask, auth: FlaskClient) -> None:
    campaign_id = build_campaign(app)
    with app.app_context(), get_db(app).session() as session:
        draft = create_campaign(session, "Draft <b>idea</b>", "ana@example.org").id

    page = page_of(auth, "/admin/statistics")

    assert 'href="/admin/statistics" aria-current="page"' in page  # the navigation entry
    rows = rows_of(page, "statistics-campaigns")
    with get_db(app).reader() as session:  # the rates of the campaign's own report
        total = campaign_stats(session, get_campaign(session, campaign_id)).total
    rates = f"{total.open_rate:.1%} {total.click_rate:.1%}"
    assert rows == [
        "Draft &lt;b&gt;idea&lt;/b&gt; draft 0 0 - - — CSV of Draft &lt;b&gt;idea&lt;/b&gt;",
        f"May letter draft 9 6 {rates} — CSV of May letter",
    ]
    assert rates == "60.0% 66.7%"
    assert "Draft &lt;b&gt;idea&lt;/b&gt;" in page and "<b>idea" not in page
    assert f'href="/admin/statistics/{campaign_id}"' in page
    assert f'href="/admin/statistics/{campaign_id}.csv"' in page
    assert f'href="/admin/statistics/{draft}"' in page


def test_the_list_says_when_there_is_no_campaign(auth: FlaskClient) -> None:
    rows = rows_of(page_of(auth, "/admin/statistics"), "statistics-campaigns")
    assert rows == ["No campaign yet: statistics appear here once a campaign exists."]


# ---------------------------------------------------------------- one campaign


def test_the_table_shows_each_group_with_its_denominators_and_a_total(
    app: Flask, auth: FlaskClient
) -> None:
    campaign_id = build_campaign(app)

    page = page_of(auth, f"/admin/statistics/{campaign_id}")

    assert [r.replace(" (unique)", "") for r in rows_of(page, "group-stats")] == EXPECTED_ROWS
    total = page.split('id="group-stats-total"', 1)[1].split("</tr>", 1)[0]
    assert text_of("<x " + total) == EXPECTED_TOTAL
    head = text_of(page.split('id="group-stats"', 1)[1].split("</thead>", 1)[0] + ">")
    for column in (
        "Recipients",
        "Sent",
        "Failed",
        "Bounced",
        "Skipped",
        "Human opens (unique)",
        "Machine opens",
        "Machine clicks",
        "Open rate",
        "Clicks (unique)",
        "Click rate",
        "Unsubscribes",
    ):
        assert column in head
    assert "who allowed tracking" in page and "Machine opens and machine clicks (mail" in page
    assert f'href="/admin/statistics/{campaign_id}.csv"' in page
    assert f'href="/admin/campaigns/{campaign_id}"' in page
    assert "no-recipients" not in page and "nothing-sent" not in page


def test_the_bar_chart_draws_each_group_open_rate_to_scale(app: Flask, auth: FlaskClient) -> None:
    page = page_of(auth, f"/admin/statistics/{build_campaign(app)}")

    chart = svg(page, "open-rate-chart")
    opening = attrs(chart.split(">", 1)[0])
    assert opening["role"] == "img"
    assert opening["aria-label"] == "Human open rate per group"
    assert "<title>Human open rate per group</title>" in chart and "<desc>" in chart
    bars = [attrs(tag) for tag in re.findall(r"<rect[^>]*class=\"bar\"[^>]*>", chart)]
    assert [float(b["data-rate"]) for b in bars] == [0.5, 0.6667]
    heights = [float(b["height"]) for b in bars]
    assert heights == pytest.approx([0.5 * BAR_PLOT, 0.6667 * BAR_PLOT], abs=0.01)
    assert heights[1] / heights[0] == pytest.approx(0.6667 / 0.5, rel=1e-3)
    # Bars stand on one baseline, in the table's order, left to right.
    assert {round(float(b["y"]) + float(b["height"]), 1) for b in bars} == {BAR_PLOT + 24.0}
    assert float(bars[0]["x"]) < float(bars[1]["x"])
    groups = re.findall(
        r'<g class="bar-group" data-group="([^"]+)">\s*<title>([^<]+)</title>', chart
    )
    assert groups == [
        ("Managers (fallback)", "Managers (fallback): 50.0% — 1 of 2 who allowed tracking opened"),
        ("Thinkers", "Thinkers: 66.7% — 2 of 3 who allowed tracking opened"),
    ]
    labels = re.findall(r'<text class="(?:value|label)"[^>]*>([^<]*)</text>', chart)
    assert labels == ["50.0%", "Managers", "66.7%", "Thinkers"]
    assert "all 60.0%" in chart  # the overall rate, as a dashed line


def test_the_time_series_draws_human_opens_and_clicks_per_hour(
    app: Flask, auth: FlaskClient
) -> None:
    page = page_of(auth, f"/admin/statistics/{build_campaign(app)}")

    chart = svg(page, "hourly-chart")
    opening = attrs(chart.split(">", 1)[0])
    assert (opening["role"], opening["aria-label"]) == (
        "img",
        "Human opens and clicks per hour",
    )
    lines = {
        m.group(1): [tuple(map(float, p.split(","))) for p in m.group(2).split()]
        for m in re.finditer(r'<polyline class="series (\w+)" points="([^"]+)"', chart)
    }
    assert set(lines) == {"opens", "clicks"}
    # 09:00 and 11:00 had hits; 10:00 is drawn as zero, not skipped.
    assert [len(points) for points in lines.values()] == [3, 3]
    xs = [x for x, _ in lines["opens"]]
    assert xs == sorted(xs) and xs[1] - xs[0] == pytest.approx(xs[2] - xs[1])
    baseline = lines["opens"][1][1]
    assert lines["clicks"][1][1] == baseline  # zero at 10:00
    # 2 opens at 09:00 and at 11:00 (the machine open is left out); 1 click in each.
    assert lines["opens"][0][1] == lines["opens"][2][1] < lines["clicks"][0][1] < baseline
    titles = re.findall(r"<g class=\"hour\">\s*<title>([^<]+)</title>", chart)
    assert titles == [
        "2026-05-04 09:00 UTC: 2 opens, 1 clicks",
        "2026-05-04 11:00 UTC: 2 opens, 1 clicks",
    ]
    assert "Human opens (4)" in chart and "Clicks (2)" in chart
    assert rows_of(page, "hourly-table") == ["05-04 09:00 2 1", "05-04 11:00 2 1"]


def test_the_page_needs_no_script_and_nothing_from_elsewhere(app: Flask, auth: FlaskClient) -> None:
    page = page_of(auth, f"/admin/statistics/{build_campaign(app)}")

    assert "<script" not in page
    sources = re.findall(r'(?:src|href)="([^"]+)"', page)
    assert all(s.startswith(("/", "#")) for s in sources), sources
    # The only absolute URLs are the SVG namespace declarations.
    assert set(re.findall(r'"(https?://[^"]+)"', page)) == {"http://www.w3.org/2000/svg"}


def test_the_csv_is_the_report_as_an_attachment(app: Flask, auth: FlaskClient) -> None:
    campaign_id = build_campaign(app)

    response = auth.get(f"/admin/statistics/{campaign_id}.csv")

    assert response.status_code == 200
    assert response.mimetype == "text/csv"
    assert response.headers["Content-Disposition"] == (
        f'attachment; filename="campaign-{campaign_id}-statistics.csv"'
    )
    rows = list(csv.reader(io.StringIO(response.get_data(as_text=True))))
    assert rows[0] == COLUMNS
    table = [dict(zip(COLUMNS, row, strict=True)) for row in rows[1:]]
    assert [(r["group"], r["variant"]) for r in table] == [
        ("Managers", "fallback"),
        ("Thinkers", "Thinkers"),
        ("all", ""),
    ]
    assert [(r["open_tracked"], r["open_rate"], r["click_rate"]) for r in table] == [
        ("2", "0.5", "1.0"),
        ("3", "0.6667", "0.5"),
        ("5", "0.6", "0.6667"),
    ]


# ---------------------------------------------------------------- empty states


def test_a_campaign_without_recipients_says_so(app: Flask, auth: FlaskClient) -> None:
    with app.app_context(), get_db(app).session() as session:
        campaign_id = create_campaign(session, "Nothing yet", "ana@example.org").id

    page = page_of(auth, f"/admin/statistics/{campaign_id}")

    assert "This campaign has no recipients yet" in page
    assert "<svg" not in page and 'id="group-stats"' not in page
    csv_rows = list(csv.reader(io.StringIO(page_of(auth, f"/admin/statistics/{campaign_id}.csv"))))
    assert csv_rows[1:] == [
        ["all", "", "0", "0", "0", "0", "0", "0", "0", "0", "", "0", "0", "", "0", "0"]
    ]  # the last 0: machine_clicks


def test_a_campaign_not_sent_yet_says_so(app: Flask, auth: FlaskClient) -> None:
    people = [Recipient("q@example.org", "Thinkers", (OPENS,), status=DeliveryStatus.QUEUED)]
    campaign_id = build_campaign(app, people, [])

    page = page_of(auth, f"/admin/statistics/{campaign_id}")

    assert "No message of this campaign has been sent yet." in page
    assert rows_of(page, "group-stats") == [
        "Thinkers Thinkers 1 0 0 0 0 0 0 0 - of 0 who allowed tracking "
        "0 - of 0 who allowed tracking 0"
    ]
    assert 'id="no-open-tracking"' in page and 'id="no-hits"' in page and "<svg" not in page


def test_without_tracking_consent_the_rates_are_dashes_and_no_chart_is_drawn(
    app: Flask, auth: FlaskClient
) -> None:
    people = [
        Recipient("a@example.org", "Thinkers", human=2, clicks=1),  # recorded without consent
        Recipient("b@example.org", "Managers", machine=1),
    ]
    campaign_id = build_campaign(app, people, [])

    page = page_of(auth, f"/admin/statistics/{campaign_id}")

    assert [r.replace(" (unique)", "") for r in rows_of(page, "group-stats")] == [
        "Managers fallback 1 1 0 0 0 0 1 0 - of 0 who allowed tracking "
        "0 - of 0 who allowed tracking 0",
        "Thinkers Thinkers 1 1 0 0 0 0 0 0 - of 0 who allowed tracking "
        "0 - of 0 who allowed tracking 0",
    ]
    assert (
        "No recipient sent this campaign allowed open tracking, so there is no open rate"
        in text_of(page)
    )
    assert "No human open or click has been recorded yet." in page
    assert "<svg" not in page


def test_a_group_without_tracking_consent_gets_no_bar_but_says_why(
    app: Flask, auth: FlaskClient
) -> None:
    people = [
        Recipient("a@example.org", "Thinkers", (OPENS,)),  # tracked, did not open: 0 %
        Recipient("b@example.org", "Managers"),  # nobody tracked
    ]
    page = page_of(auth, f"/admin/statistics/{build_campaign(app, people, [])}")

    chart = svg(page, "open-rate-chart")
    bars = [attrs(tag) for tag in re.findall(r"<rect[^>]*class=\"bar\"[^>]*>", chart)]
    assert [(b["data-rate"], b["height"]) for b in bars] == [("0.0", "0.0")]
    assert "Managers (fallback): no open rate, none of the 1 sent allowed open tracking" in chart
    assert "not tracked" in chart
    assert 'id="no-hits"' in page and 'id="hourly-chart"' not in page


def test_names_are_escaped_in_the_table_and_the_charts(app: Flask, auth: FlaskClient) -> None:
    group = 'R&D <svg onload="alert(1)">'
    people = [Recipient("a@example.org", group, (OPENS,), human=1)]
    hits = [("a@example.org", HitKind.OPEN, False, 0)]
    campaign_id = build_campaign(app, people, hits, name="<i>Q2</i>", groups=(group,))

    page = page_of(auth, f"/admin/statistics/{campaign_id}")

    assert "onload=" not in page.replace("onload=&#34;", "").replace("onload=&quot;", "")
    assert "R&amp;D &lt;svg onload=" in page and "&lt;i&gt;Q2&lt;/i&gt;" in page
    assert len(re.findall(r"<svg", page)) == 2


# ---------------------------------------------------------------- errors and access


def test_an_unknown_campaign_is_a_404(auth: FlaskClient) -> None:
    for url in ("/admin/statistics/999", "/admin/statistics/999.csv"):
        response = auth.get(url)
        assert response.status_code == 404, url
        assert "no campaign 999" in response.get_data(as_text=True)
    assert auth.get("/admin/statistics/99999999999999999999").status_code == 404


@pytest.mark.parametrize(
    "path", ["/admin/statistics", "/admin/statistics/1", "/admin/statistics/1.csv"]
)
def test_statistics_need_a_signed_in_administrator(
    app: Flask, client: FlaskClient, path: str
) -> None:
    build_campaign(app, PEOPLE[:1], [])

    response = client.get(path)

    assert response.status_code == 302
    location = urlsplit(response.headers["Location"])
    assert location.path == "/admin/login"
    assert parse_qs(location.query)["next"] == [path]


# ---------------------------------------------------------------- chart geometry


def report_with(hourly: list[dict[str, object]]) -> CampaignStats:
    """A report with no groups and this time series."""
    total = GroupStats("all", "", 0, 0, 0, 0, 0, 0, 0, 0, None, 0, 0, None, 0)
    return CampaignStats(1, "c", [], total, hourly)


def test_one_busy_hour_is_one_point_in_the_middle() -> None:
    chart = series_chart(
        report_with([{"hour": "2026-05-04T09:00:00+00:00", "opens": 3, "clicks": 0}])
    )

    assert chart is not None and chart.unit == "hour"
    assert [(p.opens, p.clicks) for p in chart.points] == [(3, 0)]
    assert chart.points[0].x == (chart.left + chart.right) / 2
    assert [value for _, value in chart.y_ticks] == [0, 1, 2, 3]


def test_hours_with_an_offset_are_drawn_in_utc() -> None:
    chart = series_chart(
        report_with(
            [
                {"hour": "2026-05-04T11:00:00+02:00", "opens": 1, "clicks": 0},
                {"hour": "2026-05-04 10:00:00", "opens": 0, "clicks": 2},  # naive: UTC
            ]
        )
    )

    assert chart is not None
    assert [(p.at.hour, p.opens, p.clicks) for p in chart.points] == [(9, 1, 0), (10, 0, 2)]
    assert chart.rows == [
        {"at": "05-04 09:00", "opens": 1, "clicks": 0},
        {"at": "05-04 10:00", "opens": 0, "clicks": 2},
    ]


def test_a_long_span_is_drawn_per_day() -> None:
    chart = series_chart(
        report_with(
            [
                {"hour": "2026-05-04T09:00:00+00:00", "opens": 4, "clicks": 1},
                {"hour": "2026-05-04T17:00:00+00:00", "opens": 6, "clicks": 0},
                {"hour": "2026-06-20T08:00:00+00:00", "opens": 1, "clicks": 0},
            ]
        )
    )

    assert chart is not None and chart.unit == "day"
    assert len(chart.points) == 48  # 4 May to 20 June, the quiet days as zeros
    assert (chart.points[0].opens, chart.points[0].clicks) == (10, 1)
    assert chart.points[-1].opens == 1 and chart.total_opens == 11
    assert [value for _, value in chart.y_ticks] == [0, 5, 10]
    assert len(chart.x_ticks) <= 7


def test_no_hit_and_no_tracking_mean_no_chart() -> None:
    assert series_chart(report_with([])) is None
    assert (
        series_chart(report_with([{"hour": "2026-05-04T09:00:00", "opens": 0, "clicks": 0}]))
        is None
    )
    assert bar_chart(report_with([])) is None


OVERLAPS = """() => {
  const label = document.querySelector('#open-rate-chart .overall-label').getBBox();
  const hits = (b) => !(b.x + b.width <= label.x || label.x + label.width <= b.x
    || b.y + b.height <= label.y || label.y + label.height <= b.y);
  const marks = '#open-rate-chart .bar-group rect, #open-rate-chart .bar-group text';
  return [...document.querySelectorAll(marks)]
    .filter(e => hits(e.getBBox())).map(e => e.textContent || e.getAttribute('class'));
}"""


@pytest.mark.browser
def test_the_overall_rate_label_is_drawn_beside_the_bars_not_over_them(
    app: Flask, browser_page: object
) -> None:
    """The demo's five groups: "all 46.8%" was drawn over the last bar (Thinkers)."""
    from outreach.admin.stats_views import percent

    rates = {
        "Consultants": 0.52,
        "Journalists": 0.41,
        "Managers": 0.44,
        "Other": 0.39,
        "Thinkers": 0.55,
    }
    rows = [
        GroupStats(name, "", 100, 100, 0, 0, 0, round(rate * 100), 0, 100, rate, 0, 0, None, 0)
        for name, rate in rates.items()
    ]
    total = GroupStats("all", "", 500, 500, 0, 0, 0, 234, 0, 500, 0.468, 0, 0, None, 0)
    chart = bar_chart(CampaignStats(1, "c", rows, total, []))
    with app.test_request_context():
        macro = app.jinja_env.get_template("admin/statistics_charts.html").module.open_rate_chart
        svg_markup = str(macro(chart, percent))
    browser = browser_page

    browser.set_content(f"<!DOCTYPE html><html><body>{svg_markup}</body></html>")  # type: ignore[attr-defined]

    assert browser.evaluate(OVERLAPS) == []  # type: ignore[attr-defined]
    label = browser.text_content("#open-rate-chart .overall-label")  # type: ignore[attr-defined]
    assert label == "all 46.8%"
