"""The contacts pages in a real browser: sign in, import, filter, open a contact."""

from __future__ import annotations

from typing import Any

import pytest

from tests.conftest import ADMIN_PASSWORD

CSV = (
    "email,first_name,last_name,sector,organization\n"
    "ana@example.org,Ana,García,Consultants,Acme\n"
    "bruno@example.org,Bruno,Martin,Journalists,Daily\n"
    "carla@example.org,Carla,Rossi,Consultants,Studio\n"
    "broken,Nobody,,,\n"
)


@pytest.mark.browser
def test_import_then_browse_contacts(live_server: str, browser_page: Any, admin_user: str) -> None:
    from playwright.sync_api import expect

    page = browser_page
    page.set_default_timeout(10_000)
    page.goto(f"{live_server}/admin/contacts/import")
    page.get_by_label("Email").fill(admin_user)
    page.get_by_label("Password").fill(ADMIN_PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    expect(page).to_have_url(f"{live_server}/admin/contacts/import")

    page.locator("input[name=file]").set_input_files(
        files=[{"name": "fair.csv", "mimeType": "text/csv", "buffer": CSV.encode()}]
    )
    page.locator("input[name=source]").fill("Madrid fair 2024")
    page.get_by_role("radio", name="subscribed — the source is").check()
    page.get_by_role("button", name="Import").click()
    report = page.locator("#report")
    expect(report).to_contain_text("3 created")
    expect(report).to_contain_text("1 invalid")
    expect(report.locator("#problems")).to_contain_text("broken")

    report.get_by_role("link", name="See the contacts").click()
    expect(page.locator("#count")).to_contain_text("3 contacts match")
    page.get_by_label("Group").select_option(label="Consultants (sector, 2)")
    page.get_by_role("button", name="Filter").click()
    expect(page.locator("#count")).to_contain_text("2 contacts match")
    expect(page.locator("tbody tr")).to_have_count(2)

    page.get_by_role("link", name="carla@example.org").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Carla Rossi")
    expect(page.locator("#groups")).to_contain_text("Consultants")
    expect(page.locator("#consent")).to_contain_text("newsletter confirmed")
    expect(page.locator("#consent")).to_contain_text("import:fair.csv (Madrid fair 2024)")
