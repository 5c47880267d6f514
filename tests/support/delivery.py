"""Start a campaign as `campaigns send` does, and read what its deliveries became."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from flask import Flask

from outreach.campaigns.service import get_campaign
from outreach.db import get_db


def send(app: Flask, campaign_id: int, **options: Any) -> None:
    """Start the campaign and queue its batches, as `campaigns send` does."""
    from outreach import tasks
    from outreach.delivery import service

    with get_db(app).session() as session:
        service.start(session, get_campaign(session, campaign_id), **options)
    with get_db(app).reader() as session:
        tasks.enqueue_pending(session, campaign_id)


def statuses(app: Flask, campaign_id: int) -> dict[str, str]:
    """Address -> delivery status."""
    from outreach.contacts.models import Contact
    from outreach.delivery.models import Delivery

    with get_db(app).reader() as session:
        rows = session.execute(
            sa.select(Contact.email_key, Delivery.status)
            .join(Contact, Contact.id == Delivery.contact_id)
            .where(Delivery.campaign_id == campaign_id)
        )
        return {email: str(status) for email, status in rows}
