"""Worker heartbeats."""

from __future__ import annotations

import os
import socket
from typing import Any

from sqlalchemy.orm import Session

from outreach.consent.models import Setting
from outreach.db import utcnow

HEARTBEAT_KEY = "ops.worker_heartbeat"


def record_heartbeat(session: Session, origin: str) -> None:
    """Store when and where a worker last ran a task."""
    value = {
        "at": utcnow().isoformat(),
        "host": socket.gethostname(),
        "pid": os.getpid(),
        "origin": origin[:100],
    }
    setting = session.get(Setting, HEARTBEAT_KEY)
    if setting is None:
        session.add(Setting(key=HEARTBEAT_KEY, value=value))
    else:
        setting.value = value


def last_heartbeat(session: Session) -> dict[str, Any] | None:
    """The last worker heartbeat, if any."""
    setting = session.get(Setting, HEARTBEAT_KEY)
    return setting.value if setting else None
