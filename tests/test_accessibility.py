"""The public pages and the admin's main screens in headless Chromium at 1280 and 375 px:
axe-core finds no serious or critical violation, and nothing overflows horizontally."""

from __future__ import annotations

from typing import Any

import pytest
from flask import Flask

from outreach.consent import links
from tests.conftest import ADMIN_PASSWORD, SmtpSink
from tests.consent.helpers import html_of, mails_to, seed_sectors, subscribe

WIDTHS = (1280, 375)
SERIOUS = ("serious", "critical")
# A flex or grid label makes each text run and link its own column ("…have read the |
# privacy policy | .").
SPLIT_LABELS = """() => [...document.querySelectorAll('label')].filter(label => {
  const style = getComputedStyle(label);
  const row = style.display.includes('flex') && !style.flexDirection.startsWith('column');
  const columns = style.display.includes('grid') && style.gridTemplateColumns.split(' ').length > 1;
  if (!row && !columns) return false;
  const runs = [...label.childNodes].filter(n => n.nodeType === 3 ? n.textContent.trim()
    : n.nodeType === 1 && !['INPUT', 'SELECT', 'TEXTAREA'].includes(n.tagName));
  return runs.length > 1;
}).map(label => label.textContent.trim().slice(0, 60))"""
WIDEST = """() => [...document.querySelectorAll('body *')]
  .filter(e => e.getBoundingClientRect().right > window.innerWidth + 1)
  .filter(e => ![...e.children].some(c => c.getBoundingClientRect().right > window.innerWidth + 1))
  .slice(0, 4).map(e => e.tagName.toLowerCase() + (e.className ? '.' + e.className : '')
    + ' ' + Math.round(e.getBoundingClientRect().right) + 'px')"""


@pytest.fixture
def app(mail_app: Flask) -> Flask:
    seed_sectors(mail_app)
    return mail_app


@pytest.fixture
def subscriber(app: Flask) -> int:
    from tests.consent.test_unsubscribe import subscribed

    return subscribed(app)


def problems(page: Any) -> list[str]:
    """Serious axe-core violations and horizontal overflow of the page shown."""
    from axe_playwright_python.sync_playwright import Axe

    found = [
        f"{v['id']} ({v['impact']}): {v['help']} — {v['nodes'][0]['target']}"
        for v in Axe().run(page).response["violations"]
        if v["impact"] in SERIOUS
    ]
    found += [f"a label split into columns: {text!r}" for text in page.evaluate(SPLIT_LABELS)]
    width = page.evaluate("[document.documentElement.scrollWidth, window.innerWidth]")
    if width[0] > width[1]:
        wide = page.evaluate(WIDEST)
        found.append(f"horizontal overflow: {width[0]} px wide in a {width[1]} px window: {wide}")
    return found


def check(page: Any, url: str) -> dict[str, list[str]]:
    """url at every width -> its problems (only those with any)."""
    report = {}
    for width in WIDTHS:
        page.set_viewport_size({"width": width, "height": 900})
        page.goto(url)
        page.wait_for_load_state("networkidle")
        if found := problems(page):
            report[f"{url} @ {width}px"] = found
    return report


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
