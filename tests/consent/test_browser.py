"""A person subscribes in a real browser (headless Chromium) and confirms from the email."""

from __future__ import annotations

from typing import Any

import pytest
from flask import Flask

from tests.conftest import SmtpSink
from tests.support.consent import contact_row, link, mails_to, seed_sectors


@pytest.fixture
def app(mail_app: Flask) -> Flask:
    seed_sectors(mail_app)
    return mail_app


@pytest.mark.browser
def test_subscribe_confirm_welcome(
    app: Flask, smtp_sink: SmtpSink, live_server: str, browser_page: Any
) -> None:
    page = browser_page
    page.goto(f"{live_server}/subscribe")
    page.fill("input[name=email]", "lucia@example.org")
    page.fill("input[name=first_name]", "Lucía")
    page.select_option("select[name=sector]", "Thinkers")
    page.click("button:has-text('Subscribe')")
    page.wait_for_selector("text=tick the box")  # the box was not ticked: refused
    page.check("input[name=consent_newsletter]")
    page.click("button:has-text('Subscribe')")
    page.wait_for_selector("text=Check your inbox")

    confirm_path = link(mails_to(app, smtp_sink, "lucia@example.org")[0], "confirm")
    page.goto(f"{live_server}{confirm_path}")
    assert contact_row(app, "lucia@example.org").status == "pending"
    page.click("button:has-text('Confirm')")
    page.wait_for_selector("text=Welcome, Lucía!")
    assert contact_row(app, "lucia@example.org").status == "subscribed"
