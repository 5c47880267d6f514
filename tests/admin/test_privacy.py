"""The admin side of data-subject requests: the queue with its deadlines, a request's page
and history, extensions announced before the due date, requests recorded on behalf of
someone, and `outreach privacy requests`."""

from __future__ import annotations

import json
from datetime import timedelta
from email.utils import parsedate_to_datetime

import pytest
import sqlalchemy as sa
from flask import Flask
from flask.testing import FlaskClient

from outreach.db import get_db, utcnow
from outreach.privacy.requests import add_months
from tests.conftest import ADMIN_EMAIL, SmtpSink, csrf_from
from tests.support.consent import text_of
from tests.support.pages import rows_of
from tests.support.privacy import actions_of, ask_and_verify, mails, requests_of


@pytest.fixture
def app(mail_app: Flask) -> Flask:
    return mail_app


def _verified(app: Flask, sink: SmtpSink, email: str, kind: str = "restriction") -> int:
    """A request submitted and verified through the public pages; returns its id."""
    ask_and_verify(app, app.test_client(), sink, email, kind)
    return int(requests_of(app)[-1].id)


def _set_due(app: Flask, request_id: int, due_in: timedelta) -> None:
    from outreach.privacy.models import DataRequest

    due = utcnow() + due_in
    with get_db(app).session() as session:
        session.execute(
            sa.update(DataRequest)
            .where(DataRequest.id == request_id)
            .values(due_at=due, received_at=add_months(due, -1))
        )


def test_the_queue_shows_deadlines_and_flags_overdue_requests_in_red(
    app: Flask, auth: FlaskClient, smtp_sink: SmtpSink
) -> None:
    late = _verified(app, smtp_sink, "late@example.org")
    fresh = _verified(app, smtp_sink, "fresh@example.org")
    _set_due(app, late, -timedelta(days=2, hours=1))

    page = auth.get("/admin/requests").get_data(as_text=True)
    assert 'aria-current="page">Requests</a>' in page  # the navigation entry
    late_row = page.split(f'id="request-{late}"', 1)[1].split("</tr>", 1)[0]
    assert 'class="overdue error"' in late_row and "overdue</strong> by 2 days" in late_row
    fresh_row = page.split(f'id="request-{fresh}"', 1)[1].split("</tr>", 1)[0]
    assert "overdue" not in fresh_row.replace("late", "")
    [first, second] = rows_of(page, "requests")
    assert first.startswith(f"{late} restriction verified late@example.org")
    assert f"{fresh} restriction verified fresh@example.org" in second
    assert 27 <= int(second.split()[-1]) <= 31  # days left of a month
    overdue = rows_of(auth.get("/admin/requests?show=overdue").get_data(as_text=True))
    assert len(overdue) == 1 and overdue[0].startswith(str(late))


def test_the_command_line_lists_overdue_requests(
    app: Flask, smtp_sink: SmtpSink, auth: FlaskClient
) -> None:
    late = _verified(app, smtp_sink, "late@example.org")
    _verified(app, smtp_sink, "fresh@example.org")
    _set_due(app, late, -timedelta(days=5))
    runner = app.test_cli_runner()

    result = runner.invoke(args=["privacy", "requests", "--overdue", "--json"])
    assert result.exit_code == 0, result.output
    [document] = json.loads(result.stdout)
    assert document["id"] == late and document["overdue"] is True
    assert document["days_left"] == -5 and document["kind"] == "restriction"
    plain = runner.invoke(args=["privacy", "requests"]).stdout
    assert "OVERDUE 5d" in plain and "fresh@example.org" in plain
    detail = json.loads(runner.invoke(args=["privacy", "request", str(late)]).stdout)
    assert [h["action"] for h in detail["history"]] == ["submitted", "verified"]
    missing = runner.invoke(args=["privacy", "request", "999"])
    assert missing.exit_code == 1 and "no data request 999" in missing.output


