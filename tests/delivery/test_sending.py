"""Sending through the queue into a real SMTP server: once each, retries, failures, control."""

from __future__ import annotations

import re
from datetime import timedelta

import sqlalchemy as sa
from flask import Flask

from outreach.campaigns.models import Campaign
from outreach.campaigns.service import get_campaign
from outreach.consent.models import Suppression
from outreach.contacts.models import Contact
from outreach.db import get_db, utcnow
from outreach.delivery import service
from outreach.delivery.models import Delivery
from tests.conftest import SmtpSink, drain
from tests.support.delivery import send, statuses


def test_each_recipient_gets_one_message_of_its_variant(
    app: Flask, campaign: int, people: dict[str, int], smtp_sink: SmtpSink
) -> None:
    send(app, campaign)
    drain(app)
    assert len(smtp_sink.received()) == len(people) == 9
    for address in people:
        [message] = smtp_sink.to(address)
        sector = next(
            s for s in ("Thinkers", "Managers", "Journalists") if address.startswith(s.lower())
        )
        assert message["Subject"].startswith(f"{sector}: ")
        html = message.get_body(("html",)).get_content()
        assert f"For {sector}" in html
        url = re.search(r'href="https://news\.example\.org(/unsubscribe/[^"]+)"', html).group(1)
        assert message["List-Unsubscribe"].startswith(f"<https://news.example.org{url}>")
    urls = {m["List-Unsubscribe"] for m in smtp_sink.received()}
    assert len(urls) == 9  # everyone has their own
    assert set(statuses(app, campaign).values()) == {"sent"}
    with get_db(app).reader() as session:
        assert str(get_campaign(session, campaign).status) == "sent"


def test_sending_twice_creates_nothing_new(app: Flask, campaign: int, smtp_sink: SmtpSink) -> None:
    from outreach import tasks

    send(app, campaign)
    drain(app)
    with get_db(app).session() as session:
        assert service.freeze_audience(session, get_campaign(session, campaign)) == 0
    with get_db(app).reader() as session:
        for low, high in [(1, 10**9)]:
            tasks.send_batch.send(campaign, low, high)  # a duplicate message from the broker
    drain(app)
    assert len(smtp_sink.received()) == 9


def test_451_then_250_is_delivered_once_after_retry(
    app: Flask, campaign: int, smtp_sink: SmtpSink
) -> None:
    smtp_sink.rules["thinkers0@example.org"] = ["451 4.3.0 Try again later"]
    send(app, campaign)
    drain(app)
    assert len(smtp_sink.to("thinkers0@example.org")) == 1
    with get_db(app).reader() as session:
        attempts = session.scalar(
            sa.select(Delivery.attempts)
            .join(Contact, Contact.id == Delivery.contact_id)
            .where(Contact.email_key == "thinkers0@example.org")
        )
    assert attempts == 2
    assert set(statuses(app, campaign).values()) == {"sent"}


def test_550_fails_only_that_recipient(app: Flask, campaign: int, smtp_sink: SmtpSink) -> None:
    smtp_sink.rules["managers1@example.org"] = ["550 5.7.1 Relaying denied"]
    send(app, campaign)
    drain(app)
    result = statuses(app, campaign)
    assert result.pop("managers1@example.org") == "failed"
    assert set(result.values()) == {"sent"}
    assert len(smtp_sink.received()) == 8
    with get_db(app).reader() as session:
        error = session.scalar(sa.select(Delivery.last_error).where(Delivery.status == "failed"))
        contact = session.scalar(
            sa.select(Contact).where(Contact.email_key == "managers1@example.org")
        )
    assert error == "550 5.7.1 Relaying denied"
    assert str(contact.status) == "subscribed"  # not a bounce


def test_hard_bounce_marks_contact_bounced_and_suppressed(
    app: Flask, campaign: int, smtp_sink: SmtpSink
) -> None:
    smtp_sink.rules["journalists2@example.org"] = ["550 5.1.1 No such user"]
    send(app, campaign)
    drain(app)
    assert statuses(app, campaign)["journalists2@example.org"] == "bounced"
    with get_db(app).reader() as session:
        contact = session.scalar(
            sa.select(Contact).where(Contact.email_key == "journalists2@example.org")
        )
        assert str(contact.status) == "bounced"
        assert (
            session.scalar(
                sa.select(Suppression.reason).where(Suppression.email_hmac == contact.email_hmac)
            )
            == "hard bounce"
        )


def test_server_down_pauses_with_the_reason_and_fails_nobody(
    app: Flask, campaign: int, smtp_sink: SmtpSink
) -> None:
    smtp_sink.stop()
    send(app, campaign)
    drain(app)
    assert set(statuses(app, campaign).values()) == {"queued"}  # nobody failed, nothing burnt
    with get_db(app).reader() as session:
        paused = get_campaign(session, campaign)
        assert str(paused.status) == "paused"
        assert "Connection refused" in (paused.pause_reason or "")
        assert session.scalar(sa.select(sa.func.max(Delivery.attempts))) == 0
    smtp_sink.start()
    with get_db(app).session() as session:
        service.resume(session, get_campaign(session, campaign))
    from outreach import tasks

    with get_db(app).reader() as session:
        tasks.enqueue_pending(session, campaign)
    drain(app)
    assert set(statuses(app, campaign).values()) == {"sent"}
    assert len(smtp_sink.received()) == 9


