"""The campaign composer in a real browser: a variant per group, each previewed live."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from tests.conftest import ADMIN_PASSWORD

CSV = (
    "email,first_name,last_name,sector\n"
    "tina@example.org,Tina,Thorne,Thinkers\n"
    "mario@example.org,Mario,Mendez,Managers\n"
)
BODY = """<mjml><mj-body><mj-section><mj-column>
<mj-text><h1>{title}, {{{{ contact.first_name }}}}</h1><p>Written for {{{{ group.name }}}}.</p>
<a href="{{{{ unsubscribe_url }}}}">Unsubscribe</a></mj-text>
</mj-column></mj-section></mj-body></mjml>"""


@pytest.mark.browser
def test_two_groups_two_variants_two_previews(
    live_server: str, browser_page: Any, admin_user: str, seed: Callable[..., object]
) -> None:
    from playwright.sync_api import expect

    seed(CSV, status="subscribed")
    page = browser_page
    page.set_default_timeout(10_000)
    page.goto(f"{live_server}/admin/campaigns")
    page.get_by_label("Email").fill(admin_user)
    page.get_by_label("Password").fill(ADMIN_PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    expect(page).to_have_url(f"{live_server}/admin/campaigns")

    form = page.locator("#new-campaign")
    form.get_by_label("Name").fill("Autumn letter")
    form.get_by_label("From").fill("Ana García <ana@example.org>")
    form.get_by_label("Target groups").fill("Thinkers, Managers")
    form.get_by_role("button", name="Create campaign").click()
    expect(page.get_by_role("heading", level=1)).to_contain_text("Autumn letter")
    expect(page.locator("#audience-table tbody tr")).to_have_count(2)

    panels = {}
    for group, title, subject in (
        ("Thinkers", "Ideas worth a coffee", "Ideas for {{ contact.first_name }}"),
        ("Managers", "Numbers that matter", "Numbers for {{ contact.first_name }}"),
    ):
        tab = page.get_by_role("tab", name=group)
        tab.click()  # the tab script shows the panel without a page load
        panels[group] = f"#{tab.get_attribute('aria-controls')}"
        panel = page.locator(panels[group])
        expect(panel).to_be_visible()
        panel.get_by_label("Subject").fill(subject)
        panel.get_by_label("MJML").fill(BODY.format(title=title))
        panel.get_by_role("button", name="Save variant").click()
        expect(page.locator(panels[group])).to_contain_text(f"Variant {group} saved.")

    recipients = page.locator("#audience-table tbody tr td:nth-child(2)")
    expect(recipients).to_have_text(["1", "1"])
    expect(page.locator("#checks")).to_contain_text("Ready")

    previews = {}
    for group, first_name, email in (
        ("Managers", "Mario", "mario@example.org"),
        ("Thinkers", "Tina", "tina@example.org"),
    ):
        page.get_by_role("tab", name=group).click()
        panel = page.locator(panels[group])
        frame = page.frame_locator(f"{panels[group]} iframe")
        expect(frame.locator("h1")).to_contain_text("Alex")  # the sample contact first
        panel.get_by_label("Show it to").select_option(email)  # the script reloads the frame
        expect(frame.locator("h1")).to_contain_text(first_name)
        previews[group] = frame.locator("body").inner_text()

    assert "Ideas worth a coffee, Tina" in previews["Thinkers"]
    assert "Written for Thinkers." in previews["Thinkers"]
    assert "Numbers that matter, Mario" in previews["Managers"]
    assert "Written for Managers." in previews["Managers"]
    assert "Mario" not in previews["Thinkers"] and "Tina" not in previews["Managers"]
    assert previews["Thinkers"] != previews["Managers"]
    assert page.locator("iframe[sandbox='']").count() == 2  # no allow-scripts anywhere
    assert page.locator("iframe:not([sandbox=''])").count() == 0
