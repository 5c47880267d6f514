"""Set-based inserts for imports and dispatch: COPY on PostgreSQL, executemany elsewhere."""

from __future__ import annotations

import enum
import json
import operator
import re
from collections.abc import Iterable, Sequence
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session


def table_of(model: type[Any]) -> sa.Table:
    """The Table behind a mapped class."""
    return model.__table__  # type: ignore[no-any-return]


def dialect_of(session: Session | sa.Connection) -> str:
    """The name of the dialect this session or connection talks ("postgresql", "sqlite")."""
    bind = session if isinstance(session, sa.Connection) else session.get_bind()
    return bind.dialect.name


def is_postgres(session: Session | sa.Connection) -> bool:
    """True when the session talks to PostgreSQL (else SQLite)."""
    return dialect_of(session) == "postgresql"


def upsert(session: Session, table: sa.Table) -> Any:
    """INSERT … ON CONFLICT for this session's dialect (both have the same interface)."""
    insert = postgresql.insert if is_postgres(session) else sqlite.insert
    return insert(table)


def _enum_value(value: Any) -> Any:
    return None if value is None else value.value  # psycopg would dump the member's name


def _json_text(value: Any) -> Any:
    return None if value is None else json.dumps(value, ensure_ascii=False)


def _copy_converters(rows: Sequence[dict[str, Any]], columns: list[str]) -> list[Any]:
    """For each column, what COPY needs done to its values (None: nothing), judged by its
    first value that is not NULL (a column holds one kind of value)."""
    converters: list[Any] = []
    for column in columns:
        sample = next((r[column] for r in rows if r[column] is not None), None)
        if isinstance(sample, enum.Enum):
            converters.append(_enum_value)
        elif isinstance(sample, dict | list):
            converters.append(_json_text)
        else:
            converters.append(None)
    return converters


def _values(rows: Sequence[dict[str, Any]], columns: list[str], converters: list[Any]) -> Any:
    """Each row's values in column order, converted where a converter is given."""
    pick = operator.itemgetter(*columns)
    converted = [(i, c) for i, c in enumerate(converters) if c is not None]
    for row in rows:
        values = list(pick(row)) if len(columns) > 1 else [row[columns[0]]]
        for i, convert in converted:
            values[i] = convert(values[i])
        yield values


def _copy(session: Session, table: sa.Table, rows: Sequence[dict[str, Any]]) -> None:
    columns = list(rows[0])
    raw = session.connection().connection.driver_connection
    statement = f"COPY {table.name} ({', '.join(columns)}) FROM STDIN"
    with raw.cursor() as cursor, cursor.copy(statement) as copy:  # type: ignore[union-attr]
        for values in _values(rows, columns, _copy_converters(rows, columns)):
            copy.write_row(values)


def _repeat_aware(process: Any) -> Any:
    """A bind processor that converts a value repeated from the row before only once (a
    chunk's rows share their timestamps)."""
    if process is None:
        return None
    last: list[Any] = [object(), None]

    def convert(value: Any) -> Any:
        if value is not last[0]:
            last[0], last[1] = value, process(value)
        return last[1]

    return convert


def _executemany(session: Session, table: sa.Table, rows: Sequence[dict[str, Any]]) -> None:
    """One INSERT run by the driver for every row, each value passed through its column's
    own bind processor (what SQLAlchemy would store) without building parameters per row."""
    columns = list(rows[0])
    dialect = session.get_bind().dialect
    processors = [_repeat_aware(table.c[c].type._cached_bind_processor(dialect)) for c in columns]
    statement = (
        f"INSERT INTO {table.name} ({', '.join(columns)}) "  # noqa: S608 - the table's own names
        f"VALUES ({', '.join('?' * len(columns))})"
    )
    raw = session.connection().connection.driver_connection
    raw.executemany(statement, _values(rows, columns, processors))  # type: ignore[union-attr]


def insert_rows(session: Session, table: sa.Table, rows: Sequence[dict[str, Any]]) -> None:
    """Insert rows that all have the same keys (every column the table needs: no defaults
    are filled in)."""
    if not rows:
        return
    if is_postgres(session):
        _copy(session, table, rows)
    else:
        _executemany(session, table, rows)


