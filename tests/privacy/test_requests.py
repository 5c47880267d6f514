"""Each kind of data-subject request, from the public form through the emailed
verification link to its fulfilment, with a real SMTP server."""

from __future__ import annotations

import io
import json
import zipfile
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa
from flask import Flask
from flask.testing import FlaskClient

from outreach import create_app
from outreach.contacts.models import Contact, ContactStatus
from outreach.db import get_db
from tests.conftest import Queue, SmtpSink, csrf_from, make_settings
from tests.support.consent import contact_row, events, text_of
from tests.support.privacy import (
    actions_of,
    ask,
    ask_and_verify,
    last_link,
    mails,
    requests_of,
    subjects,
    verify,
)

ANA = "ana@example.org"


@pytest.fixture
def ana(make_subscriber: Callable[..., int]) -> int:
    return make_subscriber(ANA, "VIP", first_name="Ana", sector="Thinkers")


def test_access_from_the_form_to_the_download(
    app: Flask, client: FlaskClient, smtp_sink: SmtpSink, ana: int
) -> None:
    sent = ask(client, ANA, "access")
    assert sent.status_code == 200 and "Check your inbox" in sent.get_data(as_text=True)
    [request] = requests_of(app)
    assert request.state == "unverified" and request.due_at is None
    assert subjects(app, smtp_sink, ANA) == ["Please confirm your request about your data"]

    answer = verify(client, last_link(app, smtp_sink, ANA, "privacy/verify"))
    assert answer.status_code == 200
    assert "emailing you a download link" in answer.get_data(as_text=True)
    [request] = requests_of(app)
    assert request.state == "completed" and request.verified_at and request.completed_at
    assert request.due_at.month != request.received_at.month or request.due_at.year > (
        request.received_at.year
    )
    assert subjects(app, smtp_sink, ANA)[-1] == "Your data is ready to download"

    export = last_link(app, smtp_sink, ANA, "privacy/export")
    page = client.get(export)
    assert page.status_code == 200 and "Download as JSON" in page.get_data(as_text=True)
    as_json = client.get(f"{export}/json")
    assert as_json.status_code == 200 and "attachment" in as_json.headers["Content-Disposition"]
    assert as_json.headers["Cache-Control"] == "no-store"
    document = json.loads(as_json.get_data())
    assert document["profile"]["email"] == ANA
    assert document["profile"]["groups"] == ["Thinkers", "VIP"]
    assert [(e["purpose"], e["action"]) for e in document["consent_events"]] == [
        ("newsletter", "given"),
        ("newsletter", "confirmed"),
    ]
    [mine] = document["requests"]
    assert mine["kind"] == "access" and mine["state"] == "completed"
    assert [h["action"] for h in mine["history"]][:3] == ["submitted", "verified", "fulfilled"]

    archive = zipfile.ZipFile(io.BytesIO(client.get(f"{export}/csv").get_data()))
    assert "groups.csv" in archive.namelist() and "consent_events.csv" in archive.namelist()
    profile = archive.read("profile.csv").decode()
    assert f"email,{ANA}" in profile and "first_name,Ana" in profile
    assert actions_of(app, request.id) == [
        "submitted",
        "verified",
        "fulfilled",
        "downloaded",
        "downloaded",
    ]


def test_the_export_matches_the_command_line(
    app: Flask, client: FlaskClient, smtp_sink: SmtpSink, ana: int, tmp_path: Path
) -> None:
    ask_and_verify(app, client, smtp_sink, ANA, "access")
    downloaded = json.loads(
        client.get(f"{last_link(app, smtp_sink, ANA, 'privacy/export')}/json").get_data()
    )
    out = tmp_path / "ana.json"
    result = app.test_cli_runner().invoke(args=["privacy", "export", ANA, "--out", str(out)])
    assert result.exit_code == 0, result.output
    written = json.loads(out.read_text())
    for document in (downloaded, written):
        document.pop("generated_at")
        for request in document["requests"]:
            request["history"] = [h for h in request["history"] if h["action"] != "downloaded"]
    assert downloaded == written


