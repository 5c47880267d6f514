"""Set-based inserts for imports and dispatch: COPY on PostgreSQL, executemany elsewhere."""

from __future__ import annotations

import enum
import json
from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session


def table_of(model: type[Any]) -> sa.Table:
    """The Table behind a mapped class."""
    return model.__table__  # type: ignore[no-any-return]


def is_postgres(session: Session) -> bool:
    """True when the session talks to PostgreSQL (else SQLite)."""
    return session.get_bind().dialect.name == "postgresql"


def upsert(session: Session, table: sa.Table) -> Any:
    """INSERT … ON CONFLICT for this session's dialect (both have the same interface)."""
    insert = postgresql.insert if is_postgres(session) else sqlite.insert
    return insert(table)


def _copy_value(value: Any) -> Any:
    if isinstance(value, enum.Enum):
        return value.value  # psycopg would dump the member's name
    if isinstance(value, dict | list):
        return json.dumps(value, ensure_ascii=False)
    return value


def _copy(session: Session, table: sa.Table, rows: Sequence[dict[str, Any]]) -> None:
    columns = list(rows[0])
    raw = session.connection().connection.driver_connection
    statement = f"COPY {table.name} ({', '.join(columns)}) FROM STDIN"
    with raw.cursor() as cursor, cursor.copy(statement) as copy:  # type: ignore[union-attr]
        for row in rows:
            copy.write_row([_copy_value(row[c]) for c in columns])


def insert_rows(session: Session, table: sa.Table, rows: Sequence[dict[str, Any]]) -> None:
    """Insert rows that all have the same keys."""
    if not rows:
        return
    if is_postgres(session):
        _copy(session, table, rows)
    else:
        session.execute(table.insert(), list(rows))


def insert_returning_ids(
    session: Session, table: sa.Table, rows: Sequence[dict[str, Any]]
) -> list[int]:
    """Insert rows and return their new ids, in the order of `rows`."""
    if not rows:
        return []
    if is_postgres(session):
        ids = list(
            session.scalars(
                sa.select(
                    sa.func.nextval(sa.func.pg_get_serial_sequence(table.name, "id"))
                ).select_from(sa.func.generate_series(1, len(rows)))
            )
        )
    else:
        # SQLite hands out max(id) + 1 itself; our write transactions hold the database
        # lock from BEGIN IMMEDIATE, so nobody can take these ids meanwhile. RETURNING
        # with a guaranteed order would cost one statement per row.
        start = session.scalar(sa.select(sa.func.coalesce(sa.func.max(table.c.id), 0))) or 0
        ids = list(range(start + 1, start + 1 + len(rows)))
    insert_rows(session, table, [{"id": i, **row} for i, row in zip(ids, rows, strict=True)])
    return ids


def refresh_statistics(session: Session, *tables: sa.Table) -> None:
    """After a bulk load, let PostgreSQL's planner see the new rows (autovacuum is late:
    without this the first audience query after a big import is planned blind)."""
    if is_postgres(session):
        session.execute(sa.text(f"ANALYZE {', '.join(t.name for t in tables)}"))
