"""The import wizard in a real browser: upload a LinkedIn export, preview how it reads
(preset, layout, sectors from positions), change a column's field, import, and find the
import in the history with its rejected rows as CSV."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from sqlalchemy.orm import Session

from tests.support.admin import sign_in
from tests.support.exports import EXPORTS, LINKEDIN, SOURCE, check


@pytest.mark.browser
def test_preview_change_a_column_import_and_see_the_history(
    live_server: str, browser_page: Any, admin_user: str
) -> None:
    from playwright.sync_api import expect

    page = browser_page
    page.set_default_timeout(10_000)
    sign_in(page, live_server, admin_user)
    page.goto(f"{live_server}/admin/contacts/import")

    page.locator("input[name=file]").set_input_files(
        files=[{"name": "Connections.csv", "mimeType": "text/csv", "buffer": LINKEDIN.encode()}]
    )
    page.locator("input[name=source]").fill("LinkedIn connections")
    page.get_by_role("button", name="Preview").click()
    preview = page.locator("#preview")
    expect(preview.locator("#preview-layout")).to_contain_text("Preset: LinkedIn Connections")
    expect(preview.locator("#preview-layout")).to_contain_text("3 lines before the header")
    expect(preview.locator("#preview-layout")).to_contain_text("1 of 2 rows can be imported")
    expect(preview.locator("#preview-status")).to_contain_text("pending")
    expect(preview.locator("#preview-sectors")).to_contain_text("1 Journalists")
    expect(preview.locator("#preview-rows")).to_contain_text("lucia@example.org")
    expect(preview.locator("#preview-rows")).to_contain_text("Journalists (rule)")

    page.get_by_label("Read Connected On as").fill("ignore")
    page.get_by_role("button", name="Preview again").click()
    connected = page.locator("#preview-columns tr", has_text="Connected On")
    expect(connected.locator("td").nth(1)).to_have_text("ignored")
    page.locator("#import-previewed").click()

    report = page.locator("#report")
    expect(report).to_contain_text("1 created")
    expect(report.locator("#report-preset")).to_contain_text("LinkedIn Connections")
    expect(report.locator("#report-sectors")).to_contain_text("1 Journalists")
    expect(report.locator("#report-hint")).to_contain_text("consent invite")
    history = page.locator("#history")
    expect(history).to_contain_text("Connections.csv")
    expect(history).to_contain_text("LinkedIn connections")
    with page.expect_download() as download:
        report.get_by_role("link", name="Download the rejected rows (CSV)").click()
    text = Path(download.value.path()).read_text(encoding="utf-8")
    assert text.splitlines()[0] == "line,column,problem,reason"
    assert text.splitlines()[1].startswith("6,Email Address,invalid,")
    page.goto(f"{live_server}/admin/contacts?q=lucia")
    page.get_by_role("link", name="lucia@example.org").click()
    expect(page.locator("body")).not_to_contain_text("connected_on")


LABELS = {"sheet": "Sheet of a workbook", "sector_from": "Sectors from columns"}


@pytest.mark.browser
def test_every_export_of_the_catalog_through_the_wizard(
    live_server: str, browser_page: Any, admin_user: str, session: Session
) -> None:
    """Each file of tests/support/exports.py: uploaded, previewed with its preset and
    layout, imported, reported; then its contacts, groups and ledger checked."""
    from playwright.sync_api import expect

    page = browser_page
    page.set_default_timeout(10_000)
    sign_in(page, live_server, admin_user)
    for export in EXPORTS:
        page.goto(f"{live_server}/admin/contacts/import")
        page.locator("input[name=file]").set_input_files(
            files=[{"name": export.file_name, "mimeType": "text/csv", "buffer": export.data}]
        )
        page.locator("input[name=source]").fill(SOURCE)
        if export.options:
            page.get_by_text("How to read the file").click()
        for name, value in export.options.items():
            page.get_by_label(LABELS[name]).fill(value)
        page.get_by_role("button", name="Preview").click()
        layout = page.locator("#preview #preview-layout")
        expect(layout).to_contain_text(export.layout)
        if export.preset:
            expect(layout).to_contain_text(f"Preset: {export.preset}")
        page.locator("#import-previewed").click()
        report = page.locator("#report")
        expect(report).to_contain_text(f"{export.counts['created']} created")
        if export.preset:
            expect(report.locator("#report-preset")).to_contain_text(export.preset)
        check(session, export)
