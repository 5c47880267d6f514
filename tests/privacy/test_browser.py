"""A person asks for a copy of their data in a real browser (headless Chromium), verifies
the request from the emailed link and downloads the export."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from flask import Flask

from tests.conftest import SmtpSink
from tests.support.privacy import last_link, requests_of

ANA = "ana@example.org"


@pytest.mark.browser
def test_ask_for_access_verify_and_download(
    app: Flask,
    smtp_sink: SmtpSink,
    live_server: str,
    browser_page: Any,
    make_subscriber: Callable[..., int],
) -> None:
    make_subscriber(ANA, "VIP", first_name="Ana", sector="Thinkers")
    page = browser_page
    page.goto(f"{live_server}/privacy")
    page.click("text=Exercise your rights")
    page.fill("input[name=email]", ANA)
    page.click("button:has-text('Send my request')")
    page.wait_for_selector("text=choose the kind of request")  # no kind chosen: refused
    page.check("input[name=kind][value=access]")
    page.click("button:has-text('Send my request')")
    page.wait_for_selector("text=Check your inbox")

    page.goto(f"{live_server}{last_link(app, smtp_sink, ANA, 'privacy/verify')}")
    assert requests_of(app)[0].state == "unverified"  # opening the link changed nothing
    page.click("button:has-text('Confirm my request')")
    page.wait_for_selector("text=emailing you a download link")

    page.goto(f"{live_server}{last_link(app, smtp_sink, ANA, 'privacy/export')}")
    with page.expect_download() as download_info:
        page.click("text=Download as JSON")
    download = download_info.value
    assert download.suggested_filename == "my-data.json"
    document = json.loads(Path(download.path()).read_text(encoding="utf-8"))
    assert document["profile"]["email"] == ANA
    assert document["profile"]["groups"] == ["Thinkers", "VIP"]
    assert [r["state"] for r in document["requests"]] == ["completed"]