def among(session: Session, column: Any, values: Iterable[Any]) -> Any:
    """`column IN values` for a long list. On PostgreSQL one text parameter split by the
    server: psycopg parses every placeholder of an expanded IN (thousands a chunk) and
    dumps an array parameter item by item in Python. Values are text without line breaks
    (addresses, hashes) or integers."""
    values = list(values)
    if not is_postgres(session):
        return column.in_(values)
    return _split(column, sa.literal("\n".join(map(str, values))), "\n")


def _split(column: Any, text: Any, separator: str) -> Any:
    """PostgreSQL: `column = ANY(the items of text)` (bigints for an integer column)."""
    items: Any = sa.func.string_to_array(text, sa.literal(separator))
    if isinstance(column.type, sa.Integer):
        items = sa.cast(items, postgresql.ARRAY(sa.BigInteger))
    return column == sa.any_(items)


class IdList:
    """`column IN (ids)` as one text parameter, for a statement built once and run many
    times (its compiled form cached, whatever the number of ids): the ids joined by
    commas, which PostgreSQL splits into a bigint array and SQLite reads as the items of
    a JSON array (json_each)."""

    def __init__(self, name: str) -> None:
        self.name = name

    def condition(self, dialect: str, column: Any) -> sa.ColumnElement[bool]:
        """The condition on `column`, for the dialect of that name."""
        text = sa.bindparam(self.name, type_=sa.String)
        if dialect == "postgresql":
            return _split(column, text, ",")  # type: ignore[no-any-return]
        array = sa.literal_column("'['").op("||")(text).op("||")(sa.literal_column("']'"))
        value = sa.column("value", sa.Integer)
        return column.in_(sa.select(value).select_from(sa.func.json_each(array)))  # type: ignore[no-any-return]

    def value(self, ids: Iterable[int]) -> dict[str, str]:
        """The statement's parameter for these ids."""
        return {self.name: ",".join(str(int(i)) for i in ids)}


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


class DriverStatement:
    """One statement for the hot paths, written once as SQL with `{name}` placeholders and
    run through the driver: no statement building, compiling or cache lookup per call
    (SQLAlchemy's share was 30% of a sending worker's Python time for the one UPDATE it
    runs per message). PostgreSQL prepares it on the server (psycopg `prepare=True`);
    SQLite's driver keeps its compiled statements anyway. Values of `typed` columns go
    through the column's own bind processor, so they are stored as SQLAlchemy stores them.
    """

    def __init__(self, table: sa.Table, sql: str, typed: dict[str, str]) -> None:
        self.table = table
        self.sql = sql
        self.typed = typed  # placeholder -> the column whose type it takes
        self._by_dialect: dict[str, tuple[str, dict[str, Any]]] = {}

    def _prepared(self, dialect: sa.engine.Dialect) -> tuple[str, dict[str, Any]]:
        found = self._by_dialect.get(dialect.name)
        if found is None:
            style = "%({})s" if dialect.paramstyle == "pyformat" else ":{}"
            names = re.findall(r"\{(\w+)\}", self.sql)
            text = self.sql.format(**{n: style.format(n) for n in names})
            processors = {
                name: processor
                for name, column in self.typed.items()
                if (processor := self.table.c[column].type._cached_bind_processor(dialect))
            }
            found = self._by_dialect[dialect.name] = (text, processors)
        return found

    def run(self, connection: sa.Connection, **params: Any) -> int:
        """Execute on this connection (in its transaction, if any); the rows it changed."""
        text, processors = self._prepared(connection.dialect)
        for name, process in processors.items():
            params[name] = process(params[name])
        raw = connection.connection.driver_connection
        if connection.dialect.name == "postgresql":
            with raw.cursor() as cursor:  # type: ignore[union-attr]
                cursor.execute(text, params, prepare=True)
                return int(cursor.rowcount)
        return int(raw.execute(text, params).rowcount)  # type: ignore[union-attr]
