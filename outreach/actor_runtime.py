"""The process-wide Database that actors use (bound by the app in embedded mode), and the
stop flag every sending loop checks between two messages."""

from __future__ import annotations

import threading

from outreach.config import Settings
from outreach.db import Database

_database: Database | None = None
_stopping = threading.Event()


def bind_database(database: Database) -> None:
    """Make actors in this process use `database`."""
    global _database
    _database = database


def database() -> Database:
    """The bound Database, or one built from the environment (worker processes)."""
    global _database
    if _database is None:
        _database = Database(Settings.from_env())
    return _database


def stopping() -> bool:
    """True once this process was asked to stop: loops give back what they hold."""
    return _stopping.is_set()


def stopped_for(seconds: float) -> bool:
    """Wait up to `seconds`; True if a stop was asked meanwhile."""
    return _stopping.wait(seconds)


def request_stop() -> None:
    """Ask every sending loop of this process to stop after its current message."""
    _stopping.set()


def clear_stop() -> None:
    """Allow sending again (a process that runs its workers again, and tests)."""
    _stopping.clear()
