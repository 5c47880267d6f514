"""The public pages and the admin's main screens in headless Chromium at 1280 and 375 px:
axe-core finds no serious or critical violation, and nothing overflows horizontally."""

from __future__ import annotations

from typing import Any

import pytest
from flask import Flask

from outreach.consent import links
from tests.conftest import ADMIN_PASSWORD, SmtpSink
from tests.support.accessibility import WIDTHS, check, problems
from tests.support.consent import html_of, mails_to, seed_sectors, subscribe, subscribed


@pytest.fixture
def app(mail_app: Flask) -> Flask:
    seed_sectors(mail_app)
    return mail_app


@pytest.fixture
def subscriber(app: Flask) -> int:
    return subscribed(app)


@pytest.mark.browser
def test_public_pages(app: Flask, subscriber: int, live_server: str, browser_page: Any) -> None:
    settings = app.extensions["outreach.settings"]
    paths = [
        "/subscribe",
        links.confirm_url(settings, subscriber),
        links.preferences_url(settings, subscriber),
        links.unsubscribe_url(settings, subscriber),
        "/privacy",
        "/privacy/request",
    ]
    report: dict[str, list[str]] = {}
    for path in paths:
        report |= check(browser_page, live_server + path.removeprefix(settings.base_url))

    assert report == {}


@pytest.mark.browser
@pytest.mark.parametrize("width", [375, 800])
def test_the_confirmation_email_fits_a_phone(
    app: Flask, smtp_sink: SmtpSink, browser_page: Any, width: int
) -> None:
    """The long "paste this address" link wraps instead of widening the message."""
    subscribe(app.test_client())
    [confirmation] = mails_to(app, smtp_sink, "ana@example.org")
    page = browser_page
    page.set_viewport_size({"width": width, "height": 900})

    page.set_content(html_of(confirmation))

    assert page.evaluate("document.documentElement.scrollWidth") <= width


@pytest.mark.browser
def test_admin_dashboard_and_composer(
    app: Flask, admin_user: str, live_server: str, browser_page: Any
) -> None:
    page = browser_page
    page.goto(f"{live_server}/admin/login")
    page.fill("input[name=email]", admin_user)
    page.fill("input[name=password]", ADMIN_PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url(f"{live_server}/admin/")
    page.goto(f"{live_server}/admin/campaigns")
    page.fill("input[name=name]", "June news")
    page.fill("input[name=sender]", "Ana <ana@example.org>")
    page.fill("input[name=groups]", "Thinkers")
    page.locator("form", has=page.locator("input[name=sender]")).locator("button").click()
    page.wait_for_url("**/admin/campaigns/*")
    composer = page.url

    report = check(page, f"{live_server}/admin/") | check(page, composer)

    assert report == {}


@pytest.mark.browser
def test_a_campaign_message_from_the_starter_layout(
    app: Flask, smtp_sink: SmtpSink, browser_page: Any, tmp_path: Any
) -> None:
    """A real document: doctype, the subject as its title, a language; it fits a phone."""
    from outreach.campaigns.service import default_layout
    from outreach.db import get_db

    with get_db(app).reader() as session:
        (tmp_path / "letter.mjml").write_text(default_layout(session))
    runner = app.test_cli_runner()
    created = runner.invoke(
        args=[
            "campaigns",
            "create",
            "June letter",
            "--from",
            "Ana <ana@example.org>",
            "--groups",
            "Thinkers",
        ]
    )
    assert created.exit_code == 0, created.output
    campaign = created.output.strip()
    added = runner.invoke(
        args=[
            "campaigns",
            "variant",
            campaign,
            "--group",
            "Thinkers",
            "--subject",
            "Ideas for {{ contact.first_name }}",
            "--mjml",
            str(tmp_path / "letter.mjml"),
        ]
    )
    assert added.exit_code == 0, added.output
    sent = runner.invoke(args=["campaigns", "test", campaign, "--to", "qa@example.org"])
    assert sent.exit_code == 0, sent.output
    [message] = mails_to(app, smtp_sink, "qa@example.org")
    page = browser_page
    report = {}
    for width in WIDTHS:
        page.set_viewport_size({"width": width, "height": 900})
        page.set_content(html_of(message))
        assert page.title() == "[TEST] Ideas for Alex"
        assert page.evaluate("document.documentElement.lang") == "en"
        assert page.evaluate("document.doctype && document.doctype.name") == "html"
        if found := problems(page):
            report[f"campaign message @ {width}px"] = found

    assert report == {}
