"""Request pages never reveal whether an address is known, change nothing on GET, refuse
forged, stale or reused links harmlessly, and need the CSRF token."""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import timedelta

import itsdangerous
import pytest
import sqlalchemy as sa
from flask import Flask
from flask.testing import FlaskClient

from outreach.db import get_db, utcnow
from tests.conftest import SmtpSink, csrf_from
from tests.support.consent import contact_row
from tests.support.privacy import (
    actions_of,
    ask,
    ask_and_verify,
    last_link,
    mails,
    requests_of,
    verify,
)

KNOWN, UNKNOWN = "known@example.org", "stranger@example.org"


@pytest.fixture
def known(make_subscriber: Callable[..., int]) -> int:
    return make_subscriber(KNOWN, first_name="Kim")


@pytest.mark.parametrize("kind", ["access", "erasure", "objection", "restriction"])
def test_known_and_unknown_addresses_get_the_same_answers(
    app: Flask, smtp_sink: SmtpSink, known: int, kind: str
) -> None:
    answers = []
    for address in (KNOWN, UNKNOWN):
        client = app.test_client()
        form = client.get("/privacy/request")
        sent = ask(client, address, kind)
        page = verify(client, last_link(app, smtp_sink, address, "privacy/verify"))
        answers.append(
            [(r.status_code, r.get_data(as_text=True)) for r in (sent, page)] + [form.status_code]
        )
    assert answers[0] == answers[1]
    assert answers[0][0][0] == 200 and answers[0][1][0] == 200
    assert KNOWN not in answers[0][0][1] and "Kim" not in answers[0][1][1]
    # Both addresses received the same kind of email, and the stranger's answer is true.
    assert [len(mails(app, smtp_sink, a)) for a in (KNOWN, UNKNOWN)] == [2, 2]


def test_a_stranger_who_asks_for_access_learns_we_hold_nothing(
    app: Flask, client: FlaskClient, smtp_sink: SmtpSink
) -> None:
    ask_and_verify(app, client, smtp_sink, UNKNOWN, "access")
    export = last_link(app, smtp_sink, UNKNOWN, "privacy/export")
    document = client.get(f"{export}/json").get_json()
    assert document["profile"] is None and document["deliveries"] == []
    assert [r["kind"] for r in document["requests"]] == ["access"]


def test_validation_errors_do_not_depend_on_the_address(
    app: Flask, client: FlaskClient, known: int
) -> None:
    answers = [ask(client, a, "rectification") for a in (KNOWN, UNKNOWN)]
    assert {r.status_code for r in answers} == {422}
    assert all("say what should be corrected" in r.get_data(as_text=True) for r in answers)
    assert ask(client, "not an address", "access").status_code == 422
    assert ask(client, KNOWN, "everything").status_code == 422
    assert requests_of(app) == []


def test_following_the_verification_link_changes_nothing(
    app: Flask, client: FlaskClient, smtp_sink: SmtpSink, known: int
) -> None:
    ask(client, KNOWN, "erasure")
    path = last_link(app, smtp_sink, KNOWN, "privacy/verify")
    for _ in range(3):  # mail scanners follow links, sometimes more than once
        page = client.get(path)
        assert page.status_code == 200 and "Confirm my request" in page.get_data(as_text=True)
    [request] = requests_of(app)
    assert request.state == "unverified" and contact_row(app, KNOWN) is not None
    assert actions_of(app, request.id) == ["submitted"]


def _tampered(path: str) -> str:
    head, _, signature = path.rpartition(".")
    return f"{head}.{'A' if signature[0] != 'A' else 'B'}{signature[1:]}"


