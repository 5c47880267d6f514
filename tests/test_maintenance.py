"""The daily maintenance: purges stale sign-ups once a day, one chain at a time."""

from __future__ import annotations

import time
from datetime import timedelta

import sqlalchemy as sa
from flask import Flask

from outreach.consent.models import Setting
from outreach.contacts.models import Contact, ContactStatus
from outreach.db import get_db, utcnow
from outreach.ops.service import MAINTENANCE_KEY, maintenance_tick, start_maintenance_chain


def _stale_signup(app: Flask, email: str) -> None:
    with get_db(app).session() as session:
        session.add(
            Contact(
                email=email,
                email_key=email,
                status=ContactStatus.PENDING,
                attributes={},
                confirmation_sent_at=utcnow() - timedelta(days=20),
            )
        )


def _count(app: Flask) -> int:
    with get_db(app).reader() as session:
        return session.scalar(sa.select(sa.func.count()).select_from(Contact)) or 0


def test_tick_runs_daily_jobs_once_a_day(app: Flask) -> None:
    settings = app.extensions["outreach.settings"]
    _stale_signup(app, "a@example.org")
    with get_db(app).session() as session:
        chain = start_maintenance_chain(session)
    with get_db(app).session() as session:
        assert maintenance_tick(session, chain, settings)["purged_pending"] == 1
    _stale_signup(app, "b@example.org")
    with get_db(app).session() as session:
        assert maintenance_tick(session, chain, settings) == {}  # already ran today
    assert _count(app) == 1
    with get_db(app).session() as session:
        state = session.get(Setting, MAINTENANCE_KEY)
        assert state is not None
        state.value = {**state.value, "last_run": (utcnow() - timedelta(hours=25)).isoformat()}
    with get_db(app).session() as session:
        assert maintenance_tick(session, chain, settings)["purged_pending"] == 1


def test_a_newer_chain_supersedes_the_old_one(app: Flask) -> None:
    settings = app.extensions["outreach.settings"]
    with get_db(app).session() as session:
        old = start_maintenance_chain(session)
    with get_db(app).session() as session:
        start_maintenance_chain(session)
    with get_db(app).session() as session:
        assert maintenance_tick(session, old, settings) is None


def test_maintenance_actor_runs_on_the_embedded_worker(app: Flask) -> None:
    from tests.conftest import Queue

    queue = Queue(app)
    _stale_signup(app, "c@example.org")
    from outreach import tasks

    tasks.start_maintenance()
    deadline = time.monotonic() + 10
    while _count(app) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert _count(app) == 0
    queue.stop()  # drops the next tick, delayed by an hour
