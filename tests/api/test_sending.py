"""/api/v1/campaigns/<id>/send, status, pause, resume, cancel: through the queue into a real
SMTP server, and the refusals (401, 404, 409, 422)."""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest
import sqlalchemy as sa
from flask import Flask
from flask.testing import FlaskClient
from werkzeug.test import TestResponse

from outreach.db import get_db
from outreach.delivery.models import Delivery
from tests.conftest import SmtpSink
from tests.support.api import Json, error_of

URL = "/api/v1/campaigns"
Headers = dict[str, str]
COLUMNS = ("queued", "sending", "sent", "failed", "bounced", "skipped")
CSV = (
    "email,first_name,sector\n"
    "ana@example.org,Ana,Consultants\n"
    "ben@example.org,Ben,Consultants\n"
    "dan@example.org,Dan,Managers\n"
    "eve@example.org,Eve,Managers\n"
    "fay@example.org,Fay,Thinkers\n"
    "gil@example.org,Gil,Thinkers\n"
)
RECIPIENTS = [line.split(",")[0] for line in CSV.splitlines()[1:]]


def mjml(body: str) -> str:
    return (
        "<mjml><mj-body><mj-section><mj-column>"
        f"<mj-text>{body}</mj-text>"
        '<mj-text><a href="{{ unsubscribe_url }}">Unsubscribe</a></mj-text>'
        "</mj-column></mj-section></mj-body></mjml>"
    )


@pytest.fixture
def app(sending_app: Flask) -> Flask:
    return sending_app


from tests.conftest import drain  # noqa: E402, F401


def ok(response: TestResponse, status: int = 200) -> Any:
    assert response.status_code == status, (response.status_code, response.get_data(as_text=True))
    return response.get_json()


@pytest.fixture
def people(upload_csv: Callable[..., TestResponse], add_contact: Callable[..., Json]) -> None:
    """Six subscribers, two per sector, and a pending consultant who must receive nothing."""
    ok(upload_csv(CSV, source="trade fair 2026", status="subscribed"))
    add_contact("pat@example.org", first_name="Pat", sector="Consultants")


@pytest.fixture
def campaign(client: FlaskClient, api_headers: Headers, people: None) -> int:
    """Consultants get their own variant; Managers and Thinkers the fallback."""
    created = client.post(
        URL,
        headers=api_headers,
        json={
            "name": "March",
            "from": "Team <news@example.org>",
            "groups": ["Consultants", "Managers", "Thinkers"],
        },
    )
    campaign_id: int = ok(created, 201)["id"]
    for group, subject in (("Consultants", "Advice"), ("fallback", "News")):
        body = {"subject": f"{subject} for {{{{ contact.first_name }}}}", "mjml": mjml("Hi")}
        ok(client.put(f"{URL}/{campaign_id}/variants/{group}", headers=api_headers, json=body))
    return campaign_id


def act(client: FlaskClient, headers: Headers, campaign_id: int, action: str, **body: Any) -> Any:
    """POST to a control route; `body` as JSON when given."""
    return client.post(f"{URL}/{campaign_id}/{action}", headers=headers, json=body or None)


def status_of(client: FlaskClient, headers: Headers, campaign_id: int) -> Json:
    document = ok(client.get(f"{URL}/{campaign_id}/status", headers=headers))
    for moment in ("scheduled_at", "started_at", "finished_at"):  # checked where they matter
        document.pop(moment)  # type: ignore[union-attr]
    return document  # type: ignore[no-any-return]


def counts(document: Json) -> dict[str, dict[str, int]]:
    """group -> status -> deliveries, from a progress document."""
    return {g["group"]: {c: g[c] for c in COLUMNS} for g in document["groups"]}


def row(**values: int) -> dict[str, int]:
    return {c: values.get(c, 0) for c in COLUMNS}


def deliveries(app: Flask) -> int:
    with get_db(app).reader() as session:
        return session.scalar(sa.select(sa.func.count()).select_from(Delivery)) or 0


