"""The process-wide Database that actors use (bound by the app in embedded mode)."""

from __future__ import annotations

from outreach.config import Settings
from outreach.db import Database

_database: Database | None = None


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
