"""The outbox actor (imported through outreach.tasks, after the broker is configured)."""

from __future__ import annotations

import dramatiq

from outreach import runtime
from outreach.outbox.sender import drain
from outreach.outbox.service import ACTOR, QUEUE


@dramatiq.actor(actor_name=ACTOR, queue_name=QUEUE, max_retries=3, min_backoff=1_000)
def send_outbox() -> None:
    """Send what is due in the outbox."""
    drain(runtime.database())
