"""The heartbeat of every sending process, on a timer of its own (never a broker message,
which a broker restart would lose).

Every few seconds (OUTREACH_HEARTBEAT_SECONDS, at most a third of the lease) it:

* records that this worker lives (the `workers` table);
* renews the leases of the claims this process is sending, however slow the batch;
* mends what an error left: records the messages the server took but the ledger could not
  (the database was away), then gives back the rest of those claims;
* gives back at once what dead workers held — those that stopped, or missed three beats —
  once this one has itself been beating for three beats (after a database restart nobody
  is taken for dead: everyone was silent alike);
* enqueues again the batches of the campaigns concerned — and of every sending campaign
  when the Redis broker restarted (its run id changed: its queues came back empty);

and every tick (TICK_SECONDS) runs the tick: the sweeper (due and stalled campaigns,
batches whose broker messages were lost), the daily jobs when due, the outbox.

`outreach serve` (embedded runtime) starts it, and every `outreach worker` process does,
through HeartbeatMiddleware when dramatiq boots its worker.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import dramatiq
import sqlalchemy as sa
from sqlalchemy.orm import Session

from outreach import actor_runtime as runtime
from outreach.claims import DELIVERY, OUTBOX, claims, worker_id
from outreach.db import Database, utcnow

log = logging.getLogger(__name__)
TICK_SECONDS = 15.0
DEAD_AFTER_BEATS = 3


@dataclass(frozen=True)
class Jobs:
    """What a beat sets going, given by outreach.tasks (the heartbeat imports no actor):
    the sweeper, the tick, and enqueueing a campaign's pending batches."""

    sweep: Callable[..., Any]
    tick: Callable[[Database, str], Any]
    enqueue_pending: Callable[[Session, int], int]


class Heartbeat:
    """One process's heartbeat thread."""

    def __init__(self, database: Database, origin: str, jobs: Jobs) -> None:
        self.database = database
        self.origin = origin
        self.jobs = jobs
        settings = database.settings
        self.lease = timedelta(seconds=settings.lease_seconds)
        self.interval = max(0.2, min(settings.heartbeat_seconds, settings.lease_seconds / 3))
        self.healthy_since: float | None = None
        self.next_tick = 0.0
        self.stopped = threading.Event()
        self.thread: threading.Thread | None = None
        self.broker = BrokerWatch(settings.broker_url)

    def start(self) -> None:
        """Beat in a thread of its own, the first beat at once."""
        self.thread = threading.Thread(target=self._run, name="outreach-heartbeat", daemon=True)
        self.thread.start()

    def _run(self) -> None:
        while not self.stopped.is_set():
            try:
                self.beat()
            except Exception:  # the database is away: beat again, mend once it answers
                self.healthy_since = None
                log.warning("heartbeat failed; trying again", exc_info=True)
            self.stopped.wait(self.interval)

    def beat(self) -> None:
        """One beat (see the module's docstring)."""
        from outreach.delivery import service as deliveries
        from outreach.outbox import service as outbox
        from outreach.outbox.sender import outbox_lease

        began = time.monotonic()
        sending, emailing = claims.tokens(DELIVERY), claims.tokens(OUTBOX)
        with self.database.session() as session:
            record_worker(session, self.origin, self.interval)
            deliveries.renew(session, sending, self.lease)
            outbox.renew(session, emailing, outbox_lease(self.database.settings))
        claims.renewed(sending, began, self.lease.total_seconds())
        claims.renewed(emailing, began, outbox_lease(self.database.settings).total_seconds())
        if self.healthy_since is None:
            self.healthy_since = began
        campaigns, emails = self._mend()
        if began - self.healthy_since >= DEAD_AFTER_BEATS * self.interval:
            with self.database.session() as session:
                dead = reap_dead_workers(session)
                campaigns |= set(deliveries.reclaim_from(session, dead))
                emails += outbox.release_claims(session, [], dead)
        self._enqueue(sorted(campaigns), emails)
        if self.broker.restarted():
            log.warning("the broker restarted: enqueueing every sending campaign again")
            self.jobs.sweep(everything=True)
        if began >= self.next_tick:
            self.next_tick = began + TICK_SECONDS
            self.jobs.tick(self.database, self.origin)

    def _mend(self) -> tuple[set[int], int]:
        """Record what was sent but not recorded, then give back the abandoned claims."""
        from outreach.delivery import service as deliveries
        from outreach.outbox import service as outbox

        unrecorded, abandoned = claims.take_abandoned()
        if not (unrecorded or abandoned):
            return set(), 0
        try:
            with self.database.session() as session:
                for item in unrecorded:
                    if item.kind == DELIVERY:
                        deliveries.record_sent(session, item.row_id, item.token, item.values)
                    else:
                        outbox.record_sent(session, item.row_id, item.token)
                mine = [t for t, kind in abandoned.items() if kind == DELIVERY]
                campaigns = set(deliveries.release_claims(session, mine))
                emails = outbox.release_claims(
                    session, [t for t, kind in abandoned.items() if kind == OUTBOX]
                )
        except Exception:
            claims.give_back(unrecorded, abandoned)
            raise
        log.info("mended %d unrecorded and %d abandoned claims", len(unrecorded), len(abandoned))
        return campaigns, emails

    def _enqueue(self, campaigns: list[int], emails: int) -> None:
        if not (campaigns or emails):
            return
        from outreach.outbox.service import nudge

        with self.database.reader() as session:
            for campaign_id in campaigns:
                self.jobs.enqueue_pending(session, campaign_id)
        if emails:
            nudge()

    def stop(self, timeout: float = 5.0) -> None:
        """Stop beating, and say so: whatever this worker still holds is given back by the
        others at once (its threads have given back theirs already)."""
        self.stopped.set()
        if self.thread is not None:
            self.thread.join(timeout)
        try:
            with self.database.session() as session:
                mark_stopped(session)
        except Exception:  # noqa: BLE001 - three beats later the others know anyway
            log.warning("could not record that this worker stopped", exc_info=True)


