"""Actors of the delivery engine: batches, campaign starts, the sweeper."""

from __future__ import annotations

import dramatiq
from sqlalchemy.orm import Session

from outreach import actor_runtime as runtime
from outreach.broker import current_broker
from outreach.campaigns.models import Campaign
from outreach.delivery import service
from outreach.delivery.engine import engine_for

# Declared on Outreach's broker (OUTREACH_BROKER_URL) whatever imported this module first:
# dramatiq would otherwise make a RabbitMQ broker of its own for the first actor.
current_broker()


@dramatiq.actor(queue_name="delivery", max_retries=3, time_limit=3_600_000)
def send_batch(campaign_id: int, low: int, high: int, attempt: int = 0) -> None:
    """Send the deliveries of one id range; transient failures come back when due (the
    time is in the ledger: this message is only the nudge, the sweeper replaces it)."""
    database = runtime.database()
    result = engine_for(database).send_batch(campaign_id, low, high)
    if result.retry and not result.paused:
        delay = 0
        if result.retry_at is not None:
            delay = max(0, int((result.retry_at - service.utcnow()).total_seconds() * 1000))
        send_batch.send_with_options(args=(campaign_id, low, high, attempt + 1), delay=delay + 50)


def enqueue_pending(session: Session, campaign_id: int) -> int:
    """One message per range of pending deliveries; returns how many were enqueued."""
    count = 0
    size = service.batch_size(runtime.database().settings)
    for low, high in service.pending_ranges(session, campaign_id, size):
        send_batch.send(campaign_id, low, high)
        count += 1
    return count


@dramatiq.actor(queue_name="delivery", max_retries=3)
def start_due_campaign(campaign_id: int) -> None:
    """Start a scheduled campaign whose time has come (the sweeper also checks)."""
    database = runtime.database()
    with database.session() as session:
        campaign = session.get(Campaign, campaign_id)
        if campaign is None or campaign not in service.due_campaigns(session):
            return
        service.start(session, campaign)
    with database.reader() as session:
        enqueue_pending(session, campaign_id)


def sweep(*, everything: bool = False) -> dict[str, int]:
    """Start due scheduled campaigns; re-enqueue campaigns that stopped making progress."""
    database = runtime.database()
    with database.reader() as session:
        due = [c.id for c in service.due_campaigns(session)]
    for campaign_id in due:
        start_due_campaign.send(campaign_id)
    with database.session() as session:
        stalled = [
            c
            for c in service.stalled_campaigns(session, everything=everything)
            if not service.finish_if_done(session, c)
        ]
        for campaign_id in stalled:
            campaign = session.get(Campaign, campaign_id)
            if campaign is not None:
                campaign.progress_at = service.utcnow()
    enqueued = 0
    with database.reader() as session:
        for campaign_id in stalled:
            enqueued += enqueue_pending(session, campaign_id)
    return {"started": len(due), "resumed": len(stalled), "batches": enqueued}
