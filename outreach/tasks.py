"""Every actor, and what each process's heartbeat sets going (dramatiq workers load this
module: `dramatiq outreach.tasks` is what `outreach worker` runs).

Each actor module declares its actors on Outreach's broker, the one of
OUTREACH_BROKER_URL (outreach.broker.current_broker), whatever is imported first.
"""

from __future__ import annotations

from outreach.broker import current_broker, is_embedded

_broker = current_broker()

import outreach.models  # noqa: E402, F401  (every mapper, before any actor queries)
from outreach.delivery.tasks import (  # noqa: E402
    enqueue_pending,
    send_batch,
    start_due_campaign,
    sweep,  # noqa: E402
)
from outreach.ops.heartbeat import HeartbeatMiddleware, Jobs  # noqa: E402
from outreach.ops.tasks import every_tick, heartbeat, maintenance  # noqa: E402
from outreach.outbox.tasks import send_outbox  # noqa: E402
from outreach.tracking.tasks import record_hit_batch  # noqa: E402

# What each process's heartbeat sets going (it imports no actor itself).
JOBS = Jobs(sweep=sweep, tick=every_tick, enqueue_pending=enqueue_pending)

if not is_embedded(_broker):  # each `outreach worker` process beats and ticks on its own
    if not any(isinstance(m, HeartbeatMiddleware) for m in _broker.middleware):
        _broker.add_middleware(HeartbeatMiddleware(JOBS))

__all__ = [
    "JOBS",
    "enqueue_pending",
    "heartbeat",
    "maintenance",
    "record_hit_batch",
    "send_batch",
    "send_outbox",
    "start_due_campaign",
]
