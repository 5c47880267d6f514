"""Engine, sessions and the declarative base."""

from __future__ import annotations

import enum
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from flask import Flask, current_app, g
from sqlalchemy.engine import Engine
from sqlalchemy.orm import DeclarativeBase, Session, sessionmaker

from outreach.config import Settings

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    """Declarative base with a stable constraint naming convention."""

    metadata = sa.MetaData(naming_convention=NAMING_CONVENTION)


def utcnow() -> datetime:
    """The current UTC time, timezone-aware."""
    return datetime.now(UTC)


class UTCDateTime(sa.types.TypeDecorator[datetime]):
    """Timezone-aware UTC datetimes on every backend (SQLite stores naive values)."""

    impl = sa.DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is not None and value.tzinfo is None:
            raise ValueError("naive datetime given to a UTC column")
        return value.astimezone(UTC) if value is not None else None

    def process_result_value(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is not None and value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value


def str_enum(enum_class: type[enum.Enum], name: str) -> sa.Enum:
    """An Enum stored as its string values with a named check constraint."""
    return sa.Enum(
        enum_class,
        name=name,
        native_enum=False,
        create_constraint=True,
        length=max(len(m.value) for m in enum_class),
        values_callable=lambda e: [m.value for m in e],
        validate_strings=True,
    )


def make_engine(url: str, **kwargs: Any) -> Engine:
    """An engine; SQLite gets WAL, a busy timeout and BEGIN IMMEDIATE transactions."""
    if url.startswith("sqlite"):
        return _sqlite_engine(url, **kwargs)
    return sa.create_engine(url, pool_pre_ping=True, **kwargs)


def _sqlite_engine(url: str, **kwargs: Any) -> Engine:
    path = sa.engine.make_url(url).database
    if path and path != ":memory:":
        from pathlib import Path

        Path(path).parent.mkdir(parents=True, exist_ok=True)
    engine = sa.create_engine(url, connect_args={"timeout": 30}, **kwargs)

    @sa.event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # Let SQLAlchemy, not pysqlite, decide when transactions begin.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA busy_timeout=30000")
        cursor.close()

    @sa.event.listens_for(engine, "begin")
    def _on_begin(connection: Any) -> None:
        # Deferred transactions lose updates under threads; take the write lock up front
        # unless the caller said it only reads (execution option sqlite_deferred).
        options = connection.get_execution_options()
        if options.get("isolation_level") == "AUTOCOMMIT":
            return  # every statement is its own transaction
        connection.exec_driver_sql("BEGIN" if options.get("sqlite_deferred") else "BEGIN IMMEDIATE")

    return engine


class Database:
    """The engine and session factory of one application."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.engine = make_engine(settings.database_url)
        self.sessionmaker = sessionmaker(
            self.engine, expire_on_commit=False, info={"settings": settings}
        )

    def reader(self) -> Session:
        """A session for reading (on SQLite it does not take the write lock up front)."""
        return Session(
            self.engine.execution_options(sqlite_deferred=True),
            expire_on_commit=False,
            info={"settings": self.settings},
        )

    @contextmanager
    def session(self) -> Iterator[Session]:
        """A session whose transaction commits on success and rolls back on error."""
        with self.sessionmaker() as session:
            try:
                yield session
                session.commit()
            except BaseException:
                session.rollback()
                raise


def settings_of(session: Session) -> Settings:
    """The settings of the application that opened `session`."""
    return session.info["settings"]  # type: ignore[no-any-return]


def init_app(app: Flask, settings: Settings) -> None:
    """Attach a Database to the app and close request sessions at teardown."""
    app.extensions["outreach.db"] = Database(settings)

    def _close_session(_exc: BaseException | None) -> None:
        session = g.pop("db_session", None)
        if session is not None:
            session.close()

    # Per request: a request inside an outer app context (the CLI's) must not keep its
    # transaction, and SQLite's write lock, after it has answered.
    app.teardown_request(_close_session)
    app.teardown_appcontext(_close_session)


def get_db(app: Flask | None = None) -> Database:
    """The Database of the given (or current) app."""
    return (app or current_app).extensions["outreach.db"]  # type: ignore[no-any-return]


def get_session() -> Session:
    """The request's session, opened on first use; the view commits."""
    if "db_session" not in g:
        g.db_session = get_db().sessionmaker()
    return g.db_session  # type: ignore[no-any-return]


MAX_ID = 2**63 - 1


def as_id(value: str | int) -> int | None:
    """An id from user input, or None when it cannot be one (too large, not digits)."""
    text = str(value)
    if not text.isdigit():
        return None
    number = int(text)
    return number if 0 < number <= MAX_ID else None
