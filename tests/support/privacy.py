"""Steps shared by the data-subject request tests: ask, read the emailed link, verify."""

from __future__ import annotations

import re
from email.message import EmailMessage
from typing import Any

import sqlalchemy as sa
from flask import Flask
from flask.testing import FlaskClient

from outreach.db import get_db
from tests.conftest import SmtpSink, csrf_from, drain
from tests.support.consent import text_of

# The two subscribers of the `history` fixture.
ANA, BO = "ana.secret@example.org", "bo@example.org"


def ask(client: FlaskClient, email: str, kind: str, **fields: str) -> Any:
    """Submit the public request form, as a person would."""
    token = csrf_from(client.get("/privacy/request").get_data(as_text=True))
    return client.post(
        "/privacy/request",
        data={"email": email, "kind": kind, "csrf_token": token, **fields},
    )


def mails(app: Flask, sink: SmtpSink, address: str) -> list[EmailMessage]:
    """Every message the address received, once the queue is empty."""
    drain(app)
    return sink.to(address)


def last_link(app: Flask, sink: SmtpSink, address: str, path: str) -> str:
    """The path of the newest emailed link to /PATH/<token> for the address."""
    for message in reversed(mails(app, sink, address)):
        match = re.search(rf"https://news\.example\.org(/{path}/[\w.\-]+)", text_of(message))
        if match:
            return match.group(1)
    raise AssertionError(f"no /{path}/ link sent to {address}")


def verify(client: FlaskClient, path: str) -> Any:
    """Open the verification link and press the button; the emails it causes are sent
    before this returns (so that later emails arrive after them)."""
    page = client.get(path)
    assert page.status_code == 200, page.get_data(as_text=True)
    answer = client.post(path, data={"csrf_token": csrf_from(page.get_data(as_text=True))})
    drain(client.application)
    return answer


def ask_and_verify(
    app: Flask, client: FlaskClient, sink: SmtpSink, email: str, kind: str, **fields: str
) -> Any:
    """Submit a request, then verify it from the emailed link; returns the answer page."""
    assert ask(client, email, kind, **fields).status_code == 200
    return verify(client, last_link(app, sink, email, "privacy/verify"))


def subjects(app: Flask, sink: SmtpSink, address: str) -> list[str]:
    """Subjects of the messages an address received, oldest first."""
    return [str(m["Subject"]) for m in mails(app, sink, address)]


def requests_of(app: Flask) -> list[Any]:
    """Every data request, oldest first."""
    from outreach.privacy.models import DataRequest

    with get_db(app).reader() as session:
        return list(session.scalars(sa.select(DataRequest).order_by(DataRequest.id)))


def actions_of(app: Flask, request_id: int) -> list[str]:
    """The audited steps of one request."""
    from outreach.privacy.models import AuditEntry

    with get_db(app).reader() as session:
        return list(
            session.scalars(
                sa.select(AuditEntry.action)
                .where(AuditEntry.subject_id == request_id)
                .order_by(AuditEntry.id)
            )
        )