def test_objection_unsubscribes_from_everything_and_suppresses(
    app: Flask, client: FlaskClient, smtp_sink: SmtpSink, ana: int
) -> None:
    answer = ask_and_verify(app, client, smtp_sink, ANA, "objection")
    assert "no more marketing" in answer.get_data(as_text=True)
    assert contact_row(app, ANA).status == "unsubscribed"
    assert events(app, ANA)[-1] == ("newsletter", "withdrawn")
    from outreach.consent.models import Suppression

    with get_db(app).reader() as session:
        assert session.scalars(sa.select(Suppression.reason)).all() == ["objection"]
    assert subjects(app, smtp_sink, ANA)[-1] == "You will receive no more marketing from us"
    [request] = requests_of(app)
    assert request.state == "completed"
    assert actions_of(app, request.id) == ["submitted", "verified", "fulfilled"]


def _mailable(app: Flask, contact_id: int) -> bool:
    from outreach.consent.service import mailable

    with get_db(app).reader() as session:
        return contact_id in mailable(session, [contact_id])


def test_restriction_applied_by_an_admin_then_lifted(
    app: Flask, auth: FlaskClient, smtp_sink: SmtpSink, ana: int
) -> None:
    answer = ask_and_verify(app, app.test_client(), smtp_sink, ANA, "restriction")
    assert "We will answer by email by" in answer.get_data(as_text=True)
    assert subjects(app, smtp_sink, ANA)[-1] == "We have received your request about your data"
    assert "We will answer by" in text_of(mails(app, smtp_sink, ANA)[-1])
    [request] = requests_of(app)
    assert request.state == "verified" and _mailable(app, ana)

    page = auth.get(f"/admin/requests/{request.id}")
    done = auth.post(
        f"/admin/requests/{request.id}/fulfil",
        data={"csrf_token": csrf_from(page.get_data(as_text=True))},
    )
    assert done.status_code == 302
    assert contact_row(app, ANA).status == "restricted" and not _mailable(app, ana)
    assert subjects(app, smtp_sink, ANA)[-1] == "We have restricted the use of your data"

    page = auth.get(f"/admin/requests/{request.id}")
    assert "Lift the restriction" in page.get_data(as_text=True)
    auth.post(
        f"/admin/requests/{request.id}/lift",
        data={"csrf_token": csrf_from(page.get_data(as_text=True))},
    )
    assert contact_row(app, ANA).status == "subscribed" and _mailable(app, ana)
    assert subjects(app, smtp_sink, ANA)[-1] == "The restriction of your data has been lifted"
    assert actions_of(app, request.id) == ["submitted", "verified", "fulfilled", "lifted"]


def test_rectification_side_by_side_then_applied(
    app: Flask, auth: FlaskClient, smtp_sink: SmtpSink, ana: int
) -> None:
    ask_and_verify(
        app,
        app.test_client(),
        smtp_sink,
        ANA,
        "rectification",
        first_name="Anabel",
        organization="Acme",
        note="My name is spelled wrong",
    )
    [request] = requests_of(app)
    page = auth.get(f"/admin/requests/{request.id}").get_data(as_text=True)
    table = page.split('id="rectification"', 1)[1].split("</table>", 1)[0]
    assert "first name</th><td>Ana</td><td><strong>Anabel</strong>" in table
    assert "organization</th><td></td><td><strong>Acme</strong>" in table
    assert "My name is spelled wrong" in page

    auth.post(
        f"/admin/requests/{request.id}/fulfil",
        data={"csrf_token": csrf_from(page), "fields": ["first_name"], "note": "Acme? No."},
    )
    contact = contact_row(app, ANA)
    assert contact.first_name == "Anabel" and contact.organization == ""
    message = text_of(mails(app, smtp_sink, ANA)[-1])
    assert "first name is now: Anabel" in message and "Our note: Acme? No." in message
    assert actions_of(app, request.id)[-1] == "rectified"
    assert requests_of(app)[0].outcome == "corrected: first name"


