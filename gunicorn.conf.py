"""gunicorn reads this file from the project folder: `gunicorn wsgi:app`.

With the embedded broker (OUTREACH_BROKER_URL=memory://) the queue lives inside one
process, so gunicorn must run one worker process (use threads for concurrency), and that
process runs the worker threads, sweeper and maintenance as `outreach serve` does. With
Redis or RabbitMQ, run any number of gunicorn workers and `outreach worker` processes.
"""

from __future__ import annotations

from typing import Any

from outreach.config import Settings

wsgi_app = "wsgi:app"
threads = 8


def on_starting(server: Any) -> None:
    """Refuse several processes around one in-memory queue, saying what to run instead."""
    if Settings.from_env().broker_url.startswith("memory://") and server.cfg.workers > 1:
        raise SystemExit(
            "gunicorn: the embedded broker (memory://) lives in one process: run "
            "`gunicorn -w 1 --threads 8 wsgi:app` (or `outreach serve`), or set "
            "OUTREACH_BROKER_URL=redis://… and run `outreach worker` beside any number of "
            "gunicorn workers"
        )


def post_worker_init(worker: Any) -> None:
    """With the embedded broker, this process sends: worker threads, sweeper, ticker."""
    from outreach.embedded import start_embedded

    app = worker.wsgi
    if "outreach.settings" not in getattr(app, "extensions", {}):
        return  # another WSGI app served from this folder (bench/_pixel_app.py)
    start_embedded(app, origin="gunicorn")


def worker_exit(server: Any, worker: Any) -> None:
    """Give back what this process claimed, so the next one resumes at once."""
    from outreach.embedded import stop_embedded

    stop_embedded()
