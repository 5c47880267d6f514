"""The Links table of a campaign's statistics and a group's page over time, in headless
Chromium at a desktop and a phone width: no serious axe-core violation, nothing wider than
the window (long link addresses scroll inside their table), nothing fetched elsewhere."""

from __future__ import annotations

from typing import Any

import pytest
from flask import Flask

from outreach.consent.models import Purpose
from outreach.db import get_db
from outreach.groups.service import get_group
from tests.support.accessibility import check
from tests.support.admin import sign_in
from tests.support.links import clicked_campaign
from tests.support.statistics import Recipient, build_campaign

APRIL = [Recipient("t9@example.org", "Thinkers", (Purpose.OPEN_TRACKING,), human=1)]


@pytest.mark.browser
def test_the_links_table_and_the_group_page_are_accessible_at_every_width(
    app: Flask, live_server: str, browser_page: Any, admin_user: str
) -> None:
    from playwright.sync_api import expect

    build_campaign(app, APRIL, [], name="April letter")
    campaign_id = clicked_campaign(app)
    with get_db(app).reader() as session:
        group_id = get_group(session, "Thinkers").id
    page = browser_page
    page.set_default_timeout(10_000)
    requested: list[str] = []
    page.on("request", lambda request: requested.append(request.url))
    sign_in(page, live_server, admin_user)

    page.goto(f"{live_server}/admin/statistics")
    page.get_by_role("link", name="Thinkers", exact=True).click()
    expect(page).to_have_url(f"{live_server}/admin/statistics/groups/{group_id}")
    trend = page.get_by_role("img", name="Human open rate and click rate per campaign")
    expect(trend).to_be_visible()
    expect(trend.locator("polyline")).to_have_count(2)
    expect(page.locator("#group-trend tbody tr")).to_have_count(2)

    page.goto(f"{live_server}/admin/statistics/{campaign_id}")
    links = page.locator("#link-stats tbody tr")
    expect(links).to_have_count(6)  # two links, each with its total and two groups
    expect(links.first).to_contain_text("https://example.org/a")

    report = check(page, f"{live_server}/admin/statistics/{campaign_id}")
    report |= check(page, f"{live_server}/admin/statistics/groups/{group_id}")

    assert report == {}
    assert requested and all(url.startswith(live_server) for url in requested), requested
