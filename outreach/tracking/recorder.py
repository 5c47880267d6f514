"""The tracking endpoints answer at once; hits are written in batches by one thread.

A hit waits about FLUSH_SECONDS in memory (longer if the database falls behind). The
buffer is flushed at exit (atexit; give gunicorn a --graceful-timeout long enough for a
backlog); a crash of the web process loses what was still waiting.
"""

from __future__ import annotations

import atexit
import logging
import queue
import threading
import time

from flask import Flask
from sqlalchemy.exc import OperationalError

from outreach.db import Database
from outreach.tracking.service import Hit, record_hits

FLUSH_SECONDS = 0.2
MAX_BATCH = 2000
log = logging.getLogger(__name__)


class HitRecorder:
    """Collects hits and writes them in batches."""

    def __init__(self, database: Database) -> None:
        self.database = database
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

    def _write(self, batch: list[Hit], attempts: int = 5) -> int:
        """Write one batch, retrying on conflicts (deadlocks, busy database) so none is lost."""
        for attempt in range(1, attempts + 1):
            try:
                with self.database.session() as session:
                    return record_hits(session, batch)
            except OperationalError:
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
                extensions["outreach.hits"] = HitRecorder(extensions["outreach.db"])
    return extensions["outreach.hits"]  # type: ignore[no-any-return]


_creation = threading.Lock()
