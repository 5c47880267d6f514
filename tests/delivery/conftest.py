"""A sending app: embedded workers, a real SMTP sink, quick retries, and a campaign."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from flask import Flask

from outreach.campaigns.service import create_campaign, get_campaign, set_variant
from outreach.db import get_db
from tests.campaigns.conftest import MJML, make_subscriber  # noqa: F401  (fixture)

SECTORS = ("Thinkers", "Managers", "Journalists")


@pytest.fixture
def app(sending_app: Flask) -> Flask:
    return sending_app


@pytest.fixture
def people(make_subscriber: Callable[..., int]) -> dict[str, int]:  # noqa: F811
    """Nine subscribers, three per sector."""
    return {
        f"{s.lower()}{i}@example.org": make_subscriber(
            f"{s.lower()}{i}@example.org", first_name=f"{s[:-1]}{i}", sector=s
        )
        for s in SECTORS
        for i in range(3)
    }


@pytest.fixture
def campaign(app: Flask, people: dict[str, int]) -> int:
    """A campaign with a variant per sector."""
    with get_db(app).session() as session:
        campaign = create_campaign(session, "June", "Ana <ana@example.org>", groups=list(SECTORS))
        for sector in SECTORS:
            set_variant(
                session,
                campaign,
                sector,
                subject=f"{sector}: {{{{ contact.first_name }}}}",
                mjml=MJML,
            )
        return campaign.id


def send(app: Flask, campaign_id: int, **options: Any) -> None:
    """Start the campaign and queue its batches, as `campaigns send` does."""
    from outreach import tasks
    from outreach.delivery import service

    with get_db(app).session() as session:
        service.start(session, get_campaign(session, campaign_id), **options)
    with get_db(app).reader() as session:
        tasks.enqueue_pending(session, campaign_id)


from tests.conftest import drain  # noqa: E402, F401


def statuses(app: Flask, campaign_id: int) -> dict[str, str]:
    """Address -> delivery status."""
    import sqlalchemy as sa

    from outreach.contacts.models import Contact
    from outreach.delivery.models import Delivery

    with get_db(app).reader() as session:
        rows = session.execute(
            sa.select(Contact.email_key, Delivery.status)
            .join(Contact, Contact.id == Delivery.contact_id)
            .where(Delivery.campaign_id == campaign_id)
        )
        return {email: str(status) for email, status in rows}
