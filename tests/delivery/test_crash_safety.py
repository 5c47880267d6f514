"""Separate `outreach worker` processes on PostgreSQL and Redis; one is killed mid-campaign.

The bound (README, "Crash safety"): a worker killed with SIGKILL loses no delivery, and
re-sends at most the one message per worker thread whose SMTP transaction had completed
before its outcome was committed. Its claimed deliveries wait for their lease to expire
and are then re-enqueued by the sweeper (here called by the test, as the worker's
minute tick would).
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import dramatiq
import pytest
import sqlalchemy as sa
from flask import Flask

from outreach import create_app
from outreach.broker import build_broker
from outreach.campaigns.service import create_campaign, get_campaign, set_variant
from outreach.db import get_db
from outreach.delivery import service
from outreach.delivery.models import Delivery
from tests.campaigns.conftest import MJML
from tests.conftest import (
    BROKER_URL,
    SECRET,
    SmtpSink,
    _truncate,
    forget_arranged_mail,
    make_settings,
    missing_service,
)

RECIPIENTS = 240
THREADS = 1


@pytest.fixture
def pg_app(tmp_path: Path, smtp_sink: SmtpSink, request: pytest.FixtureRequest) -> Iterator[Flask]:
    if not BROKER_URL.startswith("redis"):
        missing_service("Redis (OUTREACH_TEST_BROKER_URL)")
    url: str = request.getfixturevalue("postgres_url")
    _truncate(url)
    app = create_app(make_settings(tmp_path, url, smtp_url=smtp_sink.url))
    yield app
    get_db(app).engine.dispose()


def _seed(app: Flask) -> int:
    from outreach.consent.models import Purpose
    from outreach.consent.service import Evidence, confirm, sign_up

    with get_db(app).session() as session:
        for i in range(RECIPIENTS):
            signup = sign_up(
                session,
                {"email": f"p{i}@example.org", "first_name": f"P{i}", "sector": "Thinkers"},
                [Purpose.NEWSLETTER],
                Evidence("test"),
                resend_after=__import__("datetime").timedelta(0),
            )
            confirm(session, signup.contact, Evidence("test"))
            forget_arranged_mail(session, signup.contact.id)
        campaign = create_campaign(session, "Crash", "a@example.org", groups=["Thinkers"])
        set_variant(session, campaign, "Thinkers", subject="Hi {{ contact.first_name }}", mjml=MJML)
        service.start(session, campaign)
        return campaign.id


def _worker(app: Flask, tmp_path: Path, sink: SmtpSink) -> subprocess.Popen[bytes]:
    settings = app.extensions["outreach.settings"]
    env = {
        **os.environ,
        "OUTREACH_DATABASE_URL": settings.database_url,
        "OUTREACH_BROKER_URL": BROKER_URL,
        "OUTREACH_SMTP_URL": sink.url,
        "OUTREACH_SECRET_KEY": SECRET,
        "OUTREACH_BASE_URL": settings.base_url,
        "OUTREACH_INSTANCE_PATH": str(tmp_path),
        "OUTREACH_SEND_RATE": "120",
        "OUTREACH_LEASE_SECONDS": "2",
    }
    return subprocess.Popen(
        [
            sys.executable,
            "-m",
            "outreach.cli",
            "worker",
            "--processes",
            "1",
            "--threads",
            str(THREADS),
        ],
        env=env,
        cwd=tmp_path,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,  # its own process group: the kill reaches dramatiq's children
    )


def _enqueue(app: Flask, broker: dramatiq.Broker, campaign_id: int) -> int:
    """What the sweeper does: one message per range of pending deliveries."""
    count = 0
    with get_db(app).reader() as session:
        for low, high in service.pending_ranges(session, campaign_id, size=20):
            broker.enqueue(
                dramatiq.Message(
                    queue_name="delivery",
                    actor_name="send_batch",
                    args=(campaign_id, low, high, 0),
                    kwargs={},
                    options={},
                )
            )
            count += 1
    return count


def _left(app: Flask, campaign_id: int) -> int:
    with get_db(app).reader() as session:
        return (
            session.scalar(
                sa.select(sa.func.count())
                .select_from(Delivery)
                .where(Delivery.campaign_id == campaign_id, Delivery.status != "sent")
            )
            or 0
        )


def _stop(process: subprocess.Popen[bytes], sig: int = signal.SIGTERM) -> None:
    try:
        os.killpg(process.pid, sig)
    except ProcessLookupError:
        return
    process.wait(timeout=30)


@pytest.mark.services
@pytest.mark.faults
def test_sigkilled_worker_loses_nothing(pg_app: Flask, smtp_sink: SmtpSink, tmp_path: Path) -> None:
    campaign_id = _seed(pg_app)
    broker = build_broker(BROKER_URL)
    broker.declare_queue("delivery")
    broker.flush_all()
    first, second = _worker(pg_app, tmp_path, smtp_sink), _worker(pg_app, tmp_path, smtp_sink)
    restarted = None
    try:
        _enqueue(pg_app, broker, campaign_id)
        deadline = time.monotonic() + 60
        while len(smtp_sink.received()) < RECIPIENTS // 3 and time.monotonic() < deadline:
            time.sleep(0.02)
        assert len(smtp_sink.received()) >= RECIPIENTS // 3, "workers did not start sending"
        _stop(first, signal.SIGKILL)  # mid-batch, mid-campaign
        restarted = _worker(pg_app, tmp_path, smtp_sink)
        time.sleep(2.5)  # the dead worker's leases expire
        _enqueue(pg_app, broker, campaign_id)
        while _left(pg_app, campaign_id) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert _left(pg_app, campaign_id) == 0, "deliveries were lost"
    finally:
        for process in (first, second, restarted):
            if process is not None:
                _stop(process)
        broker.flush_all()
        broker.close()
    received = Counter(str(m["To"]).rsplit("<", 1)[-1].rstrip(">") for m in smtp_sink.received())
    assert set(received) == {f"p{i}@example.org" for i in range(RECIPIENTS)}
    duplicates = sum(n - 1 for n in received.values())
    assert duplicates <= THREADS, received.most_common(3)
    with get_db(pg_app).reader() as session:
        assert str(get_campaign(session, campaign_id).status) == "sent"