def test_a_refusal_sends_its_reason(
    app: Flask, auth: FlaskClient, smtp_sink: SmtpSink, ana: int
) -> None:
    ask_and_verify(
        app, app.test_client(), smtp_sink, ANA, "rectification", last_name="Queen of Spain"
    )
    [request] = requests_of(app)
    page = auth.get(f"/admin/requests/{request.id}").get_data(as_text=True)
    empty = auth.post(
        f"/admin/requests/{request.id}/refuse", data={"csrf_token": csrf_from(page), "reason": ""}
    )
    assert empty.status_code == 302 and requests_of(app)[0].state == "verified"
    auth.post(
        f"/admin/requests/{request.id}/refuse",
        data={"csrf_token": csrf_from(page), "reason": "That is not your name on the contract."},
    )
    assert requests_of(app)[0].state == "refused"
    assert contact_row(app, ANA).last_name == ""
    message = mails(app, smtp_sink, ANA)[-1]
    assert message["Subject"] == "Your request about your data: our answer"
    assert "That is not your name on the contract." in text_of(message)


def test_a_request_from_the_preferences_page(
    app: Flask, client: FlaskClient, smtp_sink: SmtpSink, ana: int
) -> None:
    from outreach.consent.links import preferences_url

    url = preferences_url(app.extensions["outreach.settings"], ana)
    path = url.removeprefix("https://news.example.org")
    page = client.get(path).get_data(as_text=True)
    assert f"{path}/request" in page
    form = page.split(f'action="{path}/request"', 1)[1]
    sent = client.post(f"{path}/request", data={"kind": "erasure", "csrf_token": csrf_from(form)})
    assert sent.status_code == 200 and "Check your inbox" in sent.get_data(as_text=True)
    [request] = requests_of(app)
    assert request.kind == "erasure" and request.details["source"] == "preferences"
    verify(client, last_link(app, smtp_sink, ANA, "privacy/verify"))
    assert contact_row(app, ANA) is None
    assert subjects(app, smtp_sink, ANA)[-1] == "Your data has been erased"


@pytest.fixture
def approval_app(tmp_path: Path, database_url: str, smtp_sink: SmtpSink) -> Iterator[Flask]:
    """An app whose operator approves access, erasure and objection by hand."""
    application = create_app(
        make_settings(tmp_path, database_url, smtp_url=smtp_sink.url, privacy_approval=True)
    )
    queue = Queue(application)
    application.extensions["test.queue"] = queue
    yield application
    queue.stop()
    get_db(application).engine.dispose()


def test_with_approval_required_an_admin_fulfils(approval_app: Flask, smtp_sink: SmtpSink) -> None:
    from outreach.accounts.service import create_admin
    from tests.conftest import ADMIN_EMAIL, ADMIN_PASSWORD

    app, client, admin = approval_app, approval_app.test_client(), approval_app.test_client()
    with get_db(app).session() as session:
        session.add(Contact(email=ANA, email_key=ANA, status=ContactStatus.SUBSCRIBED))
        create_admin(session, ADMIN_EMAIL, ADMIN_PASSWORD)
    ask_and_verify(app, client, smtp_sink, ANA, "erasure")
    [request] = requests_of(app)
    assert request.state == "verified" and contact_row(app, ANA) is not None
    login = csrf_from(admin.get("/admin/login").get_data(as_text=True))
    admin.post(
        "/admin/login",
        data={"email": ADMIN_EMAIL, "password": ADMIN_PASSWORD, "csrf_token": login},
    )
    page = admin.get(f"/admin/requests/{request.id}").get_data(as_text=True)
    assert "Fulfil the request" in page
    admin.post(f"/admin/requests/{request.id}/fulfil", data={"csrf_token": csrf_from(page)})
    assert contact_row(app, ANA) is None
    assert subjects(app, smtp_sink, ANA) == [
        "Please confirm your request about your data",
        "We have received your request about your data",
        "Your data has been erased",
    ]
