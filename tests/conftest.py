"""Fixtures: app, client, runner, session, admin login, API token, real SMTP sink.

The `app` fixture runs every test on SQLite and, when OUTREACH_TEST_DATABASE_URL is set, on
PostgreSQL too. With OUTREACH_REQUIRE_SERVICES=1 a missing service fails instead of skipping.
"""

from __future__ import annotations

import functools
import os
import re
import shutil
import socket
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from email import message_from_bytes, policy
from email.message import EmailMessage
from pathlib import Path
from queue import Empty
from typing import Any

import pytest
import sqlalchemy as sa
from flask import Flask
from flask.testing import FlaskClient, FlaskCliRunner
from sqlalchemy.orm import Session

from outreach import create_app
from outreach.config import Settings
from outreach.db import get_db, make_engine
from outreach.migrate import upgrade
from outreach.models import Base
from tests.support.pages import Transaction

REQUIRE_SERVICES = os.environ.get("OUTREACH_REQUIRE_SERVICES") == "1"
# Under pytest-xdist each worker process gets a database and a Redis db of its own.
XDIST_WORKER = os.environ.get("PYTEST_XDIST_WORKER", "")
XDIST_INDEX = int(re.sub(r"\D", "", XDIST_WORKER) or 0)
PG_BASE_URL = os.environ.get("OUTREACH_TEST_DATABASE_URL", "")


def _per_worker_database(url: str) -> str:
    if not url or not XDIST_WORKER:
        return url
    parsed = sa.engine.make_url(url)
    return parsed.set(database=f"{parsed.database}_{XDIST_WORKER}").render_as_string(
        hide_password=False
    )


def _per_worker_redis(url: str) -> str:
    if not url.startswith("redis") or not XDIST_WORKER:
        return url
    return re.sub(r"(/\d*)?$", f"/{1 + XDIST_INDEX}", url.rstrip("/"), count=1)


PG_URL = _per_worker_database(PG_BASE_URL)
BROKER_URL = _per_worker_redis(os.environ.get("OUTREACH_TEST_BROKER_URL", ""))
SECRET = "test-secret-key-not-for-production"
ADMIN_EMAIL = "admin@example.org"
ADMIN_PASSWORD = "correct horse battery staple"
# The controller every test database starts with, as an operator sets it before a first
# campaign (the pre-send checks refuse to send while the notice names nobody). A test
# marked `fresh_notice` starts with no notice at all, as a fresh installation does.
CONTROLLER = {
    "name": "Test Publisher Ltd",
    "address": "1 Test Street, 28013 Madrid, Spain",
    "email": "privacy@news.example.org",
}
# The pre-send warning of every test app (none configures DKIM).
DKIM_NOT_CONFIGURED = {
    "level": "warning",
    "variant": "-",
    "message": "DKIM is not configured: receivers checking DMARC may refuse or file the mail "
    "as spam (set OUTREACH_DKIM_DOMAIN, _SELECTOR and _KEY_FILE)",
}


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """A test marked `one_backend` runs on PostgreSQL when it is configured (its stricter
    types find more), else on SQLite: not on both. So does every test in a browser: what
    it checks is the page (the same on both), and the database behind each of its steps
    is checked on both by the tests of the routes and use cases it goes through."""
    keep = "postgresql" if PG_URL else "sqlite"
    dropped = [
        item
        for item in items
        if (
            item.get_closest_marker("one_backend") is not None
            or "browser_page" in getattr(item, "fixturenames", ())
        )
        and getattr(item, "callspec", None) is not None
        and item.callspec.params.get("database_url", keep) != keep  # type: ignore[attr-defined]
    ]
    if dropped:
        config.hook.pytest_deselected(items=dropped)
        items[:] = [item for item in items if item not in dropped]


