"""Tracking tests use the sending app (embedded workers, real SMTP sink) and share a
campaign sent to subscribers with every combination of tracking consent."""

from __future__ import annotations

from datetime import timedelta
from email.message import EmailMessage

import pytest
import sqlalchemy as sa
from flask import Flask

from outreach.consent.models import Purpose
from outreach.db import get_db, utcnow
from tests.conftest import SmtpSink, drain
from tests.support.delivery import send
from tests.support.tracking import BODY, subscriber


@pytest.fixture
def app(sending_app: Flask) -> Flask:
    return sending_app


@pytest.fixture
def sent(app: Flask, smtp_sink: SmtpSink) -> dict[str, EmailMessage]:
    """A campaign sent to four subscribers with every combination of tracking consent."""
    from outreach.campaigns.service import create_campaign, set_variant
    from outreach.delivery.models import Delivery

    subscriber(app, "none@example.org")
    subscriber(app, "opens@example.org", Purpose.OPEN_TRACKING)
    subscriber(app, "clicks@example.org", Purpose.CLICK_TRACKING)
    subscriber(app, "both@example.org", Purpose.OPEN_TRACKING, Purpose.CLICK_TRACKING)
    with get_db(app).session() as session:
        campaign = create_campaign(session, "T", "a@example.org", groups=["Thinkers"])
        set_variant(session, campaign, "Thinkers", subject="S", mjml=BODY)
        campaign_id = campaign.id
    send(app, campaign_id)
    drain(app)
    with get_db(app).session() as session:  # delivered long enough ago to be read by people
        session.execute(sa.update(Delivery).values(sent_at=utcnow() - timedelta(minutes=5)))
    return {m["To"].split("<")[1].rstrip(">"): m for m in smtp_sink.received()}
