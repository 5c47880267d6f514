"""Actors for operations: heartbeats and the minute tick (sweeper, outbox, daily jobs)."""

from __future__ import annotations

import dramatiq

from outreach import runtime
from outreach.db import Database
from outreach.ops.service import daily_jobs_if_due, maintenance_tick, record_heartbeat

TICK_MS = 60 * 1000


@dramatiq.actor(queue_name="ops", max_retries=0)
def heartbeat(origin: str) -> None:
    """Record that a worker picked up a message (the dashboard shows the last one)."""
    with runtime.database().session() as session:
        record_heartbeat(session, origin)


def every_minute(database: Database, origin: str, *, daily: bool = True) -> dict[str, int]:
    """The minute's work: heartbeat, the daily jobs when due, campaigns that are due or
    stalled, and a nudge for the outbox (whatever its broker messages became)."""
    from outreach.delivery.tasks import sweep
    from outreach.outbox.service import nudge

    with database.session() as session:
        record_heartbeat(session, origin)
        if daily:
            daily_jobs_if_due(session, database.settings)
    swept = sweep()
    nudge()
    return swept


@dramatiq.actor(queue_name="ops", max_retries=3)
def maintenance(chain: str) -> None:
    """Tick every minute (real brokers: one chain across all workers, the newest wins)."""
    database = runtime.database()
    with database.session() as session:
        result = maintenance_tick(session, chain, database.settings)
    if result is None:
        return  # a newer chain took over
    every_minute(database, "outreach worker", daily=False)
    maintenance.send_with_options(args=(chain,), delay=TICK_MS)


def start_maintenance() -> None:
    """Start a new maintenance chain (a worker starting supersedes older chains)."""
    from outreach.ops.service import start_maintenance_chain

    with runtime.database().session() as session:
        chain = start_maintenance_chain(session)
    maintenance.send(chain)