def missing_service(what: str) -> None:
    """Skip, or fail when CI requires every service."""
    if REQUIRE_SERVICES:
        pytest.fail(f"{what} is required (OUTREACH_REQUIRE_SERVICES=1) but unavailable")
    pytest.skip(f"{what} not configured")


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A migrated SQLite file, copied for each test."""
    path = tmp_path_factory.mktemp("template") / "template.db"
    upgrade(f"sqlite:///{path}")
    name_the_controller(f"sqlite:///{path}")  # the last connection closing checkpoints the WAL
    assert not path.with_name(path.name + "-wal").exists()
    return path


def name_the_controller(url: str, engine: sa.Engine | None = None) -> None:
    """Make version 1 of the notice name CONTROLLER (the default texts otherwise)."""
    from outreach.consent.notice import DEFAULT_FIRST_LAYER, DEFAULT_FULL_TEXT, save_notice

    own = engine is None
    engine = engine or make_engine(url)
    with Session(engine) as session, session.begin():
        save_notice(session, CONTROLLER, DEFAULT_FIRST_LAYER, DEFAULT_FULL_TEXT)
    if own:
        engine.dispose()


def _forget_the_notice(url: str) -> None:
    """No notice at all, as in a fresh installation (the defaults become version 1)."""
    engine = make_engine(url)
    with engine.begin() as conn:
        conn.exec_driver_sql("DELETE FROM settings WHERE key = 'notice.current'")
        conn.exec_driver_sql("DELETE FROM notice_versions")
    engine.dispose()


@pytest.fixture(scope="session")
def postgres_url() -> str:
    """The test PostgreSQL database, migrated once per session."""
    if not PG_URL:
        missing_service("PostgreSQL (OUTREACH_TEST_DATABASE_URL)")
    if PG_URL != PG_BASE_URL:
        create_database(PG_BASE_URL, sa.engine.make_url(PG_URL).database or "")
    engine = make_engine(PG_URL)
    try:
        with engine.begin() as conn:
            conn.exec_driver_sql("DROP SCHEMA public CASCADE; CREATE SCHEMA public")
    except sa.exc.OperationalError as exc:
        missing_service(f"PostgreSQL at {PG_URL} ({exc.orig})")
    finally:
        engine.dispose()
    upgrade(PG_URL)
    return PG_URL


def create_database(server_url: str, name: str) -> None:
    """CREATE DATABASE name on the server of `server_url`, unless it exists."""
    import psycopg

    # psycopg itself: an SQLAlchemy engine here left a connection open (ResourceWarning).
    conninfo = sa.engine.make_url(server_url).set(drivername="postgresql")
    try:
        with psycopg.connect(
            conninfo.render_as_string(hide_password=False), autocommit=True
        ) as conn:
            found = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,)).fetchone()
            if not found:
                conn.execute(f'CREATE DATABASE "{name}"')  # type: ignore[arg-type]
    except psycopg.OperationalError as exc:
        missing_service(f"PostgreSQL at {server_url} ({exc})")


_cleaners: dict[str, sa.Engine] = {}


def _cleaner(url: str) -> sa.Engine:
    """One engine per worker process for emptying its PostgreSQL database between tests."""
    if url not in _cleaners:
        _cleaners[url] = make_engine(url)
    return _cleaners[url]


def _empty(url: str) -> sa.Engine:
    """Every table emptied and every used sequence restarted, as a fresh database has them.

    DELETE, children first, not TRUNCATE: a test leaves a few rows, and TRUNCATE of every
    table makes new files for each (~250 ms a test against ~40 ms)."""
    engine = _cleaner(url)
    with engine.begin() as conn:
        for table in reversed(Base.metadata.sorted_tables):
            conn.execute(table.delete())
        used = conn.exec_driver_sql(
            "SELECT sequencename FROM pg_sequences"
            " WHERE schemaname = current_schema() AND last_value IS NOT NULL"
        )
        for (sequence,) in list(used):
            conn.exec_driver_sql(f'ALTER SEQUENCE "{sequence}" RESTART')
    return engine


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A fresh, migrated database of each backend, its notice naming CONTROLLER (unless the
    test is marked `fresh_notice`)."""
    fresh = request.node.get_closest_marker("fresh_notice") is not None
    if request.param == "sqlite":
        path = tmp_path / "outreach.db"
        shutil.copy(request.getfixturevalue("sqlite_template"), path)
        if fresh:
            _forget_the_notice(f"sqlite:///{path}")
        return f"sqlite:///{path}"
    url: str = request.getfixturevalue("postgres_url")
    engine = _empty(url)
    if not fresh:
        name_the_controller(url, engine)
    return url


