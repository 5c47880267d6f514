"""A sent campaign with known figures, as the statistics pages and the API report it.

The data goes through the services (sign-up and confirmation with tracking purposes, a
campaign with a group variant and a fallback); deliveries and hits are ledger rows as the
sender and the tracker would leave them. (A copy of the factories of
tests/admin/test_statistics.py, which should import them from here.)
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from flask import Flask

from outreach.campaigns.service import create_campaign, set_variant
from outreach.consent.models import Purpose
from outreach.db import get_db
from outreach.delivery.models import Delivery, DeliveryStatus
from outreach.groups.service import get_group, sector_group_ids
from outreach.reporting.tallies import recount
from outreach.tracking.models import HitKind, TrackingHit
from tests.support.campaigns import MJML
from tests.support.tracking import subscriber

OPENS, CLICKS = Purpose.OPEN_TRACKING, Purpose.CLICK_TRACKING
SENT_AT = datetime(2026, 5, 4, 8, 0, tzinfo=UTC)


@dataclass
class Recipient:
    """A subscriber, its tracking consents, and what its delivery recorded."""

    email: str
    group: str
    purposes: tuple[Purpose, ...] = ()
    status: DeliveryStatus = DeliveryStatus.SENT
    human: int = 0
    machine: int = 0
    clicks: int = 0
    machine_clicks: int = 0
    unsubscribed: bool = False


# Thinkers receive their own variant, Managers the fallback.
PEOPLE = [
    Recipient("t1@example.org", "Thinkers", (OPENS, CLICKS), human=3, clicks=2),
    # A privacy proxy fetched the pixel and a link scanner followed the links.
    Recipient("t2@example.org", "Thinkers", (OPENS, CLICKS), machine=1, machine_clicks=1),
    Recipient("t3@example.org", "Thinkers", (OPENS,), human=1),
    Recipient("t4@example.org", "Thinkers", (), unsubscribed=True),
    Recipient("t5@example.org", "Thinkers", (OPENS,), status=DeliveryStatus.FAILED),
    Recipient("m1@example.org", "Managers", (OPENS,), human=1),
    Recipient("m2@example.org", "Managers", (OPENS, CLICKS), clicks=1),
    Recipient("m3@example.org", "Managers", (), status=DeliveryStatus.BOUNCED),
    Recipient("m4@example.org", "Managers", (OPENS,), status=DeliveryStatus.SKIPPED),
]
# (email, kind, machine, minutes after 09:00 on the sending day)
HITS = [
    ("t1@example.org", HitKind.OPEN, False, 10),
    ("t2@example.org", HitKind.OPEN, True, 15),  # a privacy proxy: not in the series
    ("t3@example.org", HitKind.OPEN, False, 40),
    ("t1@example.org", HitKind.CLICK, False, 50),
    ("t1@example.org", HitKind.OPEN, False, 125),
    ("m2@example.org", HitKind.CLICK, False, 140),
    ("m1@example.org", HitKind.OPEN, False, 150),
]


def subscribe(app: Flask, email: str, group: str, purposes: tuple[Purpose, ...]) -> int:
    """A confirmed subscriber of the sector `group` with these tracking consents."""
    with app.app_context():
        return subscriber(app, email, *purposes, sector=group)


def build_campaign(
    app: Flask,
    people: list[Recipient] | None = None,
    hits: list[tuple[str, HitKind, bool, int]] | None = None,
    *,
    name: str = "May letter",
    groups: tuple[str, ...] = ("Thinkers", "Managers"),
) -> int:
    """A campaign with a variant for the first group and a fallback, its deliveries and hits;
    returns its id."""
    people = PEOPLE if people is None else people
    hits = HITS if hits is None else hits
    contacts = {p.email: subscribe(app, p.email, p.group, p.purposes) for p in people}
    with app.app_context(), get_db(app).session() as session:
        sector_group_ids(session, groups)
        campaign = create_campaign(session, name, "Ana <ana@example.org>", groups=list(groups))
        own = set_variant(session, campaign, groups[0], subject="For you", mjml=MJML)
        fallback = set_variant(session, campaign, None, subject="For all", mjml=MJML)
        deliveries: dict[str, Delivery] = {}
        for p in people:
            sent = p.status is DeliveryStatus.SENT
            deliveries[p.email] = Delivery(
                campaign_id=campaign.id,
                contact_id=contacts[p.email],
                variant_id=own.id if p.group == groups[0] else fallback.id,
                group_id=get_group(session, p.group).id,
                group_name=p.group,
                status=p.status,
                tracking_opens=OPENS in p.purposes,
                tracking_clicks=CLICKS in p.purposes,
                sent_at=SENT_AT if sent else None,
                human_opens=p.human,
                machine_opens=p.machine,
                clicks=p.clicks,
                machine_clicks=p.machine_clicks,
                unsubscribed_at=SENT_AT + timedelta(hours=2) if p.unsubscribed else None,
            )
        session.add_all(deliveries.values())
        session.flush()
        start = SENT_AT + timedelta(hours=1)
        session.add_all(
            TrackingHit(
                delivery_id=deliveries[email].id,
                campaign_id=campaign.id,
                kind=kind,
                machine=machine,
                occurred_at=start + timedelta(minutes=minutes),
            )
            for email, kind, machine, minutes in hits
        )
        session.flush()
        recount(session, campaign.id)  # crafted rows bypass the engine: recount as it does
        return campaign.id
