"""Retention: what is kept about people shrinks with time; the statistics do not.

Run by the daily maintenance. Individual opens and clicks are deleted, delivery rows of
finished campaigns lose their link to the person (contact, Message-ID, last error), old
audit entries and sent outbox emails are deleted. The per-group and hourly figures live in
the tallies (outreach.reporting.tallies), which are never recounted once a campaign has ended, so
every report stays as it was.
"""

from __future__ import annotations

from datetime import datetime, timedelta

import sqlalchemy as sa
from sqlalchemy.orm import Session

from outreach.campaigns.models import Campaign, CampaignStatus
from outreach.config import Settings
from outreach.db import utcnow
from outreach.delivery.models import Delivery
from outreach.inbound.models import InboundMessage
from outreach.outbox.service import purge_sent
from outreach.privacy.models import AuditEntry
from outreach.tracking.models import RecordedBatch, TrackingHit

BATCH_IDS = timedelta(days=7)


def _cutoff(days: int, now: datetime) -> datetime | None:
    return now - timedelta(days=days) if days > 0 else None


def _rowcount(result: object) -> int:
    return int(getattr(result, "rowcount", 0) or 0)


def apply_retention(
    session: Session, settings: Settings, now: datetime | None = None
) -> dict[str, int]:
    """Delete or anonymize what is older than its retention period; returns the counts."""
    now = now or utcnow()
    done = {
        "hits_deleted": 0,
        "deliveries_anonymized": 0,
        "audit_entries_deleted": 0,
        "outbox_deleted": 0,
        "inbound_deleted": 0,
    }
    hits = _cutoff(settings.hit_retention_days, now)
    if hits is not None:
        done["hits_deleted"] = _rowcount(
            session.execute(sa.delete(TrackingHit).where(TrackingHit.occurred_at < hits))
        )
    deliveries = _cutoff(settings.delivery_retention_days, now)
    if deliveries is not None:
        ended = sa.select(Campaign.id).where(
            Campaign.status.in_((CampaignStatus.SENT, CampaignStatus.CANCELLED)),
            Campaign.finished_at < deliveries,
        )
        done["deliveries_anonymized"] = _rowcount(
            session.execute(
                sa.update(Delivery)
                .where(Delivery.campaign_id.in_(ended), Delivery.contact_id.is_not(None))
                .values(contact_id=None, message_id=None, last_error=None)
            )
        )
    # A broker redelivers within minutes, never after a week: forget the batch ids.
    session.execute(sa.delete(RecordedBatch).where(RecordedBatch.recorded_at < now - BATCH_IDS))
    audit = _cutoff(settings.audit_retention_days, now)
    if audit is not None:
        done["audit_entries_deleted"] = _rowcount(
            session.execute(sa.delete(AuditEntry).where(AuditEntry.occurred_at < audit))
        )
    outbox = _cutoff(settings.outbox_retention_days, now)
    if outbox is not None:
        done["outbox_deleted"] = purge_sent(session, outbox)
    inbound = _cutoff(settings.inbound_retention_days, now)
    if inbound is not None:  # bounces and complaints quote the person's address and mail
        done["inbound_deleted"] = _rowcount(
            session.execute(sa.delete(InboundMessage).where(InboundMessage.received_at < inbound))
        )
    return done