def test_an_extension_is_emailed_before_the_original_due_date(
    app: Flask, auth: FlaskClient, smtp_sink: SmtpSink
) -> None:
    request_id = _verified(app, smtp_sink, "ana@example.org")
    [before] = requests_of(app)
    original_due = before.due_at
    page = auth.get(f"/admin/requests/{request_id}").get_data(as_text=True)
    assert "Extend the deadline (once)" in page
    token = csrf_from(page)

    auth.post(
        f"/admin/requests/{request_id}/extend",
        data={"csrf_token": token, "months": "2", "reason": "Our archive is being moved."},
    )
    [after] = requests_of(app)
    assert after.due_at == add_months(original_due, 2) and after.extended_at is not None
    assert after.extension_reason == "Our archive is being moved."
    message = mails(app, smtp_sink, "ana@example.org")[-1]
    assert message["Subject"] == "Your request about your data: we need more time"
    assert parsedate_to_datetime(message["Date"]) < original_due
    assert "Our archive is being moved." in text_of(message)
    assert after.due_at.strftime("%d %B %Y") in " ".join(text_of(message).split())

    again = auth.post(
        f"/admin/requests/{request_id}/extend",
        data={"csrf_token": token, "months": "1", "reason": "More"},
        follow_redirects=True,
    )
    assert "extended already (once only)" in again.get_data(as_text=True)
    assert requests_of(app)[0].due_at == after.due_at
    assert actions_of(app, request_id) == ["submitted", "verified", "extended"]
    history = auth.get(f"/admin/requests/{request_id}").get_data(as_text=True)
    assert f"extended</strong> by {ADMIN_EMAIL}" in history and "months: 2" in history


def test_no_extension_once_the_due_date_has_passed_or_beyond_two_months(
    app: Flask, auth: FlaskClient, smtp_sink: SmtpSink
) -> None:
    request_id = _verified(app, smtp_sink, "ana@example.org")
    token = csrf_from(auth.get(f"/admin/requests/{request_id}").get_data(as_text=True))
    three = auth.post(
        f"/admin/requests/{request_id}/extend",
        data={"csrf_token": token, "months": "3", "reason": "Busy"},
        follow_redirects=True,
    )
    assert "extend by one or two months" in three.get_data(as_text=True)
    _set_due(app, request_id, -timedelta(hours=1))
    page = auth.get(f"/admin/requests/{request_id}").get_data(as_text=True)
    assert "Extend the deadline" not in page and "overdue" in page
    late = auth.post(
        f"/admin/requests/{request_id}/extend",
        data={"csrf_token": token, "months": "1", "reason": "Busy"},
        follow_redirects=True,
    )
    assert "the due date has passed" in late.get_data(as_text=True)
    assert requests_of(app)[0].extended_at is None
    assert [str(m["Subject"]) for m in mails(app, smtp_sink, "ana@example.org")][-1] != (
        "Your request about your data: we need more time"
    )


def test_an_admin_records_a_request_for_someone_who_wrote_in(
    app: Flask, auth: FlaskClient, smtp_sink: SmtpSink
) -> None:
    form = auth.get("/admin/requests/new").get_data(as_text=True)
    bad = auth.post(
        "/admin/requests/new",
        data={"csrf_token": csrf_from(form), "email": "nope", "kind": "access"},
    )
    assert bad.status_code == 422 and "not a valid address" in bad.get_data(as_text=True)
    done = auth.post(
        "/admin/requests/new",
        data={
            "csrf_token": csrf_from(form),
            "email": "Letter@Example.org",
            "kind": "rectification",
            "last_name": "Ruiz",
        },
    )
    [request] = requests_of(app)
    assert done.status_code == 302 and done.headers["Location"].endswith(
        f"/admin/requests/{request.id}"
    )
    assert request.state == "unverified" and request.details["source"] == "admin"
    assert request.details["changes"] == {"last_name": "Ruiz"}
    [message] = mails(app, smtp_sink, "Letter@example.org")
    assert message["Subject"] == "Please confirm your request about your data"
    page = auth.get(f"/admin/requests/{request.id}").get_data(as_text=True)
    assert f"submitted</strong> by {ADMIN_EMAIL}" in page and "source: admin" in page


def test_request_pages_need_a_login_and_unknown_ids_are_404(
    app: Flask, client: FlaskClient, auth: FlaskClient
) -> None:
    assert app.test_client().get("/admin/requests").status_code == 302
    assert auth.get("/admin/requests/12345").status_code == 404
    assert auth.get("/admin/requests?show=whatever").status_code == 200
