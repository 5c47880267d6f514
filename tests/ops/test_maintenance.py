"""The daily maintenance: purges stale sign-ups once a day, whoever ticks."""

from __future__ import annotations

from datetime import timedelta

import sqlalchemy as sa
from flask import Flask

from outreach.contacts.models import Contact, ContactStatus
from outreach.db import get_db, utcnow
from outreach.ops.service import MAINTENANCE_KEY, daily_jobs_if_due
from outreach.stored_settings import Setting


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


def test_daily_jobs_run_once_a_day(app: Flask) -> None:
    settings = app.extensions["outreach.settings"]
    _stale_signup(app, "a@example.org")
    with get_db(app).session() as session:
        assert daily_jobs_if_due(session, settings)["purged_pending"] == 1
    _stale_signup(app, "b@example.org")
    with get_db(app).session() as session:
        assert daily_jobs_if_due(session, settings) == {}  # already ran today
    assert _count(app) == 1
    with get_db(app).session() as session:
        state = session.get(Setting, MAINTENANCE_KEY)
        assert state is not None
        state.value = {**state.value, "last_run": (utcnow() - timedelta(hours=25)).isoformat()}
    with get_db(app).session() as session:
        assert daily_jobs_if_due(session, settings)["purged_pending"] == 1


def test_the_tick_runs_the_daily_jobs_and_records_the_heartbeat(app: Flask) -> None:
    from outreach.ops.service import last_heartbeat
    from outreach.ops.tasks import every_tick

    _stale_signup(app, "c@example.org")
    every_tick(get_db(app), "a test")
    assert _count(app) == 0
    with get_db(app).reader() as session:
        beat = last_heartbeat(session)
    assert beat is not None and beat["origin"] == "a test"
