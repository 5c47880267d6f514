"""The tracking endpoints answer at once; hits are written in batches by one thread.

With the embedded broker (memory://) that thread writes the batches to the database
itself. With Redis or RabbitMQ it only hands each batch to the broker, one message per
batch, and `outreach worker` processes record them (outreach.tracking.tasks): the
database work, which held the web processes' GIL for long enough to stall requests
(p99 above 100 ms at 600 requests/s), leaves the web processes.

A hit waits about FLUSH_SECONDS in memory (longer if the database or broker falls
behind). The buffer is flushed at exit (atexit; give gunicorn a --graceful-timeout long
enough for a backlog); a crash of the web process loses what was still waiting.
"""

from __future__ import annotations

import atexit
import logging
import queue
import threading
import time
import uuid

import dramatiq
import dramatiq.errors
from flask import Flask
from sqlalchemy.exc import OperationalError

from outreach.broker import build_broker
from outreach.db import Database
from outreach.tracking.service import Hit, encode_hit, record_hits

QUEUE, ACTOR = "tracking", "record_hit_batch"  # outreach.tracking.tasks (not imported here:
# declaring the actor needs the global broker, which a web process may never configure)

FLUSH_SECONDS = 0.2
MAX_BATCH = 2000
log = logging.getLogger(__name__)


class HitRecorder:
    """Collects hits and writes them in batches."""

    def __init__(self, database: Database, broker: dramatiq.Broker | None = None) -> None:
        self.database = database
        self.broker = broker
        if broker is not None:
            broker.declare_queue(QUEUE)
        self.queue: queue.SimpleQueue[Hit] = queue.SimpleQueue()
        self.lock = threading.Lock()
        self.thread: threading.Thread | None = None
        self.recorded = 0
        atexit.register(self.flush)

    def add(self, hit: Hit) -> None:
        """Queue one hit (never blocks on the database)."""
        self.queue.put(hit)
        if self.thread is None:
            with self.lock:
                if self.thread is None:
                    self.thread = threading.Thread(
                        target=self._run, name="hit-recorder", daemon=True
                    )
                    self.thread.start()

    def _run(self) -> None:
        stop = threading.Event()
        while not stop.wait(FLUSH_SECONDS):
            try:
                self.flush()
            except Exception:  # keep recording: a failed batch is logged, not fatal
                log.exception("tracking hits could not be written")

    @staticmethod
    def _forward(broker: dramatiq.Broker, batch: list[Hit]) -> int:
        """Hand one batch to the workers; a redelivered message is recorded once."""
        broker.enqueue(
            dramatiq.Message(
                queue_name=QUEUE,
                actor_name=ACTOR,
                args=(uuid.uuid4().hex, [encode_hit(hit) for hit in batch]),
                kwargs={},
                options={},
            )
        )
        return len(batch)

    def _write(self, batch: list[Hit], attempts: int = 5) -> int:
        """Write (or forward) one batch, retrying on conflicts (deadlocks, busy database,
        a broker reconnecting) so none is lost."""
        for attempt in range(1, attempts + 1):
            try:
                if self.broker is not None:
                    return self._forward(self.broker, batch)
                with self.database.session() as session:
                    return record_hits(session, batch)
            except (OperationalError, dramatiq.errors.ConnectionError):
                if attempt == attempts:
                    raise
                log.warning("tracking hits: retrying a batch (%s of %s)", attempt, attempts)
                time.sleep(0.05 * attempt)
        return 0

    def flush(self) -> int:
        """Write everything queued so far; returns how many hits were kept."""
        kept = 0
        with self.lock:
            while True:
                batch: list[Hit] = []
                while len(batch) < MAX_BATCH:
                    try:
                        batch.append(self.queue.get_nowait())
                    except queue.Empty:
                        break
                if not batch:
                    return kept
                kept += self._write(batch)
                self.recorded += len(batch)


def recorder_for(app: Flask) -> HitRecorder:
    """The app's one recorder (the WSGI fast path and the Flask views share it)."""
    extensions = app.extensions
    if "outreach.hits" not in extensions:
        with _creation:
            if "outreach.hits" not in extensions:
                url = extensions["outreach.settings"].broker_url
                broker = None if url.startswith("memory://") else build_broker(url)
                extensions["outreach.hits"] = HitRecorder(extensions["outreach.db"], broker)
    return extensions["outreach.hits"]  # type: ignore[no-any-return]


_creation = threading.Lock()
