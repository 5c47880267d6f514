"""The composer's pre-send checks and starter layout: what blocks, what warns, plain text."""

from __future__ import annotations

import html as html_lib
import re
from collections.abc import Callable

import pytest
from flask import Flask
from flask.testing import FlaskClient

from outreach.db import get_db
from tests.conftest import CONTROLLER
from tests.support.admin import create, group_ids, panel, save_variant
from tests.support.pages import Transaction

PEOPLE = (
    "email,first_name,last_name,sector,organization\n"
    "tina@example.org,Tina,Thorne,Thinkers,Northwind\n"
    "theo@example.org,Theo,Tal,Thinkers,\n"
)
LETTER = """<mjml><mj-body><mj-section><mj-column>
<mj-text><p>Dear {{ contact.first_name }}</p>
<a href="{{ unsubscribe_url }}">Unsubscribe</a></mj-text>
</mj-column></mj-section></mj-body></mjml>"""


def checks(html: str) -> str:
    """The pre-send checks of the composer page, tags stripped."""
    block = html.split('id="checks"', 1)[1].split(">", 1)[1].split("</section>", 1)[0]
    return html_lib.unescape(" ".join(re.sub(r"<[^>]+>", " ", block).split()))


def starter(html: str, group_id: int) -> str:
    """The MJML a new variant's editor starts with, as the browser shows it."""
    textarea = panel(html, str(group_id)).split('name="mjml"', 1)[1].split(">", 1)[1]
    return html_lib.unescape(textarea.split("</textarea>", 1)[0])


def name_the_controller(app: Flask, **controller: str) -> None:
    from outreach.consent.notice import current_notice, save_notice

    with app.app_context(), get_db(app).session() as session:
        notice = current_notice(session)
        save_notice(session, {**CONTROLLER, **controller}, notice.first_layer, notice.full_text)


def test_a_placeholder_that_renders_empty_is_a_warning_naming_how_many(
    auth: FlaskClient, seed: Callable[..., object], db: Transaction
) -> None:
    seed(PEOPLE, status="subscribed")
    campaign_id = create(auth, groups="Thinkers")
    thinkers = group_ids(db)["Thinkers"]
    subject = "Year-end data pack for {{ contact.organization }}"
    save_variant(auth, campaign_id, str(thinkers), subject, LETTER)

    found = checks(auth.get(f"/admin/campaigns/{campaign_id}").get_data(as_text=True))

    assert found.startswith("Ready to send, with 2 warnings:")
    assert (
        "warning : Thinkers: {{ contact.organization }} in the subject renders empty for 1 of 2 "
        'recipients: write {{ contact.organization | default("…", true) }}'
    ) in found
    assert "warning : -: DKIM is not configured" in found
    assert "error" not in found

    fixed = 'Year-end data pack for {{ contact.organization | default("your team", true) }}'
    save_variant(auth, campaign_id, str(thinkers), fixed, LETTER)
    found = checks(auth.get(f"/admin/campaigns/{campaign_id}").get_data(as_text=True))
    assert found.startswith("Ready to send, with 1 warning:") and "renders empty" not in found


@pytest.mark.fresh_notice
def test_the_starter_layout_is_plain_text_and_errors_say_not_ready(
    app: Flask, auth: FlaskClient, seed: Callable[..., object], db: Transaction
) -> None:
    seed(PEOPLE, status="subscribed")
    campaign_id = create(auth, groups="Thinkers")
    thinkers = group_ids(db)["Thinkers"]

    page = auth.get(f"/admin/campaigns/{campaign_id}").get_data(as_text=True)

    assert "The newsletter's publisher · Set the postal address" in starter(page, thinkers)
    assert "&#" not in starter(page, thinkers)
    found = checks(page)
    assert found.startswith("Not ready: 4 errors block sending.")
    for what in ("identity (name)", "postal address", "contact email"):
        assert f"error : -: the controller's {what} is still the placeholder" in found

    name_the_controller(app, name="Signal & Noise <Letters>")
    page = auth.get(f"/admin/campaigns/{campaign_id}").get_data(as_text=True)
    layout = starter(page, thinkers)
    assert "Signal & Noise &lt;Letters&gt; · 1 Test Street, 28013 Madrid, Spain" in layout
    assert "&amp;" not in layout and "&#" not in layout
    save_variant(auth, campaign_id, str(thinkers), "Hello", layout)
    preview = auth.get(
        f"/admin/campaigns/{campaign_id}/preview", query_string={"group": str(thinkers)}
    ).get_data(as_text=True)
    assert "Signal &amp; Noise &lt;Letters&gt; · 1 Test Street" in preview
    found = checks(auth.get(f"/admin/campaigns/{campaign_id}").get_data(as_text=True))
    assert found.startswith("Ready to send, with 1 warning:"), found
