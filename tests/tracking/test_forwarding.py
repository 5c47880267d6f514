"""With Redis, web processes hand hits to the broker and `outreach worker` records them."""

from __future__ import annotations

import dataclasses
import subprocess
import time
from collections.abc import Iterator
from email.message import EmailMessage
from pathlib import Path

import pytest
import sqlalchemy as sa
from flask import Flask

from outreach import create_app
from outreach.broker import build_broker
from outreach.db import get_db, utcnow
from outreach.tracking.models import HitKind, TrackingHit
from outreach.tracking.recorder import QUEUE
from outreach.tracking.service import Hit, decode_hit, encode_hit, record_batch_once
from tests.conftest import BROKER_URL, missing_service
from tests.support.processes import start_worker
from tests.support.tracking import click_paths, pixel_path

BROWSER = {"User-Agent": "Mozilla/5.0 (Macintosh) Firefox/130"}


def hits(app: Flask) -> list[tuple[str, bool]]:
    with get_db(app).reader() as session:
        return [
            (str(kind), machine)
            for kind, machine in session.execute(
                sa.select(TrackingHit.kind, TrackingHit.machine).order_by(TrackingHit.id)
            )
        ]


@pytest.fixture
def redis_url() -> Iterator[str]:
    if not BROKER_URL:
        missing_service("Redis (OUTREACH_TEST_BROKER_URL)")
    broker = build_broker(BROKER_URL)
    broker.declare_queue(QUEUE)
    broker.flush(QUEUE)  # nothing left over from another run
    yield BROKER_URL
    broker.flush(QUEUE)
    broker.close()


def start_app_worker(app: Flask, url: str, cwd: Path) -> subprocess.Popen[bytes]:
    """An `outreach worker` on the app's database and this broker."""
    settings = app.extensions["outreach.settings"]
    return start_worker(settings.database_url, url, settings.secret_key, cwd, threads=2)


def test_hits_travel_through_the_broker_to_a_worker_process(
    app: Flask, sent: dict[str, EmailMessage], redis_url: str, tmp_path: Path
) -> None:
    """Given a sent campaign and a web app on Redis, when readers open and click, then
    nothing is written by the web process and a worker process records every hit."""
    web = create_app(dataclasses.replace(app.extensions["outreach.settings"], broker_url=redis_url))
    client = web.test_client()
    client.get(pixel_path(sent["both@example.org"]), headers=BROWSER)
    client.head(pixel_path(sent["opens@example.org"]), headers=BROWSER)
    client.get(click_paths(sent["clicks@example.org"])[0], headers=BROWSER)
    web.extensions["outreach.hits"].flush()
    assert hits(app) == []  # handed over, not written here
    worker = start_app_worker(app, redis_url, tmp_path)
    try:
        deadline = time.monotonic() + 60
        while len(hits(app)) < 3 and time.monotonic() < deadline:
            time.sleep(0.2)
    finally:
        worker.terminate()
        print(worker.communicate(timeout=30)[0].decode(errors="replace"))
    assert sorted(hits(app)) == [("click", False), ("open", False), ("open", True)]


def test_a_redelivered_batch_is_recorded_once(app: Flask, sent: dict[str, EmailMessage]) -> None:
    """The broker delivers at least once: the batch id makes the second delivery a no-op."""
    from outreach.delivery.models import Delivery

    with get_db(app).reader() as session:
        delivery = session.scalar(sa.select(Delivery.id).where(Delivery.tracking_opens))
    assert delivery is not None
    batch = [encode_hit(Hit(HitKind.OPEN, delivery, utcnow(), BROWSER["User-Agent"], None))]
    for expected in (1, 0):
        with get_db(app).session() as session:
            assert record_batch_once(session, "b" * 32, [decode_hit(h) for h in batch]) == expected
    assert hits(app) == [("open", False)]


def test_the_message_carries_no_ip_address() -> None:
    """Only the verdict the classifier needs crosses the broker: Apple's network or nothing."""
    at = utcnow()
    person = encode_hit(Hit(HitKind.OPEN, 1, at, "Mozilla/5.0", "198.51.100.23"))
    proxy = encode_hit(Hit(HitKind.OPEN, 1, at, "Mozilla/5.0", "17.58.96.4"))
    assert "198.51.100.23" not in repr(person) and person[4] is None
    assert proxy[4] == "17.0.0.0" and decode_hit(proxy).at == at
