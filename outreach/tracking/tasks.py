"""Recording hits in the workers: the web processes only hand batches to the broker."""

from __future__ import annotations

from typing import Any

import dramatiq

from outreach import runtime
from outreach.tracking.recorder import ACTOR, QUEUE
from outreach.tracking.service import decode_hit, record_batch_once


@dramatiq.actor(actor_name=ACTOR, queue_name=QUEUE, max_retries=20, min_backoff=500)
def record_hit_batch(batch_id: str, hits: list[list[Any]]) -> None:
    """Judge and store one batch of hits, once even if the broker delivers it twice."""
    with runtime.database().session() as session:
        record_batch_once(session, batch_id, [decode_hit(h) for h in hits])
