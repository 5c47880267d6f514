"""The admin's rule editor in Chromium: the live count follows what is typed, the
condition builder writes the one-line form, a bad rule is named, and saving makes a rule
group the groups page lists."""

from __future__ import annotations

from typing import Any

import pytest
import sqlalchemy as sa
from flask import Flask

from outreach.contacts.models import Contact
from outreach.db import get_db
from tests.support.accessibility import check
from tests.support.admin import sign_in


@pytest.mark.browser
@pytest.mark.usefixtures("people")
def test_the_rule_editor_counts_live_and_saves_a_rule_group(
    app: Flask, admin_user: str, live_server: str, browser_page: Any
) -> None:
    page = browser_page
    problems: list[str] = []
    page.on("console", lambda m: problems.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: problems.append(str(e)))
    sign_in(page, live_server, admin_user)
    assert check(page, f"{live_server}/admin/groups/rules/new") == {}
    page.goto(f"{live_server}/admin/groups")
    page.get_by_role("link", name="New rule group").click()
    page.get_by_label("Name", exact=True).fill("Readers")
    rule = page.get_by_label("Rule", exact=True)
    rule.fill("opened")
    count = page.locator("#rule-count")
    count.filter(has_text="2").wait_for()
    # The builder adds "status = subscribed" with "and".
    page.get_by_label("What").select_option(label="status")
    page.get_by_label("How").select_option(label="is")
    page.get_by_label("Value").fill("pending")
    page.get_by_role("button", name="Add with “and”").click()
    assert rule.input_value() == "opened and status = pending"
    count.filter(has_text="0").wait_for()
    # A condition that cannot be read is named, and the count is withdrawn.
    rule.fill("opened and whatever")
    error = page.get_by_role("alert")
    error.filter(has_text="condition 2: cannot read 'whatever'").wait_for()
    assert count.inner_text() == "–"
    # Ana's only Summer "open" was her privacy proxy's: she is Summer's non-opener.
    rule.fill("not opened campaign Summer")
    count.filter(has_text="1").wait_for()
    assert error.is_hidden()
    assert page.locator("#rule-sample li").all_inner_texts() == ["ana@example.org — Ana subscribed"]
    page.get_by_role("button", name="Save rule group").click()
    page.wait_for_url(f"{live_server}/admin/groups/*/rule")
    assert "Rule group 'Readers' created: not opened campaign Summer." in page.content()
    assert page.locator("#rule-count").inner_text() == "1"
    edit_url = page.url
    page.goto(f"{live_server}/admin/groups")
    row = page.locator("tr", has_text="Readers")
    assert "not opened campaign Summer" in row.inner_text()
    assert row.locator("td").nth(1).inner_text() == "rule"
    row.get_by_role("link", name="Edit the rule of Readers").click()
    assert page.get_by_label("Rule", exact=True).input_value() == "not opened campaign Summer"
    assert problems == []
    # With its sample shown, at every width: nothing spills out of the card, not even a
    # name with no place to break it.
    with get_db(app).session() as session:
        session.execute(
            sa.update(Contact)
            .where(Contact.email_key == "ana@example.org")
            .values(last_name="Q" * 90)
        )
    assert check(page, edit_url) == {}
