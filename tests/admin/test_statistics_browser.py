"""The statistics pages in a real browser: sign in, open a campaign's statistics, find the
per-group table and both server-drawn charts, with nothing fetched from elsewhere."""

from __future__ import annotations

from typing import Any

import pytest
from flask import Flask

from tests.conftest import ADMIN_PASSWORD
from tests.support.statistics import build_campaign


@pytest.mark.browser
def test_statistics_page_shows_the_table_and_both_charts(
    app: Flask, live_server: str, browser_page: Any, admin_user: str
) -> None:
    from playwright.sync_api import expect

    campaign_id = build_campaign(app)
    page = browser_page
    page.set_default_timeout(10_000)
    requested: list[str] = []
    page.on("request", lambda request: requested.append(request.url))

    page.goto(f"{live_server}/admin/statistics")
    page.get_by_label("Email").fill(admin_user)
    page.get_by_label("Password").fill(ADMIN_PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    expect(page).to_have_url(f"{live_server}/admin/statistics")
    expect(page.get_by_role("link", name="Statistics", exact=True)).to_have_attribute(
        "aria-current", "page"
    )

    page.get_by_role("link", name="May letter", exact=True).click()
    expect(page).to_have_url(f"{live_server}/admin/statistics/{campaign_id}")
    expect(page.get_by_role("heading", level=1)).to_contain_text("May letter")

    table = page.locator("#group-stats")
    expect(table.locator("tbody tr")).to_have_count(2)
    expect(table.locator("tbody tr").first).to_contain_text("50.0% of 2 who allowed tracking")
    expect(table.locator("tfoot tr")).to_contain_text("60.0% of 5 who allowed tracking")

    bars = page.get_by_role("img", name="Human open rate per group")
    expect(bars).to_be_visible()
    assert bars.evaluate("e => e.tagName") == "svg"
    expect(bars.locator("rect.bar")).to_have_count(2)
    heights = [
        box["height"]
        for box in bars.locator("rect.bar").evaluate_all(
            "rects => rects.map(r => r.getBoundingClientRect())"
        )
    ]
    assert heights[0] > 0 and heights[1] / heights[0] == pytest.approx(0.6667 / 0.5, rel=0.02)

    series = page.get_by_role("img", name="Human opens and clicks per hour")
    expect(series).to_be_visible()
    assert series.evaluate("e => e.tagName") == "svg"
    expect(series.locator("polyline")).to_have_count(2)
    assert series.locator("polyline.opens").evaluate("e => e.getTotalLength()") > 0

    csv_link = page.get_by_role("link", name="Download CSV")
    expect(csv_link).to_have_attribute("href", f"/admin/statistics/{campaign_id}.csv")
    assert requested and all(url.startswith(live_server) for url in requested), requested