def test_consecutive_failures_pause_the_campaign(
    app: Flask, campaign: int, people: dict[str, int], smtp_sink: SmtpSink
) -> None:
    for address in people:
        smtp_sink.rules[address] = ["554 5.7.1 Service unavailable"]
    send(app, campaign)
    drain(app)
    with get_db(app).reader() as session:
        state = get_campaign(session, campaign)
        assert str(state.status) == "paused"
        assert "consecutive failures" in (state.pause_reason or "")
    assert list(statuses(app, campaign).values()).count("failed") == 5  # pause_after=5
    assert "queued" in statuses(app, campaign).values()


def test_unsubscribe_mid_campaign_stops_mail_to_that_address(
    app: Flask, campaign: int, people: dict[str, int], smtp_sink: SmtpSink
) -> None:
    from outreach.consent.links import unsubscribe_url

    settings = app.extensions["outreach.settings"]
    with get_db(app).session() as session:
        service.start(session, get_campaign(session, campaign))
    # The audience is frozen and queued; the subscriber clicks before the batch runs.
    url = unsubscribe_url(settings, people["managers2@example.org"], campaign)
    response = app.test_client().post(
        url.removeprefix(settings.base_url),
        data="List-Unsubscribe=One-Click",
        content_type="application/x-www-form-urlencoded",
    )
    assert response.status_code == 200
    from outreach import tasks

    with get_db(app).reader() as session:
        tasks.enqueue_pending(session, campaign)
    drain(app)
    assert smtp_sink.to("managers2@example.org") == []
    assert statuses(app, campaign)["managers2@example.org"] == "skipped"
    with get_db(app).reader() as session:
        reason = session.scalar(sa.select(Delivery.skip_reason).where(Delivery.status == "skipped"))
    assert reason == "not subscribed"
    assert len(smtp_sink.received()) == 8


def test_pause_resume_and_cancel(app: Flask, campaign: int, smtp_sink: SmtpSink) -> None:
    from outreach import tasks

    with get_db(app).session() as session:
        service.start(session, get_campaign(session, campaign))
        service.pause(session, get_campaign(session, campaign))
    with get_db(app).reader() as session:
        tasks.enqueue_pending(session, campaign)
    drain(app)
    assert smtp_sink.received() == []  # paused: nothing claimed
    with get_db(app).session() as session:
        service.resume(session, get_campaign(session, campaign))
    with get_db(app).reader() as session:
        tasks.enqueue_pending(session, campaign)
    drain(app)
    assert len(smtp_sink.received()) == 9


def test_cancel_skips_what_is_left(app: Flask, campaign: int, smtp_sink: SmtpSink) -> None:
    with get_db(app).session() as session:
        service.start(session, get_campaign(session, campaign))
        assert service.cancel(session, get_campaign(session, campaign)) == 9
    assert set(statuses(app, campaign).values()) == {"skipped"}
    with get_db(app).reader() as session:
        assert (
            session.scalar(
                sa.select(sa.func.count())
                .select_from(Delivery)
                .where(Delivery.skip_reason == "cancelled")
            )
            == 9
        )


def test_scheduled_campaign_starts_on_time(app: Flask, campaign: int, smtp_sink: SmtpSink) -> None:
    from outreach.delivery.tasks import sweep

    send(app, campaign, at=utcnow() + timedelta(hours=1))
    with get_db(app).reader() as session:
        assert str(get_campaign(session, campaign).status) == "scheduled"
    assert sweep() == {"started": 0, "resumed": 0, "batches": 0}
    with get_db(app).session() as session:
        session.execute(sa.update(Campaign).values(scheduled_at=utcnow() - timedelta(seconds=1)))
    assert sweep()["started"] == 1
    drain(app)
    assert len(smtp_sink.received()) == 9


def test_expired_lease_is_reclaimed_by_the_sweeper(
    app: Flask, campaign: int, smtp_sink: SmtpSink
) -> None:
    from outreach.delivery.tasks import sweep

    with get_db(app).session() as session:
        service.start(session, get_campaign(session, campaign))
        # A worker claimed everything, then died: leases expired, no progress for minutes.
        session.execute(
            sa.update(Delivery).values(
                status="sending", lease_until=utcnow() - timedelta(seconds=1)
            )
        )
        session.execute(sa.update(Campaign).values(progress_at=utcnow() - timedelta(minutes=5)))
    assert sweep()["resumed"] == 1
    drain(app)
    assert len(smtp_sink.received()) == 9
    assert set(statuses(app, campaign).values()) == {"sent"}


def test_send_refuses_a_campaign_with_presend_errors(app: Flask, people: dict[str, int]) -> None:
    import pytest

    from outreach.campaigns.service import create_campaign
    from outreach.errors import ValidationError

    with get_db(app).session() as session:
        campaign = create_campaign(session, "Empty", "a@example.org", groups=["Thinkers"])
        with pytest.raises(ValidationError, match="no variant for this group"):
            service.start(session, campaign)
