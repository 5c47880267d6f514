"""`outreach demo` does the main job end to end on the embedded defaults."""

from __future__ import annotations

import mailbox
from pathlib import Path

from outreach import create_app
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
    replay = next(line for line in lines if line.startswith("5. replayed"))
    human_opens = int(replay.split(": ")[1].split()[0])
    assert human_opens > 0
    total = next(line for line in lines if line.startswith("all "))
    assert int(total.split()[5]) == human_opens  # every replayed human open was counted
    assert "% of " in total
    unsubscribed = int(replay.split("clicks, ")[1].split()[0])
    assert unsubscribed > 0 and int(total.split()[-1]) == unsubscribed
    assert int(total.split()[-5]) == int(replay.split("scanners, ")[1].split()[0])  # clicks
