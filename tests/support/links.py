"""A campaign clicked link by link: the crafted campaign of tests/support/statistics (a
group variant and a fallback) whose recipients' clicks go through the real hit recorder."""

from __future__ import annotations

from datetime import timedelta

import sqlalchemy as sa
from flask import Flask

from outreach.consent.models import Purpose
from outreach.contacts.models import Contact
from outreach.db import get_db
from outreach.delivery.models import Delivery
from outreach.tracking.models import HitKind
from outreach.tracking.service import Hit, record_hits
from tests.support.statistics import SENT_AT, Recipient, build_campaign

BROWSER = "Mozilla/5.0 (Macintosh) Firefox/130"
SCANNER = "Mimecast URL scanner"
OPENS, CLICKS = Purpose.OPEN_TRACKING, Purpose.CLICK_TRACKING
A, B = "https://example.org/a", "https://example.org/b"
# Thinkers receive their own variant, Managers the fallback (tests/support/statistics).
PEOPLE = [
    Recipient("t1@example.org", "Thinkers", (OPENS, CLICKS)),
    Recipient("t2@example.org", "Thinkers", (CLICKS,)),
    Recipient("t3@example.org", "Thinkers", (OPENS,)),  # never allowed click tracking
    Recipient("m1@example.org", "Managers", (CLICKS,)),
    Recipient("m2@example.org", "Managers", (CLICKS,)),
]
# Two batches of (email, url, user agent, hours after sending); hours apart, no bursts.
BATCHES = [
    [
        ("t1@example.org", A, BROWSER, 1),
        ("t2@example.org", A, SCANNER, 1),
        ("t2@example.org", A, BROWSER, 5),
        ("t3@example.org", A, BROWSER, 1),  # discarded: no click tracking consent
        ("m1@example.org", A, BROWSER, 1),
    ],
    [
        ("t1@example.org", A, BROWSER, 2),
        ("t1@example.org", B, BROWSER, 3),
        ("t2@example.org", A, BROWSER, 4),  # earlier than the first batch's human click
        ("m2@example.org", B, SCANNER, 1),
    ],
]


def delivery_ids(app: Flask, campaign_id: int) -> dict[str, int]:
    """Address -> its delivery id in the campaign."""
    with get_db(app).reader() as session:
        return dict(
            session.execute(
                sa.select(Contact.email, Delivery.id)
                .join(Contact, Contact.id == Delivery.contact_id)
                .where(Delivery.campaign_id == campaign_id)
            ).all()
        )


def clicked_campaign(app: Flask) -> int:
    """The crafted campaign of tests/support/statistics, clicked in BATCHES through the
    recorder; its id."""
    campaign_id = build_campaign(app, PEOPLE, [])
    ids = delivery_ids(app, campaign_id)
    for batch in BATCHES:
        with get_db(app).session() as session:
            record_hits(
                session,
                [
                    Hit(
                        HitKind.CLICK,
                        ids[email],
                        SENT_AT + timedelta(hours=h),
                        agent,
                        None,
                        url=url,
                    )
                    for email, url, agent, h in batch
                ],
            )
    return campaign_id


# url -> (group, variant) -> [human clickers, human clicks, machine clickers, clicks]
EXPECTED = {
    A: {
        ("all", ""): [3, 5, 1, 1],
        ("Thinkers", "Thinkers"): [2, 4, 1, 1],
        ("Managers", "fallback"): [1, 1, 0, 0],
    },
    B: {
        ("all", ""): [1, 1, 1, 1],
        ("Thinkers", "Thinkers"): [1, 1, 0, 0],
        ("Managers", "fallback"): [0, 0, 1, 1],
    },
}
