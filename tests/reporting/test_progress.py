"""A campaign's live progress (`campaigns status`, the admin's progress, the API) comes
from the tallies and the batches in flight, and says what the ledger says."""

from __future__ import annotations

from collections import defaultdict

import sqlalchemy as sa
from flask import Flask

from outreach.campaigns.models import Campaign
from outreach.campaigns.service import create_campaign
from outreach.db import get_db, utcnow
from outreach.db_bulk import insert_rows, table_of
from outreach.delivery import service
from outreach.delivery.models import Delivery, DeliveryStatus
from outreach.reporting.tallies import BLOCK, recount, refresh_blocks

GROUPS = ("Consultants", "Managers", "Thinkers")


def ledger(app: Flask, campaign_id: int) -> dict[str, dict[str, int]]:
    """What a scan of the whole ledger counts, per group and status."""
    counts: dict[str, dict[str, int]] = defaultdict(
        lambda: {status.value: 0 for status in DeliveryStatus}
    )
    with get_db(app).reader() as session:
        for group, status, number in session.execute(
            sa.select(Delivery.group_name, Delivery.status, sa.func.count())
            .where(Delivery.campaign_id == campaign_id)
            .group_by(Delivery.group_name, Delivery.status)
        ):
            counts[group][str(status)] = number
    return dict(sorted(counts.items()))


def shown(app: Flask, campaign_id: int) -> dict[str, dict[str, int]]:
    with get_db(app).reader() as session:
        campaign = session.get(Campaign, campaign_id)
        assert campaign is not None
        return {g.group: g.counts for g in service.progress(session, campaign).groups}


def set_status(app: Flask, ids: range, status: DeliveryStatus) -> None:
    with get_db(app).session() as session:
        session.execute(
            sa.update(Delivery)
            .where(Delivery.id.between(ids.start, ids.stop - 1))
            .values(status=status, sent_at=utcnow() if status is DeliveryStatus.SENT else None)
        )


def test_progress_follows_the_ledger_through_batches_in_flight(app: Flask) -> None:
    with get_db(app).session() as session:
        campaign_id = create_campaign(session, "Progress", "a@example.org").id
        first = BLOCK * 3  # ids from a block boundary: blocks 3, 4 and part of 5
        insert_rows(
            session,
            table_of(Delivery),
            [
                {
                    "id": first + n,
                    "campaign_id": campaign_id,
                    "group_name": GROUPS[n % 3],
                    "status": DeliveryStatus.QUEUED,
                    "queued_at": utcnow(),
                    **dict.fromkeys(("attempts", "human_opens", "machine_opens"), 0),
                    **dict.fromkeys(("clicks", "machine_clicks"), 0),
                    **dict.fromkeys(("suspected_duplicate", "tracking_opens"), False),
                    "tracking_clicks": False,
                }
                for n in range(BLOCK * 2 + 300)
            ],
        )
        recount(session, campaign_id)  # as the audience freeze does
    assert shown(app, campaign_id) == ledger(app, campaign_id)
    assert sum(c["queued"] for c in shown(app, campaign_id).values()) == BLOCK * 2 + 300

    # A batch in flight across the first two blocks: claimed, half of it sent, some
    # skipped, the tallies not refreshed yet (its batch has not ended).
    batch = range(first + BLOCK - 250, first + BLOCK + 250)
    set_status(app, batch, DeliveryStatus.SENDING)
    set_status(app, range(batch.start, batch.start + 200), DeliveryStatus.SENT)
    set_status(app, range(batch.start + 200, batch.start + 210), DeliveryStatus.SKIPPED)
    assert shown(app, campaign_id) == ledger(app, campaign_id)

    # The batch ends (the rest sent or failed) and refreshes its blocks, as a worker does.
    set_status(app, range(batch.start + 210, batch.stop - 5), DeliveryStatus.SENT)
    set_status(app, range(batch.stop - 5, batch.stop), DeliveryStatus.FAILED)
    with get_db(app).session() as session:
        refresh_blocks(session, campaign_id, batch.start, batch.stop - 1)
    assert shown(app, campaign_id) == ledger(app, campaign_id)
    with get_db(app).reader() as session:
        campaign = session.get(Campaign, campaign_id)
        assert campaign is not None
        state = service.progress(session, campaign)
    assert state.rate_per_minute == 500 - 10 - 5  # sent within the last minute
    assert state.remaining == BLOCK * 2 + 300 - 500