def pause_before_any_message(
    client: FlaskClient, headers: Headers, campaign_id: int, sink: SmtpSink
) -> Json:
    """Send while the SMTP server is down, pause, wait until the batch in flight has given
    its deliveries back, then bring the server back; returns the pause's document."""
    drain(client.application)  # the arranged mail (Pat's confirmation) is out first
    sink.stop()
    ok(act(client, headers, campaign_id, "send"), 202)
    response = act(client, headers, campaign_id, "pause")
    if response.status_code == 409:  # a worker met the server down first, and paused it
        assert "is paused" in response.get_data(as_text=True)
        paused = status_of(client, headers, campaign_id)
        assert "no recipient was failed" in paused["pause_reason"]
    else:
        paused = ok(response)
    time.sleep(0.2)  # a claim that began just before the pause committed ends within this
    deadline = time.monotonic() + 10
    while any(g["sending"] for g in status_of(client, headers, campaign_id)["groups"]):
        assert time.monotonic() < deadline, "the batch in flight never gave its deliveries back"
        time.sleep(0.02)
    sink.start()
    return paused  # type: ignore[no-any-return]


def test_send_now_delivers_one_message_to_each_recipient(
    app: Flask, client: FlaskClient, api_headers: Headers, campaign: int, smtp_sink: SmtpSink
) -> None:
    started = ok(act(client, api_headers, campaign, "send"), 202)

    assert (started["campaign"], started["name"], started["status"]) == (
        campaign,
        "March",
        "sending",
    )
    assert started["total"] == 6
    assert sorted(g["group"] for g in started["groups"]) == ["Consultants", "Managers", "Thinkers"]
    drain(app)
    for address in RECIPIENTS:
        [message] = smtp_sink.to(address)
        first_name = address.split("@")[0].capitalize()
        expected = "Advice" if address in ("ana@example.org", "ben@example.org") else "News"
        assert message["Subject"] == f"{expected} for {first_name}"
    assert smtp_sink.to("pat@example.org") == []
    assert len(smtp_sink.received()) == 6
    assert status_of(client, api_headers, campaign) == {
        "campaign": campaign,
        "name": "March",
        "status": "sent",
        "pause_reason": None,
        "rate_per_minute": 6,
        "total": 6,
        "remaining": 0,
        "groups": [
            {"group": "Consultants", **row(sent=2)},
            {"group": "Managers", **row(sent=2)},
            {"group": "Thinkers", **row(sent=2)},
        ],
        "suspected_duplicates": 0,
        "failures": [],
    }
    assert ok(client.get(f"{URL}/{campaign}", headers=api_headers))["status"] == "sent"


def test_an_explicit_null_time_sends_now(
    app: Flask, client: FlaskClient, api_headers: Headers, campaign: int, smtp_sink: SmtpSink
) -> None:
    started = ok(client.post(f"{URL}/{campaign}/send", headers=api_headers, json={"at": None}), 202)

    assert started["status"] == "sending"
    drain(app)
    assert len(smtp_sink.received()) == 6


def test_send_at_a_future_time_schedules(
    app: Flask, client: FlaskClient, api_headers: Headers, campaign: int, smtp_sink: SmtpSink
) -> None:
    madrid = timezone(timedelta(hours=2))
    at = (datetime.now(madrid) + timedelta(days=3)).replace(microsecond=0)

    scheduled = ok(act(client, api_headers, campaign, "send", at=at.isoformat()), 202)

    assert scheduled == {
        "campaign": campaign,
        "status": "scheduled",
        "scheduled_at": at.astimezone(UTC).isoformat(),
    }
    drain(app)
    assert smtp_sink.received() == []
    assert deliveries(app) == 0
    state = status_of(client, api_headers, campaign)
    assert (state["status"], state["total"], state["groups"]) == ("scheduled", 0, [])
    # A scheduled campaign may be rescheduled, or sent at once.
    later = at + timedelta(days=1)
    moved = ok(act(client, api_headers, campaign, "send", at=later.isoformat()), 202)
    assert datetime.fromisoformat(moved["scheduled_at"]) == later
    assert ok(act(client, api_headers, campaign, "send"), 202)["status"] == "sending"
    drain(app)
    assert len(smtp_sink.received()) == 6


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"at": "2030-01-01T09:00:00"}, "at"),  # no time zone: ambiguous
        ({"at": "2001-01-01T09:00:00+00:00"}, "at"),  # passed: refused, as on every surface
        ({"at": "next tuesday"}, "at"),
        ({"at": 1767258000}, "at"),
        ({"when": "now"}, "when"),
    ],
)
def test_a_bad_send_time_is_refused(
    app: Flask, client: FlaskClient, api_headers: Headers, campaign: int, body: Json, field: str
) -> None:
    response = client.post(f"{URL}/{campaign}/send", headers=api_headers, json=body)

    assert error_of(response, 422)["field"] == field
    assert status_of(client, api_headers, campaign)["status"] == "draft"
    assert deliveries(app) == 0


