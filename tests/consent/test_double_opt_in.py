"""Subscribe → confirmation email → GET changes nothing → POST confirms → welcome email."""

from __future__ import annotations

import pytest
import sqlalchemy as sa
from flask import Flask

from outreach.consent.models import ConsentEvent
from outreach.db import get_db
from tests.conftest import SmtpSink, csrf_from
from tests.support.consent import (
    contact_row,
    events,
    html_of,
    link,
    mails_to,
    seed_sectors,
    subscribe,
    text_of,
)


@pytest.fixture
def app(mail_app: Flask) -> Flask:
    seed_sectors(mail_app)
    return mail_app


def test_double_opt_in_end_to_end(app: Flask, smtp_sink: SmtpSink) -> None:
    client = app.test_client()
    page = subscribe(client, consent_tracking="1")
    assert page.status_code == 200 and "Check your inbox" in page.get_data(as_text=True)
    assert contact_row(app, "ana@example.org").status == "pending"
    assert events(app, "ana@example.org") == [("newsletter", "given"), ("open_tracking", "given")]

    [confirmation] = mails_to(app, smtp_sink, "ana@example.org")
    assert confirmation["Subject"] == "Please confirm your subscription"
    assert "List-Unsubscribe" not in confirmation  # transactional, not marketing
    body = text_of(confirmation) + html_of(confirmation)
    assert "ebook" not in body.lower() and "/t/" not in body  # no lead magnet, no tracking
    confirm_path = link(confirmation, "confirm")

    landing = client.get(confirm_path)
    assert landing.status_code == 200 and "Confirm" in landing.get_data(as_text=True)
    assert contact_row(app, "ana@example.org").status == "pending"  # GET changed nothing

    done = client.post(
        confirm_path,
        data={"csrf_token": csrf_from(landing.get_data(as_text=True))},
        environ_base={"REMOTE_ADDR": "203.0.113.9"},
    )
    assert done.status_code == 200 and "Welcome, Ana" in done.get_data(as_text=True)
    contact = contact_row(app, "ana@example.org")
    assert contact.status == "subscribed"
    assert events(app, "ana@example.org")[2:] == [
        ("newsletter", "confirmed"),
        ("open_tracking", "confirmed"),
    ]
    with get_db(app).reader() as session:
        confirmed = session.scalars(
            sa.select(ConsentEvent).where(ConsentEvent.action == "confirmed")
        ).first()
        given = session.scalars(sa.select(ConsentEvent)).first()
    assert confirmed is not None and given is not None
    assert confirmed.confirmation_ip == "203.0.113.9" and confirmed.confirmed_at is not None
    assert given.ip == "198.51.100.7" and given.user_agent == "TestBrowser/1.0"
    assert given.notice_version_id is not None and given.source.startswith("form:")
    assert confirmed.notice_version_id == given.notice_version_id

    welcome = mails_to(app, smtp_sink, "ana@example.org")[-1]
    assert welcome["Subject"].startswith("Welcome")
    download = link(welcome, "download")
    with client.get(download) as got:
        assert got.status_code == 200 and b"Segment, don't spray" in got.data
    assert client.get(download[:-3] + "abc").status_code == 400  # tampered


def test_expired_download_and_confirmation_links_fail(
    app: Flask, smtp_sink: SmtpSink, monkeypatch: pytest.MonkeyPatch
) -> None:
    import itsdangerous.timed

    client = app.test_client()
    subscribe(client, "bo@example.org")
    path = link(mails_to(app, smtp_sink, "bo@example.org")[0], "confirm")
    client.post(path, data={"csrf_token": csrf_from(client.get(path).get_data(as_text=True))})
    download = link(mails_to(app, smtp_sink, "bo@example.org")[-1], "download")
    subscribe(client)
    confirm_path = link(mails_to(app, smtp_sink, "ana@example.org")[0], "confirm")
    later = itsdangerous.timed.time.time() + 49 * 3600
    monkeypatch.setattr(itsdangerous.timed.time, "time", lambda: later)
    expired = client.get(confirm_path)
    assert expired.status_code == 410 and "expired" in expired.get_data(as_text=True)
    assert contact_row(app, "ana@example.org").status == "pending"
    with client.get(download) as still_valid:
        assert still_valid.status_code == 200  # downloads last 7 days
    monkeypatch.setattr(itsdangerous.timed.time, "time", lambda: later + 6 * 86400)
    assert client.get(download).status_code == 410


def test_reused_and_tampered_confirmation_changes_nothing(app: Flask, smtp_sink: SmtpSink) -> None:
    client = app.test_client()
    subscribe(client)
    confirm_path = link(mails_to(app, smtp_sink, "ana@example.org")[0], "confirm")
    token = csrf_from(client.get(confirm_path).get_data(as_text=True))
    assert client.post(confirm_path, data={"csrf_token": token}).status_code == 200
    before = events(app, "ana@example.org")
    again = client.post(confirm_path, data={"csrf_token": token})
    assert again.status_code == 200  # says what is true (issue 14), and records nothing
    assert "Your subscription is already confirmed" in again.get_data(as_text=True)
    # Change the signature's first character: the last one carries unused padding bits.
    head, signature = confirm_path.rsplit(".", 1)
    tampered = f"{head}.{'A' if signature[0] != 'A' else 'B'}{signature[1:]}"
    assert client.get(tampered).status_code == 400
    assert client.post(tampered, data={"csrf_token": token}).status_code == 400
    assert events(app, "ana@example.org") == before


def test_resubmitting_resends_a_fresh_link_but_throttled(app: Flask, smtp_sink: SmtpSink) -> None:
    from outreach.contacts.models import Contact

    client = app.test_client()
    subscribe(client)
    subscribe(client)
    assert len(mails_to(app, smtp_sink, "ana@example.org")) == 1  # throttled
    with get_db(app).session() as session:
        session.execute(
            sa.update(Contact).values(
                confirmation_sent_at=sa.func.coalesce(Contact.confirmation_sent_at, None)
            )
        )
        contact = session.scalars(sa.select(Contact)).one()
        from datetime import timedelta

        contact.confirmation_sent_at = contact.confirmation_sent_at - timedelta(minutes=11)
    subscribe(client)
    first, second = mails_to(app, smtp_sink, "ana@example.org")
    assert link(first, "confirm") != link(second, "confirm")


def test_already_subscribed_gets_an_informational_email(app: Flask, smtp_sink: SmtpSink) -> None:
    client = app.test_client()
    subscribe(client)
    path = link(mails_to(app, smtp_sink, "ana@example.org")[0], "confirm")
    client.post(path, data={"csrf_token": csrf_from(client.get(path).get_data(as_text=True))})
    subscribe(client)
    [last] = [
        m
        for m in mails_to(app, smtp_sink, "ana@example.org")
        if m["Subject"] == "You are already subscribed"
    ]  # worker threads race
    assert "/preferences/" in text_of(last)