def make_settings(tmp_path: Path, database_url: str, **overrides: Any) -> Settings:
    """Settings for a test app in its own instance folder."""
    values: dict[str, Any] = dict(
        instance_path=tmp_path / "instance",
        database_url=database_url,
        broker_url="memory://",
        base_url="https://news.example.org",
        secret_key=SECRET,
        testing=True,
    )
    values.update(overrides)
    return Settings(**values).resolved()


@pytest.fixture
def app(tmp_path: Path, database_url: str) -> Iterator[Flask]:
    """An application on a fresh database (CSRF protection stays on)."""
    application = create_app(make_settings(tmp_path, database_url))
    yield application
    get_db(application).engine.dispose()


@pytest.fixture
def db(app: Flask) -> Transaction:
    """Open a session whose transaction commits when the `with` block ends."""

    @contextmanager
    def transaction() -> Iterator[Session]:
        with app.app_context(), get_db(app).session() as session:
            yield session

    return transaction


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    return app.test_client()


@pytest.fixture
def runner(app: Flask) -> FlaskCliRunner:
    return app.test_cli_runner()


@pytest.fixture
def session(app: Flask) -> Iterator[Session]:
    """A session on the app's database; tests commit what they arrange.

    It takes no write lock up front, so the CLI and views under test can write meanwhile;
    call `session.rollback()` (or commit) before reading what they wrote.
    """
    with app.app_context(), get_db(app).reader() as db_session:
        yield db_session


def csrf_from(html: str) -> str:
    """The CSRF token of the first form of a page."""
    match = re.search(r'name="csrf_token" value="([^"]+)"', html)
    assert match, "page has no CSRF token"
    return match.group(1)


@pytest.fixture
def admin_user(app: Flask) -> str:
    """An administrator account; returns its address.

    Its password hash is a cheap PBKDF2 one: scrypt costs ~0.13 s to make and again at each
    sign-in, in hundreds of tests (tests/test_admin_cli.py checks the real scrypt hash).
    """
    from outreach.accounts.models import AdminUser

    with app.app_context(), get_db(app).session() as db_session:
        db_session.add(AdminUser(email=ADMIN_EMAIL, password_hash=_cheap_admin_hash()))
    return ADMIN_EMAIL


@functools.cache
def _cheap_admin_hash() -> str:
    from werkzeug.security import generate_password_hash

    return generate_password_hash(ADMIN_PASSWORD, method="pbkdf2:sha256:1000")


@pytest.fixture
def auth(client: FlaskClient, admin_user: str) -> FlaskClient:
    """The client, signed in as the administrator."""
    token = csrf_from(client.get("/admin/login").get_data(as_text=True))
    response = client.post(
        "/admin/login", data={"email": admin_user, "password": ADMIN_PASSWORD, "csrf_token": token}
    )
    assert response.status_code == 302, response.get_data(as_text=True)
    return client


@pytest.fixture
def api_headers(app: Flask, admin_user: str) -> dict[str, str]:
    """Authorization headers with a fresh API token."""
    from outreach.accounts.service import get_admin, issue_token

    with app.app_context(), get_db(app).session() as db_session:
        token = issue_token(db_session, get_admin(db_session, admin_user))
    return {"Authorization": f"Bearer {token}"}


