"""`outreach worker` consumes the configured broker; the embedded broker runs in-process."""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from pathlib import Path

import dramatiq
import pytest
from flask import Flask

from outreach.broker import build_broker
from outreach.db import Database
from outreach.migrate import upgrade
from outreach.ops.service import last_heartbeat
from tests.conftest import BROKER_URL, SECRET, make_settings, missing_service
from tests.support.processes import start_worker

AMQP_URL = os.environ.get("OUTREACH_TEST_AMQP_URL", "")


def _wait_for_heartbeat(
    database: Database, origin: str, send: Callable[[], None], seconds: float = 30
) -> dict:
    """Ask for heartbeats until one from `origin` is the last (the worker's own minute tick
    records one too, and may come between)."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        send()
        time.sleep(0.5)
        with database.reader() as session:
            beat = last_heartbeat(session)
        if beat and beat["origin"] == origin:
            return beat
    raise AssertionError(f"no heartbeat from {origin!r} within {seconds}s")


@pytest.mark.parametrize("kind", ["redis", "amqp"])
def test_worker_process_consumes_the_broker(kind: str, tmp_path: Path) -> None:
    url = BROKER_URL if kind == "redis" else AMQP_URL
    if not url:
        variable = "OUTREACH_TEST_BROKER_URL" if kind == "redis" else "OUTREACH_TEST_AMQP_URL"
        missing_service(f"{kind} broker ({variable})")
    db_url = f"sqlite:///{tmp_path / 'worker.db'}"
    upgrade(db_url)
    worker = start_worker(db_url, url, SECRET, tmp_path)
    try:
        broker = build_broker(url)
        origin = f"test-{kind}-{os.getpid()}-{time.time()}"
        broker.declare_queue("ops")

        def send() -> None:
            broker.enqueue(
                dramatiq.Message(
                    queue_name="ops", actor_name="heartbeat", args=(origin,), kwargs={}, options={}
                )
            )

        beat = _wait_for_heartbeat(Database(make_settings(tmp_path, db_url)), origin, send)
        assert beat["pid"] != os.getpid()
        broker.close()
    finally:
        worker.terminate()
        output = worker.communicate(timeout=30)[0].decode(errors="replace")
        print(output)


def test_embedded_worker_threads_run_actors(app: Flask) -> None:
    from outreach.embedded import start_embedded

    start_embedded(app)
    from outreach.tasks import heartbeat

    beat = _wait_for_heartbeat(
        app.extensions["outreach.db"], "embedded", lambda: heartbeat.send("embedded"), seconds=10
    )
    assert beat["pid"] == os.getpid()
