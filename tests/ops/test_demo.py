"""`outreach demo` does the main job end to end on the embedded defaults: its campaign
passes the pre-send checks (links to this machine allowed for the trial) and its mail
names a sender, never a placeholder. One demo run serves every test here (~20 s each)."""

from __future__ import annotations

import email
import email.policy
import mailbox
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import sqlalchemy as sa
from click.testing import Result
from flask import Flask

from outreach import create_app
from outreach.db import get_db
from outreach.delivery.models import Delivery
from tests.conftest import Queue, make_settings


@dataclass
class Demo:
    app: Flask
    result: Result
    outbox: Path


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Demo]:
    tmp_path = tmp_path_factory.mktemp("demo")
    outbox = tmp_path / "outbox"
    settings = make_settings(
        tmp_path,
        f"sqlite:///{tmp_path / 'demo.db'}",
        smtp_url=f"maildir://{outbox}",
        base_url="http://127.0.0.1:5000",  # the embedded default
    )
    app = create_app(settings)
    queue = Queue(app)
    try:
        result = app.test_cli_runner().invoke(args=["demo"])
    finally:
        queue.stop()
    yield Demo(app, result, outbox)
    get_db(app).engine.dispose()


def test_demo_imports_confirms_composes_and_sends(demo: Demo) -> None:
    app, result, outbox = demo.app, demo.result, demo.outbox
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert "1. imported contacts.csv: 320 created" in result.output
    assert "row 322 [email]" in result.output  # deliberately invalid rows are reported
    confirmed = int(result.output.split(" invitations sent, ")[1].split()[0])
    assert 200 < confirmed < 320
    table = {
        line.split()[0]: int(line.split()[2])
        for line in lines
        if line.split()
        and line.split()[0] in ("Consultants", "Managers", "Thinkers", "Journalists")
    }
    assert set(table) == {"Consultants", "Managers", "Thinkers", "Journalists"}
    assert sum(table.values()) == confirmed
    campaign_mail = [m for m in mailbox.Maildir(outbox, create=False) if m["List-Unsubscribe-Post"]]
    assert len(campaign_mail) == confirmed
    assert "outbox:" in result.output and "/admin" in result.output
    # The imported sectors are private; the demo publishes its four for the sign-up form.
    form = app.test_client().get("/subscribe").get_data(as_text=True)
    assert re.findall(r"<option >(\w+)</option>", form) == [
        "Consultants",
        "Journalists",
        "Managers",
        "Thinkers",
    ]
    replay = next(line for line in lines if line.startswith("5. replayed"))
    said = {
        name: int(count)
        for count, name in re.findall(
            r"(\d+) (human opens|machine opens|machine clicks|clicks|one-click unsubscribes)",
            replay,
        )
    }
    assert all(said.values()) and len(said) == 5, replay  # proxies and scanners among them
    total = next(line for line in lines if line.startswith("all ")).split()
    assert "%" in total[8] and total[9] == "of"
    # The summary and the table say the same: human opens, machine opens, machine clicks
    # (side by side), clicks and unsubscribes.
    assert [int(total[i]) for i in (5, 6, 7, 11, 15)] == [
        said[name]
        for name in (
            "human opens",
            "machine opens",
            "machine clicks",
            "clicks",
            "one-click unsubscribes",
        )
    ]
    with app.app_context(), get_db(app).reader() as session:  # and so does the ledger
        ledger = [
            session.scalar(sa.select(sa.func.count()).where(condition))
            for condition in (Delivery.machine_opens > 0, Delivery.machine_clicks > 0)
        ]
    assert ledger == [said["machine opens"], said["machine clicks"]]


def test_the_demo_mail_names_its_sender_and_needs_no_configuration(demo: Demo) -> None:
    result, outbox = demo.result, demo.outbox
    assert result.exit_code == 0, result.output
    assert "0. the privacy notice names a sample controller, Ana García Consulting" in result.output
    box = mailbox.Maildir(outbox, create=False)
    messages = [
        email.message_from_bytes(box.get_bytes(key), policy=email.policy.default)
        for key in box.keys()  # iterating a Maildir itself yields parsed messages
    ]
    campaign_mail = [m for m in messages if m["List-Unsubscribe-Post"]]
    assert len(campaign_mail) > 200
    for message in campaign_mail:
        text = message.get_body(("plain",)).get_content()  # type: ignore[union-attr]
        assert "Ana García Consulting · Rua Augusta 100, 1100-053 Lisboa, Portugal" in text
        assert "publisher" not in text and "Set the postal address" not in text
        header = str(message["List-Unsubscribe"])
        assert re.fullmatch(r"<http://127\.0\.0\.1:5000/unsubscribe/[^>,]+>", header), header
