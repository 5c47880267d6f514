"""The outbox actor (every actor is gathered by outreach.tasks)."""

from __future__ import annotations

import dramatiq

from outreach import actor_runtime as runtime
from outreach.broker import current_broker
from outreach.outbox.sender import drain
from outreach.outbox.service import ACTOR, QUEUE

# Declared on Outreach's broker (OUTREACH_BROKER_URL) whatever imported this module first:
# dramatiq would otherwise make a RabbitMQ broker of its own for the first actor.
current_broker()


@dramatiq.actor(actor_name=ACTOR, queue_name=QUEUE, max_retries=3, min_backoff=1_000)
def send_outbox() -> None:
    """Send what is due in the outbox."""
    drain(runtime.database())
