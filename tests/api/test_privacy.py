"""/api/v1/privacy: requests recorded, listed, answered; the export and erasure."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
import sqlalchemy as sa
from flask import Flask
from flask.testing import FlaskClient

from outreach.db import get_db, utcnow
from tests.conftest import ADMIN_EMAIL, SmtpSink
from tests.support.api import Json, error_of
from tests.support.consent import contact_row, text_of
from tests.support.privacy import last_link, mails, requests_of, verify

URL = "/api/v1/privacy"
ANA = "ana@example.org"


@pytest.fixture
def app(mail_app: Flask) -> Flask:
    return mail_app


def _post(client: FlaskClient, headers: dict[str, str], path: str, body: Any = None) -> Any:
    return client.post(f"{URL}{path}", json=body if body is not None else {}, headers=headers)


def _recorded(
    app: Flask, client: FlaskClient, headers: dict[str, str], sink: SmtpSink, **body: Any
) -> Json:
    """A request recorded through the API, then verified by the person from the email."""
    created = _post(client, headers, "/requests", {"email": ANA, **body})
    assert created.status_code == 201, created.get_json()
    verify(app.test_client(), last_link(app, sink, ANA, "privacy/verify"))
    document = client.get(f"{URL}/requests/{created.get_json()['id']}", headers=headers)
    return document.get_json()  # type: ignore[no-any-return]


def test_every_endpoint_needs_the_bearer_token(client: FlaskClient, admin_user: str) -> None:
    for method, path in [
        ("get", "/requests"),
        ("post", "/requests"),
        ("get", "/requests/1"),
        ("post", "/requests/1/fulfil"),
        ("post", "/requests/1/refuse"),
        ("post", "/requests/1/extend"),
        ("post", "/requests/1/lift"),
        ("get", "/export?email=a@example.org"),
        ("post", "/erase"),
    ]:
        for headers in ({}, {"Authorization": "Bearer wrong"}):
            response = getattr(client, method)(f"{URL}{path}", json={}, headers=headers)
            assert error_of(response, 401)["code"] == "unauthorized", (method, path)
    assert requests_of(client.application) == []


def test_the_endpoints_are_in_the_openapi_document(client: FlaskClient) -> None:
    paths = client.get("/api/v1/openapi.json").get_json()["paths"]
    assert {p for p in paths if p.startswith(f"{URL}/")} == {
        f"{URL}/requests",
        f"{URL}/requests/{{request_id}}",
        f"{URL}/requests/{{request_id}}/fulfil",
        f"{URL}/requests/{{request_id}}/refuse",
        f"{URL}/requests/{{request_id}}/extend",
        f"{URL}/requests/{{request_id}}/lift",
        f"{URL}/export",
        f"{URL}/erase",
    }
    assert {"409", "404"} <= set(
        paths[f"{URL}/requests/{{request_id}}/extend"]["post"]["responses"]
    )


def test_record_verify_and_fulfil_a_rectification(
    app: Flask, client: FlaskClient, api_headers: dict[str, str], smtp_sink: SmtpSink
) -> None:
    from outreach.contacts.service import create_contact

    with get_db(app).session() as session:
        create_contact(session, {"email": ANA, "first_name": "Ana"}, source="test")
    document = _recorded(
        app,
        client,
        api_headers,
        smtp_sink,
        kind="rectification",
        changes={"first_name": "Anabel", "language": "es"},
    )
    assert document["state"] == "verified" and document["source"] == "api"
    assert document["changes"] == {"first_name": "Anabel", "language": "es"}
    assert 27 <= document["days_left"] <= 31 and document["overdue"] is False
    assert [h["action"] for h in document["history"]] == ["submitted", "verified"]
    assert document["history"][0]["actor"] == ADMIN_EMAIL

    done = _post(
        client, api_headers, f"/requests/{document['id']}/fulfil", {"fields": ["language"]}
    )
    assert done.status_code == 200, done.get_json()
    assert done.get_json()["state"] == "completed"
    assert done.get_json()["outcome"] == "corrected: language"
    row = contact_row(app, ANA)
    assert row.language == "es" and row.first_name == "Ana"
    assert "language is now: es" in text_of(mails(app, smtp_sink, ANA)[-1])
    again = _post(client, api_headers, f"/requests/{document['id']}/fulfil")
    assert error_of(again, 409)["field"] == "state"


def test_list_extend_refuse_and_the_overdue_filter(
    app: Flask, client: FlaskClient, api_headers: dict[str, str], smtp_sink: SmtpSink
) -> None:
    document = _recorded(app, client, api_headers, smtp_sink, kind="restriction")
    request_id = document["id"]
    listed = client.get(f"{URL}/requests", headers=api_headers).get_json()
    assert [r["id"] for r in listed] == [request_id]
    assert client.get(f"{URL}/requests?overdue=true", headers=api_headers).get_json() == []

    bad = _post(client, api_headers, f"/requests/{request_id}/extend", {"months": 3, "reason": "x"})
    assert error_of(bad, 422)["field"] == "months"
    extended = _post(
        client, api_headers, f"/requests/{request_id}/extend", {"months": 1, "reason": "Busy"}
    )
    assert extended.status_code == 200 and extended.get_json()["extension_reason"] == "Busy"
    assert mails(app, smtp_sink, ANA)[-1]["Subject"] == (
        "Your request about your data: we need more time"
    )
    from outreach.privacy.models import DataRequest

    with get_db(app).session() as session:
        session.execute(sa.update(DataRequest).values(due_at=utcnow() - timedelta(days=1)))
    [late] = client.get(f"{URL}/requests?overdue=true", headers=api_headers).get_json()
    assert late["overdue"] is True and late["days_left"] == -1

    refused = _post(client, api_headers, f"/requests/{request_id}/refuse", {"reason": "No."})
    assert refused.get_json()["state"] == "refused"
    assert client.get(f"{URL}/requests", headers=api_headers).get_json() == []
    assert len(client.get(f"{URL}/requests?all=true", headers=api_headers).get_json()) == 1
    assert error_of(client.get(f"{URL}/requests/99", headers=api_headers), 404)["field"] == "id"
    lift = _post(client, api_headers, f"/requests/{request_id}/lift")
    assert error_of(lift, 409)["code"] == "conflict"


def test_export_and_erase_like_the_command_line(
    app: Flask, client: FlaskClient, api_headers: dict[str, str]
) -> None:
    from outreach.contacts.service import create_contact

    with get_db(app).session() as session:
        create_contact(session, {"email": ANA, "first_name": "Ana"}, source="test")
    export = client.get(f"{URL}/export", query_string={"email": ANA}, headers=api_headers)
    assert export.status_code == 200 and export.get_json()["profile"]["first_name"] == "Ana"
    assert error_of(client.get(f"{URL}/export?email=x@example.org", headers=api_headers), 404)
    erased = _post(client, api_headers, "/erase", {"email": ANA})
    assert erased.status_code == 204 and contact_row(app, ANA) is None
    assert error_of(client.get(f"{URL}/export?email={ANA}", headers=api_headers), 404)
    invalid = _post(client, api_headers, "/requests", {"email": ANA, "kind": "everything"})
    assert error_of(invalid, 422)["field"] == "kind"
