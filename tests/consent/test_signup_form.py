"""The sign-up form: notice, enumeration, bad input, rate limit, header injection."""

from __future__ import annotations

import re

import pytest
from flask import Flask

from outreach.db import get_db
from tests.conftest import SmtpSink, csrf_from
from tests.support.consent import contact_row, form, link, mails_to, seed_sectors, subscribe


@pytest.fixture
def app(mail_app: Flask) -> Flask:
    seed_sectors(mail_app)
    return mail_app


def test_form_shows_first_layer_notice_and_unticked_boxes(app: Flask) -> None:
    html = app.test_client().get("/subscribe").get_data(as_text=True)
    for heading in (
        "Responsible",
        "Purpose",
        "Legitimation",
        "Recipients",
        "Rights",
        "Additional information",
    ):
        assert f"<dt>{heading}</dt>" in html
    assert 'href="/privacy"' in html
    boxes = re.findall(r'<input type="checkbox" name="(\w+)"[^>]*>', html)
    assert boxes == ["consent_newsletter", "consent_tracking", "consent_click_tracking"]
    assert "checked" not in " ".join(re.findall(r'<input type="checkbox"[^>]*>', html))
    for sector in ("Consultants", "Managers", "Thinkers"):
        assert f"<option >{sector}</option>" in html or f"<option>{sector}</option>" in html


def test_privacy_page_shows_the_version(app: Flask) -> None:
    html = app.test_client().get("/privacy").get_data(as_text=True)
    assert "Version 1" in html and "Your rights" in html


def test_answers_are_identical_for_new_pending_and_subscribed(
    app: Flask, smtp_sink: SmtpSink
) -> None:
    client = app.test_client(use_cookies=False)
    subscribe(client, "pending@example.org")
    subscribe(client, "member@example.org")
    path = link(mails_to(app, smtp_sink, "member@example.org")[0], "confirm")
    confirmer = app.test_client()
    confirmer.post(path, data={"csrf_token": csrf_from(confirmer.get(path).get_data(as_text=True))})
    assert contact_row(app, "member@example.org").status == "subscribed"
    bodies = [
        subscribe(client, email).data
        for email in ("new@example.org", "pending@example.org", "member@example.org")
    ]
    assert bodies[0] == bodies[1] == bodies[2]
    statuses = {subscribe(client, e).status_code for e in ("x@example.org", "member@example.org")}
    assert statuses == {200}


@pytest.mark.parametrize(
    ("data", "field", "message"),
    [
        (form(consent_newsletter=""), "consent_newsletter", "tick the box"),
        (form("not-an-address"), "email", "is not a valid address"),
        (form(sector="Astronauts"), "sector", "choose a sector from the list"),
        (form(first_name="x" * 5000), "first_name", "first name is too long"),
        (form(first_name="Eve\r\nBcc: victim@example.org"), "first_name", "line break"),
    ],
)
def test_bad_input_is_refused_next_to_its_field(
    app: Flask, data: dict, field: str, message: str
) -> None:
    response = app.test_client().post("/subscribe", data=data)
    assert response.status_code == 422
    html = response.get_data(as_text=True)
    assert message in html
    assert 'class="error"' in html
    with get_db(app).reader() as session:
        from outreach.contacts.models import Contact

        assert session.query(Contact).count() == 0


def test_crlf_in_name_never_reaches_a_header(app: Flask, smtp_sink: SmtpSink) -> None:
    app.test_client().post("/subscribe", data=form(first_name="Eve\nBcc: victim@example.org"))
    app.test_client().post("/subscribe", data=form("eve@example.org", first_name="Eve Bcc"))
    messages = mails_to(app, smtp_sink, "eve@example.org")
    assert len(messages) == 1
    assert "Bcc" not in messages[0] and "victim" not in str(messages[0]["To"])
    assert all("victim" not in str(m) for m in smtp_sink.received())


def test_burst_of_submissions_is_rate_limited(app: Flask) -> None:
    client = app.test_client()
    codes = [
        client.post(
            "/subscribe", data=form(f"u{i}@example.org"), environ_base={"REMOTE_ADDR": "192.0.2.50"}
        ).status_code
        for i in range(50)
    ]
    assert codes[:10] == [200] * 10
    assert codes.count(429) == 40
    other_ip = client.post(
        "/subscribe", data=form("z@example.org"), environ_base={"REMOTE_ADDR": "192.0.2.51"}
    )
    assert other_ip.status_code == 200


def test_honeypot_gets_the_same_page_and_records_nothing(app: Flask, smtp_sink: SmtpSink) -> None:
    response = app.test_client().post("/subscribe", data=form(website="http://spam.example"))
    assert response.status_code == 200 and "Check your inbox" in response.get_data(as_text=True)
    assert contact_row(app, "ana@example.org") is None
    assert mails_to(app, smtp_sink, "ana@example.org") == []


def test_form_posted_from_another_site_works(app: Flask, smtp_sink: SmtpSink) -> None:
    response = app.test_client(use_cookies=False).post(
        "/subscribe", data=form(), headers={"Referer": "https://blog.example.net/join"}
    )
    assert response.status_code == 200
    assert contact_row(app, "ana@example.org").status == "pending"
    assert len(mails_to(app, smtp_sink, "ana@example.org")) == 1