def test_pre_send_errors_are_422_and_change_nothing(
    app: Flask, client: FlaskClient, api_headers: Headers, people: None, smtp_sink: SmtpSink
) -> None:
    created = client.post(
        URL,
        headers=api_headers,
        json={"name": "Bare", "from": "a@example.org", "groups": ["Thinkers"]},
    )
    campaign_id = ok(created, 201)["id"]

    for body in ({}, {"at": "2099-01-01T09:00:00+00:00"}):
        error = error_of(act(client, api_headers, campaign_id, "send", **body), 422)
        assert (error["code"], error["field"]) == ("invalid", "campaign")
        assert "Thinkers: no variant for this group and no fallback variant" in error["message"]
    assert status_of(client, api_headers, campaign_id)["status"] == "draft"
    assert deliveries(app) == 0
    assert smtp_sink.received() == []


def test_schedule_pause_resume_then_nothing_more(
    app: Flask, client: FlaskClient, api_headers: Headers, campaign: int, smtp_sink: SmtpSink
) -> None:
    at = (datetime.now(UTC) + timedelta(days=1)).isoformat()
    ok(act(client, api_headers, campaign, "send", at=at), 202)

    paused = ok(act(client, api_headers, campaign, "pause"))
    assert paused["status"] == "paused"
    assert paused["pause_reason"] == "paused by an operator" or paused["pause_reason"].startswith(
        "cannot connect"
    )
    assert error_of(act(client, api_headers, campaign, "pause"), 409)["field"] == "campaign"
    assert error_of(act(client, api_headers, campaign, "send"), 409)["code"] == "conflict"

    resumed = ok(act(client, api_headers, campaign, "resume"))  # never started: starts now
    assert (resumed["status"], resumed["pause_reason"], resumed["total"]) == ("sending", None, 6)
    drain(app)
    assert sorted(m["To"].addresses[0].addr_spec for m in smtp_sink.received()) == sorted(
        RECIPIENTS
    )
    assert status_of(client, api_headers, campaign)["status"] == "sent"
    for action in ("send", "pause", "resume", "cancel"):
        error = error_of(act(client, api_headers, campaign, action), 409)
        assert "is sent" in error["message"], action
    assert len(smtp_sink.received()) == 6


def test_pause_mid_send_holds_the_rest_until_resume(
    app: Flask, client: FlaskClient, api_headers: Headers, campaign: int, smtp_sink: SmtpSink
) -> None:
    paused = pause_before_any_message(client, api_headers, campaign, smtp_sink)
    assert paused["status"] == "paused"
    assert paused["pause_reason"] == "paused by an operator" or paused["pause_reason"].startswith(
        "cannot connect"
    )
    drain(app)  # retried batches find the campaign paused and claim nothing

    held = status_of(client, api_headers, campaign)
    assert (held["status"], held["remaining"]) == ("paused", 6)
    assert smtp_sink.received() == []
    assert ok(act(client, api_headers, campaign, "resume"))["status"] == "sending"
    drain(app)
    assert sorted(m["To"].addresses[0].addr_spec for m in smtp_sink.received()) == sorted(
        RECIPIENTS
    )
    done = status_of(client, api_headers, campaign)
    assert (done["status"], done["remaining"]) == ("sent", 0)
    assert counts(done)["Managers"] == row(sent=2)


def test_cancel_skips_what_was_not_sent(
    app: Flask, client: FlaskClient, api_headers: Headers, campaign: int, smtp_sink: SmtpSink
) -> None:
    pause_before_any_message(client, api_headers, campaign, smtp_sink)
    drain(app)  # every delivery is back in the queue, none sent

    cancelled = ok(act(client, api_headers, campaign, "cancel"))

    assert (cancelled["status"], cancelled["remaining"], cancelled["total"]) == ("cancelled", 0, 6)
    assert counts(cancelled)["Thinkers"] == row(skipped=2)
    for action in ("send", "pause", "resume", "cancel"):
        error = error_of(act(client, api_headers, campaign, action), 409)
        assert error["message"] == "campaign 'March' is cancelled", action
    drain(app)
    assert smtp_sink.received() == []


