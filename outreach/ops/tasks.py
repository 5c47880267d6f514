"""Actors for operations."""

from __future__ import annotations

import dramatiq

from outreach import runtime
from outreach.ops.service import record_heartbeat


@dramatiq.actor(queue_name="ops", max_retries=0)
def heartbeat(origin: str) -> None:
    """Record that a worker picked up a message (the dashboard shows the last one)."""
    with runtime.database().session() as session:
        record_heartbeat(session, origin)
