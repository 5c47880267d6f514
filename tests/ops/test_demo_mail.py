"""`outreach demo` on the embedded base URL: its campaign passes the pre-send checks (links
to this machine allowed for the trial) and its mail names a sender, never a placeholder."""

from __future__ import annotations

import email
import email.policy
import mailbox
import re
from pathlib import Path

from outreach import create_app
from outreach.db import get_db
from tests.conftest import Queue, make_settings


def test_the_demo_mail_names_its_sender_and_needs_no_configuration(tmp_path: Path) -> None:
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
        get_db(app).engine.dispose()

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