def test_a_scheduled_campaign_can_be_cancelled(
    app: Flask, client: FlaskClient, api_headers: Headers, campaign: int, smtp_sink: SmtpSink
) -> None:
    at = (datetime.now(UTC) + timedelta(hours=1)).isoformat()
    ok(act(client, api_headers, campaign, "send", at=at), 202)

    cancelled = ok(act(client, api_headers, campaign, "cancel"))

    assert (cancelled["status"], cancelled["total"]) == ("cancelled", 0)
    assert error_of(act(client, api_headers, campaign, "send"), 409)["code"] == "conflict"
    drain(app)
    assert smtp_sink.received() == []


def test_a_draft_cannot_be_paused_or_resumed(
    client: FlaskClient, api_headers: Headers, campaign: int
) -> None:
    for action in ("pause", "resume"):
        error = error_of(act(client, api_headers, campaign, action), 409)
        assert error["message"] == "campaign 'March' is draft"
    assert status_of(client, api_headers, campaign)["status"] == "draft"


def test_status_follows_a_send_in_progress(
    app: Flask, client: FlaskClient, api_headers: Headers, campaign: int, smtp_sink: SmtpSink
) -> None:
    ok(act(client, api_headers, campaign, "send"), 202)
    seen = set()
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        state = status_of(client, api_headers, campaign)
        seen.add(state["status"])
        if state["status"] == "sent":
            break
        time.sleep(0.02)
    assert "sent" in seen and seen <= {"sending", "sent"}
    assert sum(g["sent"] for g in state["groups"]) == state["total"] == 6


UNKNOWN = 987654
CONTROL_REQUESTS = [
    ("POST", "send"),
    ("GET", "status"),
    ("POST", "pause"),
    ("POST", "resume"),
    ("POST", "cancel"),
]


@pytest.mark.parametrize(("method", "action"), CONTROL_REQUESTS)
def test_an_unknown_campaign_is_404(
    client: FlaskClient, api_headers: Headers, method: str, action: str
) -> None:
    response = client.open(f"{URL}/{UNKNOWN}/{action}", method=method, headers=api_headers)

    error = error_of(response, 404)
    assert (error["code"], error["field"]) == ("not_found", "campaign")


@pytest.mark.parametrize(("method", "action"), CONTROL_REQUESTS)
@pytest.mark.parametrize("authorization", [None, "Bearer not-a-token"])
def test_every_sending_route_needs_a_token(
    app: Flask,
    client: FlaskClient,
    campaign: int,
    smtp_sink: SmtpSink,
    method: str,
    action: str,
    authorization: str | None,
) -> None:
    headers = {"Authorization": authorization} if authorization else {}

    response = client.open(f"{URL}/{campaign}/{action}", method=method, headers=headers)

    assert error_of(response, 401)["code"] == "unauthorized"
    assert response.headers["WWW-Authenticate"] == "Bearer"
    drain(app)
    assert deliveries(app) == 0
    assert smtp_sink.received() == []


def test_retry_queues_the_failed_recipients_once_more(
    app: Flask, client: FlaskClient, api_headers: Headers, campaign: int, smtp_sink: SmtpSink
) -> None:
    smtp_sink.rules["ana@example.org"] = ["550 5.7.1 Mailbox disabled for now"]
    ok(act(client, api_headers, campaign, "send"), 202)
    drain(app)
    assert status_of(client, api_headers, campaign)["status"] == "sent"
    assert smtp_sink.to("ana@example.org") == []

    retried = ok(act(client, api_headers, campaign, "retry", reason="mailbox is back"))
    assert retried["retried"] == 1 and retried["progress"]["status"] == "sending"
    drain(app)

    assert len(smtp_sink.to("ana@example.org")) == 1
    assert len(smtp_sink.received()) == 6
    done = status_of(client, api_headers, campaign)
    assert done["status"] == "sent" and sum(g["failed"] for g in done["groups"]) == 0
    assert ok(act(client, api_headers, campaign, "retry"))["retried"] == 0
