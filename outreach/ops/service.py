"""Worker heartbeats."""

from __future__ import annotations

import os
import socket
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy.orm import Session

from outreach.config import Settings
from outreach.db import utcnow
from outreach.db_bulk import table_of, upsert
from outreach.stored_settings import Setting

HEARTBEAT_KEY = "ops.worker_heartbeat"


def record_heartbeat(session: Session, origin: str) -> None:
    """Store when and where a worker last ran a task (one upsert: workers starting together
    each write it first)."""
    value = {
        "at": utcnow().isoformat(),
        "host": socket.gethostname(),
        "pid": os.getpid(),
        "origin": origin[:100],
    }
    table = table_of(Setting)
    session.execute(
        upsert(session, table)
        .values(key=HEARTBEAT_KEY, value=value)
        .on_conflict_do_update(
            index_elements=[table.c.key], set_={"value": value, "updated_at": utcnow()}
        )
    )


def last_heartbeat(session: Session) -> dict[str, Any] | None:
    """The last worker heartbeat, if any."""
    setting = session.get(Setting, HEARTBEAT_KEY)
    return setting.value if setting else None


MAINTENANCE_KEY = "ops.maintenance"
MAINTENANCE_EVERY = timedelta(hours=24)


def daily_jobs_if_due(session: Session, settings: Settings) -> dict[str, Any]:
    """Purge, expiry and retention, once a day whoever asks ({} when done already today)."""
    state = session.get(Setting, MAINTENANCE_KEY, with_for_update=True)
    if state is None:
        state = Setting(key=MAINTENANCE_KEY, value={"last_run": None})
        session.add(state)
    last = state.value.get("last_run")
    now = utcnow()
    if last and now - datetime.fromisoformat(last) < MAINTENANCE_EVERY:
        return {}
    from outreach.consent.service import purge_pending
    from outreach.privacy.requests import expire_unverified
    from outreach.privacy.retention import apply_retention

    done = {
        "purged_pending": purge_pending(session, timedelta(days=settings.pending_retention_days)),
        "expired_requests": expire_unverified(
            session, timedelta(hours=settings.privacy_verify_hours)
        ),
        **apply_retention(session, settings, now),
    }
    state.value = {**state.value, "last_run": now.isoformat(), "last_result": done}
    return done
