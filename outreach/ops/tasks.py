"""Actors for operations: heartbeats and the daily maintenance."""

from __future__ import annotations

import dramatiq

from outreach import runtime
from outreach.ops.service import maintenance_tick, record_heartbeat

TICK_MS = 60 * 1000


@dramatiq.actor(queue_name="ops", max_retries=0)
def heartbeat(origin: str) -> None:
    """Record that a worker picked up a message (the dashboard shows the last one)."""
    with runtime.database().session() as session:
        record_heartbeat(session, origin)


@dramatiq.actor(queue_name="ops", max_retries=3)
def maintenance(chain: str) -> None:
    """Tick every minute: the delivery sweeper each time, the daily jobs once a day."""
    from outreach.delivery.tasks import sweep

    database = runtime.database()
    with database.session() as session:
        result = maintenance_tick(session, chain, database.settings)
    if result is None:
        return  # a newer chain took over
    sweep()
    maintenance.send_with_options(args=(chain,), delay=TICK_MS)


def start_maintenance() -> None:
    """Start a new maintenance chain (a worker starting supersedes older chains)."""
    from outreach.ops.service import start_maintenance_chain

    with runtime.database().session() as session:
        chain = start_maintenance_chain(session)
    maintenance.send(chain)
