"""Actors for operations, and the tick every sending process runs from its heartbeat."""

from __future__ import annotations

import dramatiq

from outreach import actor_runtime as runtime
from outreach.broker import current_broker
from outreach.db import Database, utcnow
from outreach.ops.service import daily_jobs_if_due, record_heartbeat

# Declared on Outreach's broker (OUTREACH_BROKER_URL) whatever imported this module first:
# dramatiq would otherwise make a RabbitMQ broker of its own for the first actor.
current_broker()


@dramatiq.actor(queue_name="ops", max_retries=0)
def heartbeat(origin: str) -> None:
    """Record that a worker picked up a message (the dashboard shows the last one)."""
    with runtime.database().session() as session:
        record_heartbeat(session, origin)


def every_tick(database: Database, origin: str) -> dict[str, int]:
    """The tick's work: the dashboard's heartbeat, the daily jobs when due, campaigns that
    are due or stalled, and a nudge for the outbox when an email is due (whatever its
    broker messages became)."""
    from outreach.delivery.tasks import sweep
    from outreach.outbox.service import next_due, nudge

    with database.session() as session:
        record_heartbeat(session, origin)
        daily_jobs_if_due(session, database.settings)
        due = next_due(session)
    swept = sweep()
    if due is not None and due <= utcnow():
        nudge()
    return swept


@dramatiq.actor(queue_name="ops", max_retries=0)
def maintenance(chain: str) -> None:
    """Left for messages queued by earlier versions: every worker now ticks on a timer of
    its own (outreach.ops.heartbeat), so this does nothing."""