def test_tampered_reused_and_expired_links_are_refused_harmlessly(
    app: Flask,
    client: FlaskClient,
    smtp_sink: SmtpSink,
    known: int,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    ask(client, KNOWN, "erasure")
    path = last_link(app, smtp_sink, KNOWN, "privacy/verify")
    token = csrf_from(client.get(path).get_data(as_text=True))
    for bad in (_tampered(path), "/privacy/verify/nonsense"):
        for answer in (client.get(bad), client.post(bad, data={"csrf_token": token})):
            assert answer.status_code == 400
            assert "Nothing was changed" in answer.get_data(as_text=True)
    assert client.get(path.replace("verify", "export")).status_code == 400  # other purpose
    assert contact_row(app, KNOWN) is not None and requests_of(app)[0].state == "unverified"

    later = time.time() + 49 * 3600  # the link works for 48 hours
    monkeypatch.setattr(itsdangerous.timed.time, "time", lambda: later)
    visitor = app.test_client()  # the session cookie would be from the future afterwards
    fresh = csrf_from(visitor.get("/privacy/request").get_data(as_text=True))
    for answer in (visitor.get(path), visitor.post(path, data={"csrf_token": fresh})):
        assert answer.status_code == 410 and "expired" in answer.get_data(as_text=True)
    assert contact_row(app, KNOWN) is not None
    monkeypatch.undo()

    assert client.post(path, data={"csrf_token": token}).status_code == 200
    again = client.post(path, data={"csrf_token": token})
    assert again.status_code == 400 and "already been used" in again.get_data(as_text=True)


def test_the_export_link_expires_and_cannot_be_forged(
    app: Flask,
    client: FlaskClient,
    smtp_sink: SmtpSink,
    known: int,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    ask_and_verify(app, client, smtp_sink, KNOWN, "access")
    export = last_link(app, smtp_sink, KNOWN, "privacy/export")
    assert client.get(f"{export}/json").status_code == 200
    assert client.get(f"{_tampered(export)}/json").status_code == 400
    later = time.time() + 8 * 86400  # the link works for 7 days
    monkeypatch.setattr(itsdangerous.timed.time, "time", lambda: later)
    expired = client.get(f"{export}/json")
    assert expired.status_code == 410 and KNOWN not in expired.get_data(as_text=True)


def test_the_verification_link_of_another_request_kind_cannot_open_an_export(
    app: Flask, client: FlaskClient, smtp_sink: SmtpSink, known: int
) -> None:
    from outreach.privacy import links

    ask_and_verify(app, client, smtp_sink, KNOWN, "objection")
    [request] = requests_of(app)
    url = links.export_url(app.extensions["outreach.settings"], request.id)
    assert client.get(url.removeprefix("https://news.example.org")).status_code == 400


def test_the_forms_need_their_csrf_token(
    app: Flask, client: FlaskClient, smtp_sink: SmtpSink, known: int
) -> None:
    refused = client.post("/privacy/request", data={"email": KNOWN, "kind": "erasure"})
    assert refused.status_code == 400 and requests_of(app) == []
    ask(client, KNOWN, "erasure")
    path = last_link(app, smtp_sink, KNOWN, "privacy/verify")
    assert client.post(path).status_code == 400
    assert requests_of(app)[0].state == "unverified" and contact_row(app, KNOWN) is not None


def test_repeated_submissions_send_one_link_and_bots_none(
    app: Flask, client: FlaskClient, smtp_sink: SmtpSink
) -> None:
    for _ in range(3):
        assert ask(client, UNKNOWN, "access").status_code == 200
    trap = ask(client, "bot@example.org", "access", website="http://spam.example")
    assert trap.status_code == 200
    assert len(requests_of(app)) == 1 and len(mails(app, smtp_sink, UNKNOWN)) == 1
    assert mails(app, smtp_sink, "bot@example.org") == []


def test_unverified_requests_expire_and_keep_no_address(
    app: Flask, auth: FlaskClient, smtp_sink: SmtpSink
) -> None:
    from outreach.privacy.models import DataRequest

    ask(app.test_client(), UNKNOWN, "access")
    path = last_link(app, smtp_sink, UNKNOWN, "privacy/verify")
    with get_db(app).session() as session:
        then = utcnow() - timedelta(hours=49)  # received and recorded then
        session.execute(sa.update(DataRequest).values(received_at=then, recorded_at=then))
    assert "stranger" not in auth.get("/admin/requests?show=all").get_data(as_text=True)
    [request] = requests_of(app)
    assert request.state == "expired" and request.email is None and request.details == {}
    assert actions_of(app, request.id) == ["submitted", "expired"]
    assert app.test_client().get(path).status_code == 400


def test_the_daily_job_expires_unverified_requests(app: Flask, smtp_sink: SmtpSink) -> None:
    from outreach.ops.service import daily_jobs_if_due
    from outreach.privacy.models import DataRequest

    ask(app.test_client(), UNKNOWN, "erasure")
    with get_db(app).session() as session:
        then = utcnow() - timedelta(hours=49)  # received and recorded then
        session.execute(sa.update(DataRequest).values(received_at=then, recorded_at=then))
    with get_db(app).session() as session:
        done = daily_jobs_if_due(session, app.extensions["outreach.settings"])
    assert done["expired_requests"] == 1
    [request] = requests_of(app)
    assert request.state == "expired" and request.email is None
