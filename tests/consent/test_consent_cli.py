"""`outreach consent proof|invite|purge` and the notice settings page."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa
from flask import Flask
from flask.testing import FlaskClient

from outreach.contacts.models import Contact
from outreach.db import get_db, utcnow
from tests.conftest import SmtpSink, csrf_from
from tests.support.consent import contact_row, events, link, mails_to, seed_sectors, subscribe
from tests.support.contacts import HEADER, run_import, write


@pytest.fixture
def app(mail_app: Flask) -> Flask:
    seed_sectors(mail_app)
    return mail_app


def confirm_by_mail(app: Flask, sink: SmtpSink, email: str) -> None:
    client = app.test_client()
    path = link(mails_to(app, sink, email)[-1], "confirm")
    client.post(path, data={"csrf_token": csrf_from(client.get(path).get_data(as_text=True))})


def test_proof_lists_events_with_notice_texts(app: Flask, smtp_sink: SmtpSink) -> None:
    subscribe(app.test_client(), consent_tracking="1")
    confirm_by_mail(app, smtp_sink, "ana@example.org")
    result = app.test_cli_runner().invoke(args=["consent", "proof", "ANA@example.org"])
    assert result.exit_code == 0, result.output
    proof = json.loads(result.stdout)
    actions = [(e["purpose"], e["action"]) for e in proof["events"]]
    assert actions == [
        ("newsletter", "given"),
        ("open_tracking", "given"),
        ("newsletter", "confirmed"),
        ("open_tracking", "confirmed"),
    ]
    given = proof["events"][0]
    assert given["ip"] == "198.51.100.7" and given["user_agent"] == "TestBrowser/1.0"
    assert given["notice_hash"] == proof["notices"][0]["hash"]
    assert "Legitimation" not in proof["notices"][0]["first_layer"]  # keys are lower-case
    assert proof["notices"][0]["first_layer"]["legitimation"].startswith("Your consent")
    assert proof["events"][2]["confirmation_ip"] and proof["events"][2]["confirmed_at"]


def test_proof_for_unknown_address(app: Flask) -> None:
    result = app.test_cli_runner().invoke(args=["consent", "proof", "nobody@example.org"])
    assert result.exit_code == 1 and "no such contact" in result.output


def test_invite_sends_once_within_token_lifetime(
    app: Flask, smtp_sink: SmtpSink, tmp_path: Path
) -> None:
    runner = app.test_cli_runner()
    run_import(
        runner,
        write(
            tmp_path,
            HEADER + "imp@example.org,Imp,,Thinkers,,,\n" + "sub@example.org,Sub,,Thinkers,,,\n",
        ),
    )
    run_import(
        runner,
        write(tmp_path, HEADER + "sub@example.org,Sub,,Thinkers,,,\n", "s.csv"),
        "--status",
        "subscribed",
    )
    first = runner.invoke(args=["consent", "invite", "--group", "Thinkers"])
    assert first.output.startswith("1 invitations queued in the outbox for Thinkers; ")
    assert "`outreach serve`" in first.output  # says who sends them
    again = runner.invoke(args=["consent", "invite", "--group", "thinkers"])
    assert again.output.startswith("0 invitations queued for Thinkers")
    mails = mails_to(app, smtp_sink, "imp@example.org")
    [invitation] = mails
    assert "only if you want it" in invitation.get_body(("plain",)).get_content()
    assert mails_to(app, smtp_sink, "sub@example.org") == []
    confirm_by_mail(app, smtp_sink, "imp@example.org")
    assert contact_row(app, "imp@example.org").status == "subscribed"
    assert events(app, "imp@example.org") == [("newsletter", "given"), ("newsletter", "confirmed")]


def test_purge_deletes_stale_pending_signups(app: Flask) -> None:
    client = app.test_client()
    subscribe(client, "old@example.org")
    subscribe(client, "new@example.org")
    with get_db(app).session() as session:
        session.execute(
            sa.update(Contact)
            .where(Contact.email_key == "old@example.org")
            .values(confirmation_sent_at=utcnow() - timedelta(days=15))
        )
    result = app.test_cli_runner().invoke(args=["consent", "purge"])
    assert result.output.strip() == "1 unconfirmed sign-ups deleted"
    assert contact_row(app, "old@example.org") is None
    assert events(app, "old@example.org") == []
    assert contact_row(app, "new@example.org") is not None


def test_settings_change_creates_a_new_notice_version(auth: FlaskClient, app: Flask) -> None:
    page = auth.get("/admin/settings").get_data(as_text=True)
    fields = {
        "csrf_token": csrf_from(page),
        "controller_name": "Ana García Consulting",
        "controller_address": "Calle Mayor 1, Madrid",
        "controller_email": "privacy@ana.example",
        **{
            f"first_layer_{f}": f"Text for {f}"
            for f in (
                "responsible",
                "purpose",
                "legitimation",
                "recipients",
                "rights",
                "additional",
            )
        },
        "full_text": "The full notice, second layer.",
    }
    response = auth.post("/admin/settings", data=fields, follow_redirects=True)
    assert "Notice version 2 is now in force" in response.get_data(as_text=True)
    form_html = auth.get("/subscribe").get_data(as_text=True)
    assert "Ana García Consulting" in form_html and "Text for legitimation" in form_html
    assert 'name="notice_version" value="2"' in form_html
    assert "Version 2" in auth.get("/privacy").get_data(as_text=True)
    same = auth.post(
        "/admin/settings",
        data={
            **fields,
            "csrf_token": csrf_from(auth.get("/admin/settings").get_data(as_text=True)),
        },
        follow_redirects=True,
    )
    assert "Nothing changed" in same.get_data(as_text=True)
    empty = auth.post(
        "/admin/settings",
        data={
            **fields,
            "full_text": "",
            "csrf_token": csrf_from(auth.get("/admin/settings").get_data(as_text=True)),
        },
    )
    assert empty.status_code == 422