def free_port() -> int:
    """A TCP port nobody listens on (aiosmtpd cannot use port 0)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class SmtpSink:
    """A real SMTP server on localhost that keeps what it receives."""

    host: str
    port: int
    messages: list[EmailMessage] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)
    # address -> replies for its next RCPT commands (None: accept), e.g. ["451 4.3.0 later"]
    rules: dict[str, list[str | None]] = field(default_factory=dict)
    controller: Any = None
    # (user, password) to require AUTH; a TLS context to require STARTTLS with it
    auth: tuple[str, str] | None = None
    tls_context: Any = None
    drop_data: set[str] = field(default_factory=set)  # drop the connection once, in DATA
    delay: float = 0.0  # seconds before answering each DATA
    pipelining: bool = True  # offer PIPELINING (RFC 2920), as Postfix and most relays do

    def start(self) -> None:
        """Listen (again) on the sink's port."""
        from aiosmtpd.controller import Controller

        options: dict[str, Any] = {}
        if self.auth is not None:
            options.update(
                authenticator=self._authenticate, auth_required=True, auth_require_tls=False
            )
        if self.tls_context is not None:
            options.update(tls_context=self.tls_context, require_starttls=True)
        # AUTH without TLS on loopback is on purpose (pyproject ignores its warnings).
        self.controller = Controller(
            _SinkHandler(self), hostname=self.host, port=self.port, **options
        )
        self.controller.start()

    def _authenticate(
        self, server: Any, session: Any, envelope: Any, mechanism: str, data: Any
    ) -> Any:
        from aiosmtpd.smtp import AuthResult, LoginPassword

        ok = (
            isinstance(data, LoginPassword)
            and (
                data.login.decode(),
                data.password.decode(),
            )
            == self.auth
        )
        return AuthResult(success=ok, handled=False)

    def stop(self) -> None:
        """Stop listening: connections are refused until start()."""
        if self.controller is not None:
            self.controller.stop()
            self.controller = None

    def to(self, address: str) -> list[EmailMessage]:
        """Messages received for one address."""
        return [m for m in self.received() if address in str(m["To"])]

    @property
    def url(self) -> str:
        return f"smtp://{self.host}:{self.port}"

    def received(self) -> list[EmailMessage]:
        with self.lock:
            return list(self.messages)


class _SinkHandler:
    def __init__(self, sink: SmtpSink) -> None:
        self.sink = sink

    async def handle_EHLO(  # noqa: N802
        self, server: Any, session: Any, envelope: Any, hostname: str, responses: list[str]
    ) -> list[str]:
        session.host_name = hostname
        if self.sink.pipelining:
            responses.insert(-1, "250-PIPELINING")  # aiosmtpd reads commands in order anyway
        return responses

    async def handle_RCPT(
        self,
        server: Any,
        session: Any,
        envelope: Any,
        address: str,  # noqa: N802
        options: Any,
    ) -> str:
        with self.sink.lock:
            replies = self.sink.rules.get(address)
            reply = replies.pop(0) if replies else None
        if reply:
            return reply
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # noqa: N802
        import asyncio

        if self.sink.delay:
            await asyncio.sleep(self.sink.delay)
        with self.sink.lock:
            dropped = self.sink.drop_data & set(envelope.rcpt_tos)
            self.sink.drop_data -= dropped
        if dropped:  # the data arrived, the answer never does
            server.transport.close()
            return "421 closing"
        parsed = message_from_bytes(envelope.content, policy=policy.SMTP)
        parsed.raw_bytes = envelope.content  # type: ignore[attr-defined]  (DKIM checks)
        parsed.envelope_from = envelope.mail_from  # type: ignore[attr-defined]  (VERP)
        with self.sink.lock:
            self.sink.messages.append(parsed)  # type: ignore[arg-type]
        return "250 OK"


@pytest.fixture
def smtp_sink() -> Iterator[SmtpSink]:
    """aiosmtpd on a free port, collecting parsed messages."""
    sink = SmtpSink("127.0.0.1", free_port())
    sink.start()
    yield sink
    sink.stop()


@pytest.fixture(scope="session")
def chromium_path() -> str:
    """Debian's Chromium; browser tests skip locally without it and fail in CI."""
    path = shutil.which("chromium") or "/usr/bin/chromium"
    if not Path(path).exists():
        if os.environ.get("CI") or REQUIRE_SERVICES:
            pytest.fail("chromium is required in CI but not installed")
        pytest.skip("chromium not installed")
    return path


