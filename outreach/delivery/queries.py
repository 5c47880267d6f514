"""Read-only statements over the delivery ledger."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from outreach.campaigns.models import Campaign
from outreach.delivery.models import Delivery


def deliveries_of_stmt(contact_id: int) -> sa.Select[*tuple[Any, ...]]:
    """The deliveries of one contact, newest first, with the campaign's name."""
    return (
        sa.select(
            Delivery.id,
            Delivery.campaign_id,
            Campaign.name.label("campaign_name"),
            Delivery.group_name,
            Delivery.status,
            Delivery.skip_reason,
            Delivery.queued_at,
            Delivery.sent_at,
            Delivery.first_open_at,
            Delivery.human_opens,
            Delivery.machine_opens,
            Delivery.clicks,
            Delivery.unsubscribed_at,
        )
        .outerjoin(Campaign, Campaign.id == Delivery.campaign_id)
        .where(Delivery.contact_id == contact_id)
        .order_by(Delivery.queued_at.desc(), Delivery.id.desc())
    )


def deliveries_of(session: Session, contact_id: int) -> Sequence[sa.Row[*tuple[Any, ...]]]:
    """Every delivery to a contact, newest first (rows named like the columns)."""
    return session.execute(deliveries_of_stmt(contact_id)).all()
