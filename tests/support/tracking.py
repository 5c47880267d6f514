"""A letter with two links, subscribers with chosen tracking consents, and the pixel and
click paths of the mail they received."""

from __future__ import annotations

import re
from datetime import timedelta
from email.message import EmailMessage

import sqlalchemy as sa
from flask import Flask

from outreach.consent.models import Purpose
from outreach.consent.service import Evidence, confirm, sign_up
from outreach.db import get_db, utcnow
from tests.conftest import SmtpSink, drain, forget_arranged_mail
from tests.support.campaigns import MJML, one_variant_campaign
from tests.support.delivery import send

BODY = MJML.replace(
    "</mj-text>",
    '<a href="https://example.org/article?id=7&amp;x=1">Read</a>'
    '<a href="https://example.org/second">Second</a></mj-text>',
)
BASE = "https://news.example.org"


def subscriber(app: Flask, email: str, *purposes: Purpose, sector: str = "Thinkers") -> int:
    """A confirmed subscriber of `sector` with the newsletter and these purposes; its id."""
    from outreach.groups.service import sector_group_ids

    with get_db(app).session() as session:
        sector_group_ids(session, [sector])
        signup = sign_up(
            session,
            {"email": email, "first_name": email[:3], "sector": sector},
            [Purpose.NEWSLETTER, *purposes],
            Evidence("test"),
            resend_after=timedelta(0),
        )
        confirm(session, signup.contact, Evidence("test"))
        forget_arranged_mail(session, signup.contact.id)
        return signup.contact.id


def html(message: EmailMessage) -> str:
    return message.get_body(("html",)).get_content()  # type: ignore[union-attr]


def pixel_path(message: EmailMessage) -> str:
    return re.search(rf'src="{BASE}(/t/o/[^"]+)"', html(message)).group(1)  # type: ignore[union-attr]


def click_paths(message: EmailMessage) -> list[str]:
    return [p for p in re.findall(rf'href="{BASE}(/t/c/[^"]+)"', html(message))]


def flush(app: Flask) -> None:
    app.extensions["outreach.hits"].flush()


def send_tracked_campaign(app: Flask, smtp_sink: SmtpSink) -> dict[str, EmailMessage]:
    """A campaign sent to four subscribers with every combination of tracking consent."""
    from outreach.delivery.models import Delivery

    subscriber(app, "none@example.org")
    subscriber(app, "opens@example.org", Purpose.OPEN_TRACKING)
    subscriber(app, "clicks@example.org", Purpose.CLICK_TRACKING)
    subscriber(app, "both@example.org", Purpose.OPEN_TRACKING, Purpose.CLICK_TRACKING)
    campaign_id = one_variant_campaign(app, "T", "Thinkers", subject="S", mjml=BODY)
    send(app, campaign_id)
    drain(app)
    with get_db(app).session() as session:  # delivered long enough ago to be read by people
        session.execute(sa.update(Delivery).values(sent_at=utcnow() - timedelta(minutes=5)))
    return {m["To"].split("<")[1].rstrip(">"): m for m in smtp_sink.received()}
