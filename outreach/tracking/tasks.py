"""Recording hits in the workers: the web processes only hand batches to the broker."""

from __future__ import annotations

from typing import Any

import dramatiq

from outreach import actor_runtime as runtime
from outreach.broker import current_broker
from outreach.tracking.recorder import ACTOR, QUEUE
from outreach.tracking.service import decode_hit, record_batch_once

# Declared on Outreach's broker (OUTREACH_BROKER_URL) whatever imported this module first:
# dramatiq would otherwise make a RabbitMQ broker of its own for the first actor.
current_broker()


@dramatiq.actor(actor_name=ACTOR, queue_name=QUEUE, max_retries=20, min_backoff=500)
def record_hit_batch(batch_id: str, hits: list[list[Any]]) -> None:
    """Judge and store one batch of hits, once even if the broker delivers it twice."""
    with runtime.database().session() as session:
        record_batch_once(session, batch_id, [decode_hit(h) for h in hits])