class BrokerWatch:
    """Tells when a Redis broker restarted: queued messages, delayed ones too, are gone
    unless it persists them (RabbitMQ keeps its durable queues across a restart)."""

    def __init__(self, url: str) -> None:
        self.url = url if url.startswith(("redis://", "rediss://")) else ""
        self.client: Any = None
        self.run_id: str | None = None

    def restarted(self) -> bool:
        """True once for each restart seen since the last call."""
        if not self.url:
            return False
        try:
            if self.client is None:
                import redis

                self.client = redis.Redis.from_url(self.url, socket_timeout=2)
            run_id = str(self.client.info("server")["run_id"])
        except Exception:  # noqa: BLE001 - away for now: the next beat looks again
            return False
        seen, self.run_id = self.run_id, run_id
        return seen is not None and seen != run_id


def reap_dead_workers(session: Session) -> list[str]:
    """The workers that stopped or missed three beats, taken off the table (one small read
    a beat: the ledger is only searched when somebody died). A worker taken for dead that
    beats again simply records itself anew."""
    from outreach.ops.models import Worker

    dead = list(
        session.scalars(
            sa.select(Worker.id).where(
                sa.or_(Worker.expires_at < utcnow(), Worker.stopped_at.is_not(None))
            )
        )
    )
    if dead:
        session.execute(sa.delete(Worker).where(Worker.id.in_(dead)))
    return dead


def record_worker(session: Session, origin: str, interval: float) -> None:
    """This worker lives; it is dead once three beats are missed."""
    from outreach.ops.models import Worker

    now = utcnow()
    expires = now + timedelta(seconds=DEAD_AFTER_BEATS * interval)
    row = session.get(Worker, worker_id())
    if row is None:
        import os
        import socket

        session.add(
            Worker(
                id=worker_id(),
                host=socket.gethostname()[:255],
                pid=os.getpid(),
                origin=origin[:100],
                started_at=now,
                beat_at=now,
                expires_at=expires,
            )
        )
    else:
        row.beat_at, row.expires_at, row.stopped_at = now, expires, None


def mark_stopped(session: Session) -> None:
    """This worker stopped (the next beat of another one reaps it)."""
    from outreach.ops.models import Worker

    row = session.get(Worker, worker_id())
    if row is not None:
        row.stopped_at = utcnow()


class HeartbeatMiddleware(dramatiq.Middleware):
    """Starts the heartbeat in each `outreach worker` process once dramatiq's worker runs;
    at shutdown, the sending loops give back what they hold, then the worker says it
    stopped."""

    def __init__(self, jobs: Jobs) -> None:
        self.jobs = jobs
        self.heartbeat: Heartbeat | None = None

    def after_worker_boot(self, broker: dramatiq.Broker, worker: Any) -> None:
        """Begin beating."""
        runtime.clear_stop()
        self.heartbeat = Heartbeat(runtime.database(), "outreach worker", self.jobs)
        self.heartbeat.start()

    def before_worker_shutdown(self, broker: dramatiq.Broker, worker: Any) -> None:
        """Ask the sending loops to give back what they claimed."""
        runtime.request_stop()

    def after_worker_shutdown(self, broker: dramatiq.Broker, worker: Any) -> None:
        """Stop beating; the workers table says this one stopped."""
        if self.heartbeat is not None:
            self.heartbeat.stop()
            self.heartbeat = None
