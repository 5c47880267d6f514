"""`outreach demo` does the main job end to end on the embedded defaults."""

from __future__ import annotations

import mailbox
import re
from pathlib import Path

import sqlalchemy as sa

from outreach import create_app
from outreach.db import get_db
from outreach.delivery.models import Delivery
from tests.conftest import Queue, make_settings


def test_demo_imports_confirms_composes_and_sends(tmp_path: Path) -> None:
    outbox = tmp_path / "outbox"
    app = create_app(
        make_settings(tmp_path, f"sqlite:///{tmp_path / 'demo.db'}", smtp_url=f"maildir://{outbox}")
    )
    queue = Queue(app)
    try:
        result = app.test_cli_runner().invoke(args=["demo"])
    finally:
        queue.stop()
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
