"""The embedded runtime (OUTREACH_BROKER_URL=memory://): one process does everything.

Whichever process runs it — `outreach serve`, `outreach worker`, gunicorn's worker, the
demo, a command given --wait — starts at once the dramatiq worker threads on the
in-process queue, a first sweep (sending campaigns and the outbox resume from the
database, since the in-memory queue died with the last process), and the heartbeat
(outreach.ops.heartbeat: claims renewed, dead workers' claims given back, and the tick —
sweeper, daily jobs, outbox). The database is the record: several such processes at once
send nothing twice.
"""

from __future__ import annotations

import logging
import threading

from flask import Flask

from outreach import actor_runtime as runtime
from outreach.broker import configure_broker, is_embedded, start_embedded_worker
from outreach.db import get_db
from outreach.ops.heartbeat import Heartbeat

log = logging.getLogger(__name__)
_heartbeat: Heartbeat | None = None  # the process's heartbeat, once the runtime runs
_lock = threading.Lock()


def uses_embedded_broker(app: Flask) -> bool:
    """True when the app's broker is the in-process one."""
    return bool(app.extensions["outreach.settings"].broker_url.startswith("memory://"))


def start_embedded(app: Flask, origin: str = "outreach serve") -> bool:
    """Run the embedded runtime in this process (once); False with a real broker, whose
    `outreach worker` processes do this work."""
    global _heartbeat
    settings = app.extensions["outreach.settings"]
    broker = configure_broker(settings.broker_url)
    import outreach.tasks  # actors exist before the workers start

    runtime.bind_database(get_db(app))
    if not is_embedded(broker):
        return False
    with _lock:
        runtime.clear_stop()
        worker = start_embedded_worker(broker, settings.worker_threads)
        app.extensions["outreach.worker"] = worker
        if settings.testing:  # tests drive the queue themselves (conftest.Queue)
            return True
        if _heartbeat is None:
            _first_sweep(app, origin)
            _heartbeat = Heartbeat(get_db(app), origin, outreach.tasks.JOBS)
            _heartbeat.start()
    return True


def _first_sweep(app: Flask, origin: str) -> None:
    from outreach.delivery.tasks import sweep
    from outreach.ops.service import record_heartbeat
    from outreach.outbox.sender import nudge_when_due
    from outreach.outbox.service import nudge

    database = get_db(app)
    with database.session() as session:
        record_heartbeat(session, origin)
    sweep(everything=True)  # every sending campaign: nobody else holds its batches
    nudge()
    nudge_when_due(database)  # an email a killed process held, once its lease ends


def stop_embedded(timeout: float = 10.0) -> None:
    """Stop sending: loops give back what they claimed, worker threads end."""
    global _heartbeat
    from outreach.broker import stop_embedded_worker

    runtime.request_stop()
    with _lock:
        stop_embedded_worker(int(timeout * 1000))  # the loops have given back their claims
        from outreach.delivery.engine import close_all_transports

        close_all_transports()
        if _heartbeat is not None:
            _heartbeat.stop()
            _heartbeat = None


def start_on_first_request(app: Flask) -> None:
    """Any WSGI server: with the embedded broker, the first request starts the runtime if
    the server did not (`outreach serve` and gunicorn's hook start it before)."""
    settings = app.extensions["outreach.settings"]
    if settings.testing or not uses_embedded_broker(app):
        return
    started: list[bool] = []

    @app.before_request
    def _start() -> None:
        if not started:
            started.append(start_embedded(app, origin="web server"))
