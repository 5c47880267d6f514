"""A request received by letter carries its date of receipt, from which it is due at once,
and needs no verification link when the administrator says how the identity was checked:
the same from the admin's form, `outreach privacy record` and the API."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, timedelta

import pytest
from flask import Flask
from flask.testing import FlaskClient
from werkzeug.test import TestResponse

from outreach.db import utcnow
from outreach.privacy.requests import add_months
from tests.conftest import ADMIN_EMAIL, SmtpSink, csrf_from
from tests.support.api import error_of
from tests.support.consent import text_of
from tests.support.pages import rows_of
from tests.support.privacy import actions_of, last_link, mails, requests_of, verify

LETTER = "letter@example.org"


@pytest.fixture
def app(mail_app: Flask) -> Flask:
    return mail_app


def days_ago(days: int) -> date:
    return utcnow().date() - timedelta(days=days)


def midnight(day: date) -> datetime:
    return datetime.combine(day, datetime.min.time(), UTC)


def record(auth: FlaskClient, **fields: str) -> TestResponse:
    form = auth.get("/admin/requests/new").get_data(as_text=True)
    return auth.post(
        "/admin/requests/new",
        data={"csrf_token": csrf_from(form), "email": LETTER, "kind": "access", **fields},
    )


def test_a_letter_is_due_a_month_after_its_receipt_even_before_verification(
    app: Flask, auth: FlaskClient, smtp_sink: SmtpSink
) -> None:
    form = auth.get("/admin/requests/new").get_data(as_text=True)
    assert f'name="received_on" value="{utcnow().date().isoformat()}"' in form
    received = days_ago(4)

    done = record(auth, received_on=received.isoformat())
    assert done.status_code == 302
    [request] = requests_of(app)
    assert request.state == "unverified"
    assert request.received_at == midnight(received)
    assert request.due_at == add_months(midnight(received), 1)
    assert utcnow() - request.recorded_at < timedelta(minutes=1)
    [message] = mails(app, smtp_sink, LETTER)
    assert message["Subject"] == "Please confirm your request about your data"

    [row] = rows_of(auth.get("/admin/requests").get_data(as_text=True), "requests")
    due = add_months(midnight(received), 1).strftime("%Y-%m-%d")
    assert f"{received.isoformat()} 00:00:00 UTC {due}" in row  # not "awaiting verification"
    # Listing the queue expires stale unverified requests: this one was recorded just now.
    assert requests_of(app)[0].state == "unverified"

    verify(app.test_client(), last_link(app, smtp_sink, LETTER, "privacy/verify"))
    [verified] = requests_of(app)
    assert verified.state == "completed"  # access is fulfilled once verified, as before
    assert verified.due_at == add_months(midnight(received), 1)


def test_with_the_identity_checked_no_link_is_needed(
    app: Flask, auth: FlaskClient, smtp_sink: SmtpSink
) -> None:
    received = days_ago(3)
    done = record(
        auth,
        kind="erasure",
        received_on=received.isoformat(),
        identity_checked="letter with a copy of an ID document",
    )
    assert done.status_code == 302
    [request] = requests_of(app)
    assert request.state == "verified" and request.verified_at is not None
    assert request.details["identity_checked"] == "letter with a copy of an ID document"
    assert request.due_at == add_months(midnight(received), 1)
    assert actions_of(app, request.id) == ["submitted", "verified"]
    [message] = mails(app, smtp_sink, LETTER)  # no verification link
    assert message["Subject"] == "We have received your request about your data"
    text = " ".join(text_of(message).split())
    assert f"on {received.strftime('%d %B %Y')}" in text
    assert f"by {add_months(midnight(received), 1).strftime('%d %B %Y')}" in text
    assert "/privacy/verify/" not in text_of(message)

    page = auth.get(f"/admin/requests/{request.id}").get_data(as_text=True)
    assert "Identity checked by</dt><dd>letter with a copy of an ID document" in page
    assert f"verified</strong> by {ADMIN_EMAIL}" in page
    assert "identity: checked by the administrator" in page
    assert 'id="fulfil"' in page  # the administrator fulfils it from here
    form = auth.get("/admin/requests/new").get_data(as_text=True)
    assert '<option value="letter with a copy of an ID document">' in form


@pytest.mark.parametrize(
    ("received_on", "message"),
    [
        ("tomorrow", "cannot be in the future"),
        ("13 months ago", "more than a year ago"),
        ("28/11/2026", "YYYY-MM-DD"),
    ],
)
def test_a_date_of_receipt_in_the_future_or_long_ago_is_refused(
    app: Flask, auth: FlaskClient, received_on: str, message: str
) -> None:
    today = utcnow().date()
    typed = {
        "tomorrow": (today + timedelta(days=1)).isoformat(),
        "13 months ago": add_months(midnight(today), -13).date().isoformat(),
    }.get(received_on, received_on)
    refused = record(auth, received_on=typed)
    assert refused.status_code == 422
    assert message in refused.get_data(as_text=True)
    assert f'value="{typed}"' in refused.get_data(as_text=True)
    assert requests_of(app) == []


def test_the_command_line_records_a_letter(app: Flask, smtp_sink: SmtpSink) -> None:
    runner = app.test_cli_runner()
    received = days_ago(10)

    result = runner.invoke(
        args=[
            "privacy", "record", "rectification", LETTER,
            "--received", received.isoformat(),
            "--identity-checked", "phone call to the number we hold",
            "--change", "last_name=Ruiz",
            "--json",
        ]
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    document = json.loads(result.stdout)
    assert document["state"] == "verified" and document["source"] == "cli"
    assert document["received_at"] == midnight(received).isoformat()
    assert document["due_at"] == add_months(midnight(received), 1).isoformat()
    assert document["identity_checked"] == "phone call to the number we hold"
    assert document["changes"] == {"last_name": "Ruiz"}

    plain = runner.invoke(args=["privacy", "record", "objection", "other@example.org"])
    assert plain.exit_code == 0, plain.output
    today = utcnow().date()
    assert plain.output.strip() == (
        f"request {document['id'] + 1} recorded: received {today.isoformat()}, due "
        f"{add_months(midnight(today), 1).date().isoformat()}; a verification link was sent "
        "to the address"
    )
    future = (today + timedelta(days=2)).isoformat()
    late = runner.invoke(args=["privacy", "record", "access", LETTER, "--received", future])
    assert late.exit_code == 1 and "cannot be in the future" in late.output
    assert len(requests_of(app)) == 2


def test_the_api_records_a_letter(
    app: Flask, client: FlaskClient, api_headers: dict[str, str], smtp_sink: SmtpSink
) -> None:
    received = days_ago(20)
    created = client.post(
        "/api/v1/privacy/requests",
        json={
            "kind": "restriction",
            "email": LETTER,
            "received_on": received.isoformat(),
            "identity_checked": "in person, ID document shown",
        },
        headers=api_headers,
    )
    assert created.status_code == 201, created.get_json()
    document = created.get_json()
    assert document["state"] == "verified" and document["source"] == "api"
    assert document["received_at"] == midnight(received).isoformat()
    assert document["due_at"] == add_months(midnight(received), 1).isoformat()
    assert document["identity_checked"] == "in person, ID document shown"
    assert 8 <= document["days_left"] <= 11 and document["overdue"] is False
    assert [h["action"] for h in document["history"]] == ["submitted", "verified"]
    assert document["history"][0]["details"]["received_on"] == received.isoformat()

    unchecked = client.post(
        "/api/v1/privacy/requests", json={"kind": "access", "email": "b@example.org"},
        headers=api_headers,
    )  # fmt: skip
    assert unchecked.get_json()["state"] == "unverified"
    assert unchecked.get_json()["due_at"] is not None
    future = (utcnow().date() + timedelta(days=1)).isoformat()
    refused = client.post(
        "/api/v1/privacy/requests",
        json={"kind": "access", "email": LETTER, "received_on": future},
        headers=api_headers,
    )
    assert error_of(refused, 422)["field"] == "received_on"
    assert (
        error_of(
            client.post(
                "/api/v1/privacy/requests",
                json={"kind": "access", "email": LETTER, "received_on": "yesterday"},
                headers=api_headers,
            ),
            422,
        )["field"]
        == "received_on"
    )


def test_public_requests_still_wait_for_their_verification(app: Flask, smtp_sink: SmtpSink) -> None:
    from tests.support.privacy import ask

    assert ask(app.test_client(), LETTER, "access").status_code == 200
    [request] = requests_of(app)
    assert request.state == "unverified" and request.due_at is None
    assert request.details["source"] == "form" and "identity_checked" not in request.details
