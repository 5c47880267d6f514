"""Privacy tests reuse the sending app (embedded workers, real SMTP sink), and share a
campaign history of two subscribers."""

from __future__ import annotations

from datetime import timedelta
from email.message import EmailMessage

import pytest
import sqlalchemy as sa
from flask import Flask

from outreach.db import get_db, utcnow
from tests.conftest import SmtpSink, drain
from tests.support.delivery import send
from tests.support.privacy import ANA, BO
from tests.support.tracking import BODY, pixel_path, send_tracked_campaign, subscriber


@pytest.fixture
def app(sending_app: Flask) -> Flask:
    return sending_app


@pytest.fixture
def sent(app: Flask, smtp_sink: SmtpSink) -> dict[str, EmailMessage]:
    """A campaign sent to four subscribers with every combination of tracking consent."""
    return send_tracked_campaign(app, smtp_sink)


@pytest.fixture
def history(app: Flask, smtp_sink: SmtpSink) -> int:
    """Two subscribers sharing a group and a campaign; Ana opened it."""
    from outreach.campaigns.service import create_campaign, set_variant
    from outreach.consent.models import Purpose
    from outreach.consent.notice import current_notice
    from outreach.consent.service import Evidence, confirm, sign_up
    from outreach.delivery.models import Delivery
    from outreach.groups.service import add_members, sector_group_ids

    with get_db(app).session() as session:  # Ana signed up on the form, seeing notice 1
        sector_group_ids(session, ["Thinkers"])
        evidence = Evidence(
            "form:https://news.example.org/subscribe",
            "198.51.100.7",
            "Firefox",
            current_notice(session).id,
        )
        signup = sign_up(
            session,
            {"email": ANA, "first_name": "Anabel", "sector": "Thinkers"},
            [Purpose.NEWSLETTER, Purpose.OPEN_TRACKING, Purpose.CLICK_TRACKING],
            evidence,
            resend_after=timedelta(0),
        )
        confirm(session, signup.contact, evidence)
    subscriber(app, BO, Purpose.OPEN_TRACKING)
    with get_db(app).session() as session:
        add_members(session, "VIP", [ANA, BO])
        campaign = create_campaign(session, "June", "a@example.org", groups=["VIP"])
        set_variant(session, campaign, "VIP", subject="S", mjml=BODY)
        campaign_id = campaign.id
    send(app, campaign_id)
    drain(app)
    with get_db(app).session() as session:
        session.execute(sa.update(Delivery).values(sent_at=utcnow() - timedelta(hours=1)))
    ana_mail = next(m for m in smtp_sink.received() if ANA in str(m["To"]) and m["List-Id"])
    app.test_client().get(
        pixel_path(ana_mail),
        headers={"User-Agent": "Mozilla/5.0 Firefox"},
        environ_base={"REMOTE_ADDR": "203.0.113.77"},
    )
    app.extensions["outreach.hits"].flush()
    from outreach.application.inbound import process
    from tests.support.inbound import yahoo_delay

    with get_db(app).session() as session:  # a relay deferred her copy once: a soft bounce
        process(session, app.extensions["outreach.settings"], yahoo_delay(ana_mail), "pipe")
    return campaign_id