@pytest.fixture
def live_server(app: Flask) -> Iterator[str]:
    """The app served by a real WSGI server on a free port; yields its base URL."""
    from werkzeug.serving import make_server

    port = free_port()
    server = make_server("127.0.0.1", port, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{port}"
    server.shutdown()
    thread.join(timeout=5)


@pytest.fixture(scope="session")
def chromium(chromium_path: str) -> Iterator[Any]:
    """Headless Debian Chromium, launched once per test process instead of once a test."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        browser = pw.chromium.launch(
            executable_path=chromium_path,
            headless=True,
            args=[
                "--no-sandbox",
                "--disable-gpu",
                "--disable-quic",
                "--no-first-run",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
            ],
        )
        yield browser
        browser.close()


@pytest.fixture
def browser_page(chromium: Any) -> Iterator[Any]:
    """A Playwright page in a fresh context (no cookies, no storage) of the shared Chromium."""
    context = chromium.new_context()
    page = context.new_page()
    yield page
    context.close()


class Queue:
    """The embedded broker and its worker threads, bound to one test app."""

    def __init__(self, app: Flask) -> None:
        from outreach.embedded import start_embedded

        start_embedded(app)
        self.app = app
        self.worker = app.extensions["outreach.worker"]
        self.broker = self.worker.broker

    def drain(self, timeout: float = 30) -> None:
        """Wait until every queue is empty and the workers are idle; re-raise actor errors."""
        # "ops" carries only heartbeats (and messages of older versions): never wait for it.
        for name in [q for q in self.broker.queues if not q.startswith("ops")]:
            self.broker.join(name, timeout=int(timeout * 1000), fail_fast=True)

    def _busy(self) -> bool:
        """Work is queued or running, other than heartbeats and the delayed messages the
        worker holds until their time (unacknowledged, so counted as unfinished)."""
        held: dict[str, int] = {}
        for consumer in list(self.worker.consumers.values()):
            for item in list(consumer.delay_queue.queue):
                held[item.message.queue_name] = held.get(item.message.queue_name, 0) + 1
        return any(
            q.unfinished_tasks > held.get(name, 0)
            for name, q in list(self.broker.queues.items())
            if not name.startswith("ops")
        )

    def stop(self) -> None:
        """Finish what this test queued, so nothing runs later against another test's
        database (the process keeps its one embedded worker); drop what cannot finish in
        10 s, and every delayed message: a retry's nudge a minute away (the database row is
        the record) would make the next test's drain wait for it."""
        deadline = time.monotonic() + 10
        while self._busy() and time.monotonic() < deadline:
            time.sleep(0.005)
        for name in list(self.broker.queues):
            self.broker.flush(name)
        for dead in self.broker.dead_letters_by_queue.values():
            dead.clear()  # this test's failures are not the next one's (same list objects)
        for consumer in list(self.worker.consumers.values()):
            while True:
                try:
                    item = consumer.delay_queue.get_nowait()
                except Empty:
                    break
                consumer.post_process_message(item.message)  # acknowledged: dropped
                consumer.delay_queue.task_done()


@contextmanager
def queued_app(
    tmp_path: Path, database_url: str, sink: SmtpSink, **overrides: Any
) -> Iterator[Flask]:
    """An app whose mail goes to `sink`, with the embedded queue bound to it (see drain)."""
    application = create_app(make_settings(tmp_path, database_url, smtp_url=sink.url, **overrides))
    queue = Queue(application)
    application.extensions["test.queue"] = queue
    yield application
    queue.stop()
    get_db(application).engine.dispose()


@pytest.fixture
def mail_app(tmp_path: Path, database_url: str, smtp_sink: SmtpSink) -> Iterator[Flask]:
    """An application whose mail goes to the real SMTP sink, with embedded workers."""
    with queued_app(tmp_path, database_url, smtp_sink) as application:
        yield application


def drain(app: Flask) -> None:
    """Run every queued task of a `mail_app` or `sending_app` to the end."""
    app.extensions["test.queue"].drain()


@pytest.fixture
def sending_app(tmp_path: Path, database_url: str, smtp_sink: SmtpSink) -> Iterator[Flask]:
    """An app whose mail goes to the SMTP sink, with the embedded queue and quick retries."""
    with queued_app(tmp_path, database_url, smtp_sink, retry_base_ms=50, pause_after=5) as app:
        yield app


@pytest.fixture
def make_subscriber(app: Flask) -> Callable[..., int]:
    """Create a confirmed subscriber, optionally in groups (names); returns its id."""
    from tests.support.campaigns import subscribe

    return functools.partial(subscribe, app)


def forget_arranged_mail(session: Session, contact_id: int) -> None:
    """Drop the consent emails a test's arranged subscriber queued (not what it tests)."""
    from outreach.outbox.models import OutboxMessage

    session.execute(sa.delete(OutboxMessage).where(OutboxMessage.contact_id == contact_id))
