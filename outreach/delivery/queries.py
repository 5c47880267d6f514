"""Read-only statements over the delivery ledger."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from outreach.campaigns.models import Campaign
from outreach.delivery.models import Delivery, DeliveryStatus


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


def failure_reasons(session: Session, campaign_id: int, limit: int = 5) -> list[tuple[str, int]]:
    """The commonest reasons of failed deliveries, with how many each."""
    count = sa.func.count().label("n")
    rows = session.execute(
        sa.select(Delivery.last_error, count)
        .where(Delivery.campaign_id == campaign_id, Delivery.status == DeliveryStatus.FAILED)
        .group_by(Delivery.last_error)
        .order_by(count.desc(), Delivery.last_error)
        .limit(limit)
    ).all()
    return [(reason or "unknown", int(n)) for reason, n in rows]


def suspected_duplicates(session: Session, campaign_id: int) -> int:
    """Deliveries claimed again after their message may have reached the server."""
    return (
        session.scalar(
            sa.select(sa.func.count())
            .select_from(Delivery)
            # "= true" as ix_deliveries_suspected's condition reads (SQLite uses a partial
            # index only for a query whose condition matches the index's), and named: SQLite
            # has no statistics to tell it from ix_deliveries_campaign_status, and picked
            # either by the order of the schema (250 ms a read of a million-row campaign).
            .with_hint(Delivery, "INDEXED BY ix_deliveries_suspected", "sqlite")
            .where(Delivery.campaign_id == campaign_id, Delivery.suspected_duplicate == sa.true())
        )
        or 0
    )
