"""The outbox: every email that is not a campaign delivery is a row before it is sent,
sent once, retried when the server fails, and visible in the admin and the API."""

from __future__ import annotations

import subprocess
import sys
import threading
import time
from datetime import timedelta

import sqlalchemy as sa
from flask import Flask
from flask.testing import FlaskClient

from outreach.consent.models import Purpose
from outreach.consent.service import Evidence, sign_up
from outreach.db import get_db, utcnow
from outreach.outbox.models import OutboxMessage
from outreach.outbox.sender import drain
from tests.conftest import SmtpSink, csrf_from
from tests.conftest import drain as drain_queue


def signed_up(app: Flask, email: str = "ana@example.org") -> int:
    """A sign-up whose confirmation email is in the outbox; the outbox id."""
    with get_db(app).session() as session:
        contact = sign_up(
            session,
            {"email": email, "first_name": "Ana"},
            [Purpose.NEWSLETTER],
            Evidence("test"),
            resend_after=timedelta(0),
        ).contact
        session.flush()
        return int(
            session.scalar(
                sa.select(OutboxMessage.id).where(OutboxMessage.contact_id == contact.id)
            )
        )


def row(app: Flask, outbox_id: int) -> OutboxMessage:
    with get_db(app).reader() as session:
        found = session.get(OutboxMessage, outbox_id)
        assert found is not None
        return found


def test_the_email_is_a_row_in_the_transaction_that_causes_it(
    sending_app: Flask, smtp_sink: SmtpSink
) -> None:
    with get_db(sending_app).session() as session:
        sign_up(
            session,
            {"email": "bo@example.org"},
            [Purpose.NEWSLETTER],
            Evidence("test"),
            resend_after=timedelta(0),
        )
        session.rollback()  # the sign-up did not happen: neither does its email
    drain_queue(sending_app)
    with get_db(sending_app).reader() as session:
        assert session.scalar(sa.select(sa.func.count()).select_from(OutboxMessage)) == 0
    outbox_id = signed_up(sending_app)
    drain_queue(sending_app)
    assert str(row(sending_app, outbox_id).status) == "sent"
    assert len(smtp_sink.to("ana@example.org")) == 1


def test_a_server_that_is_down_leaves_it_queued_and_it_goes_once_back(
    sending_app: Flask, smtp_sink: SmtpSink
) -> None:
    smtp_sink.stop()
    outbox_id = signed_up(sending_app)
    deadline = time.monotonic() + 10
    while row(sending_app, outbox_id).last_error is None:  # a worker tried, and gave it back
        assert time.monotonic() < deadline
        time.sleep(0.05)
    waiting = row(sending_app, outbox_id)
    assert str(waiting.status) == "queued" and waiting.attempts == 0  # not the recipient's fault
    assert "Connection refused" in (waiting.last_error or "")
    smtp_sink.start()
    with get_db(sending_app).session() as session:
        session.execute(sa.update(OutboxMessage).values(next_attempt_at=utcnow()))
    results = []
    workers = [
        threading.Thread(target=lambda: results.append(drain(get_db(sending_app))))
        for _ in range(4)
    ]
    for worker in workers:  # four workers at once: one of them sends it
        worker.start()
    for worker in workers:
        worker.join()
    assert sum(r.sent for r in results) == 1
    assert len(smtp_sink.to("ana@example.org")) == 1
    assert str(row(sending_app, outbox_id).status) == "sent"


def test_a_5xx_fails_it_with_the_answer_and_retry_sends_it(
    sending_app: Flask, smtp_sink: SmtpSink, auth: FlaskClient, api_headers: dict[str, str]
) -> None:
    smtp_sink.rules["ana@example.org"] = ["550 5.7.1 Not here"]
    outbox_id = signed_up(sending_app)
    drain_queue(sending_app)
    failed = row(sending_app, outbox_id)
    assert str(failed.status) == "failed" and failed.last_error == "550 5.7.1 Not here"
    page = auth.get("/admin/outbox?status=failed").get_data(as_text=True)
    assert f'id="outbox-{outbox_id}"' in page and "550 5.7.1 Not here" in page
    listed = sending_app.test_client().get("/api/v1/outbox?status=failed", headers=api_headers)
    assert [(e["id"], e["last_error"]) for e in listed.get_json()] == [
        (outbox_id, "550 5.7.1 Not here")
    ]
    retried = auth.post(f"/admin/outbox/{outbox_id}/retry", data={"csrf_token": csrf_from(page)})
    assert retried.status_code == 302
    drain_queue(sending_app)
    assert str(row(sending_app, outbox_id).status) == "sent"
    assert len(smtp_sink.to("ana@example.org")) == 1
    again = sending_app.test_client().post(f"/api/v1/outbox/{outbox_id}/retry", headers=api_headers)
    assert again.status_code == 409  # only a failed email can be retried


def test_the_outbox_needs_a_sign_in_and_its_retry_a_csrf_token(
    client: FlaskClient, auth: FlaskClient
) -> None:
    anonymous = Flask.test_client(auth.application)
    assert anonymous.get("/admin/outbox").status_code == 302
    assert auth.post("/admin/outbox/1/retry").status_code == 400
    assert client.application.test_client().get("/api/v1/outbox").status_code == 401


def test_building_the_app_declares_no_actor_on_a_broker_nobody_configured() -> None:
    # dramatiq silently creates a RabbitMQ broker when an actor is declared first.
    code = (
        "import dramatiq.broker as b; from outreach import create_app; create_app(); "
        "assert b.global_broker is None, b.global_broker"
    )
    subprocess.run([sys.executable, "-c", code], check=True, env={"OUTREACH_SECRET_KEY": "x" * 20})
