"""Rule group tests share five contacts with profiles, a hand-made group and the ledger of
three campaigns."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from flask import Flask

from outreach.campaigns.models import Campaign, CampaignStatus
from outreach.contacts.models import Contact, ContactStatus
from outreach.db import get_db, utcnow
from outreach.delivery.models import Delivery, DeliveryStatus
from outreach.groups.models import GroupMembership
from outreach.groups.service import create_group
from outreach.tracking.models import LinkClick

LINK = "https://example.org/report"


def _contact(session: Any, email: str, days_ago: int, **fields: Any) -> int:
    contact = Contact(
        email=email,
        email_key=email,
        created_at=utcnow() - timedelta(days=days_ago),
        **fields,
    )
    session.add(contact)
    session.flush()
    return contact.id


def _campaign(session: Any, name: str, days_ago: int) -> int:
    started = utcnow() - timedelta(days=days_ago)
    campaign = Campaign(
        name=name,
        from_email="a@example.org",
        status=CampaignStatus.SENT,
        started_at=started,
        finished_at=started,
    )
    session.add(campaign)
    session.flush()
    return campaign.id


def _delivery(session: Any, campaign: int, contact: int | None, status: str, **fields: Any) -> int:
    sent = session.get(Campaign, campaign).started_at
    delivery = Delivery(
        campaign_id=campaign,
        contact_id=contact,
        group_name="G",
        variant_id=0,
        status=DeliveryStatus(status),
        sent_at=sent if status == "sent" else None,
        **fields,
    )
    session.add(delivery)
    session.flush()
    return delivery.id


def _link(session: Any, campaign: int, delivery: int, **clicks: int) -> None:
    session.add(
        LinkClick(
            campaign_id=campaign,
            delivery_id=delivery,
            group_name="G",
            variant_id=0,
            url=LINK,
            **clicks,
        )
    )


@pytest.fixture
def people(app: Flask) -> None:
    """Five contacts with profiles, a hand-made group and three campaigns' ledger."""
    with get_db(app).session() as session:
        ana = _contact(
            session,
            "ana@example.org",
            10,
            first_name="Ana",
            organization="Acme Consulting",
            sector="Consultants",
            language="es",
            attributes={"city": "Madrid", "age": "34", "joined": "2024-03-10"},
            status=ContactStatus.SUBSCRIBED,
        )
        ben = _contact(
            session,
            "ben@example.org",
            100,
            first_name="Ben",
            organization="Beta Press",
            sector="Journalists",
            attributes={"city": "Lisbon", "age": 51, "joined": "2025-07-01"},
            status=ContactStatus.SUBSCRIBED,
        )
        cleo = _contact(
            session,
            "cleo@example.org",
            400,
            first_name="Cleo",
            attributes={"city": "madrid", "age": "n/a"},
            status=ContactStatus.PENDING,
        )
        dan = _contact(
            session,
            "dan@example.org",
            2,
            first_name="Dan",
            organization="Delta",
            sector="Journalists",
            status=ContactStatus.UNSUBSCRIBED,
        )
        _contact(session, "eve@example.org", 1000, status=ContactStatus.RESTRICTED)
        vip = create_group(session, "VIP")
        session.add_all(GroupMembership(group_id=vip.id, contact_id=c) for c in (ana, cleo))
        spring = _campaign(session, "Spring", 60)
        summer = _campaign(session, "Summer", 20)
        autumn = _campaign(session, "Autumn", 5)
        tracked = {"tracking_opens": True, "tracking_clicks": True}
        _delivery(session, spring, ana, "sent", human_opens=1, **tracked)
        # A privacy proxy fetched Ana's Summer pixel: a machine open, not an open.
        _delivery(session, summer, ana, "sent", machine_opens=2, **tracked)
        clicked = _delivery(session, autumn, ana, "sent", human_opens=1, clicks=1, **tracked)
        _link(session, autumn, clicked, human_clicks=1)
        _delivery(session, spring, ben, "bounced")
        # Ben opened Summer; a link scanner clicked every link of it: machine clicks only.
        scanned = _delivery(
            session, summer, ben, "sent", human_opens=2, machine_clicks=3, **tracked
        )
        _link(session, summer, scanned, machine_clicks=3)
        _delivery(session, autumn, ben, "sent")  # sent without tracking: never a non-opener
        _delivery(session, summer, cleo, "failed")
        _delivery(session, autumn, dan, "sent", **tracked)
        # An erased contact's delivery stays in the ledger without its contact.
        _delivery(session, spring, None, "sent", human_opens=1, **tracked)
