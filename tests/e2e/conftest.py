"""The product as a person runs it: `outreach serve` / `outreach worker` as processes.

Each test gets a fresh folder (the instance lives there, as after a clone), a real SMTP
server (aiosmtpd, in this process), and talks to Outreach only through HTTP, the
`outreach` command and the mail that arrives. Every message that arrives is checked with
dkimpy, and must stop verifying once a second From is prepended.

Backends: `sqlite` (the embedded defaults: SQLite, memory:// — `serve` does everything)
and `postgresql` (PostgreSQL + Redis: `serve` is the web app, `outreach worker` sends).
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import dkim
import pytest
import requests
import sqlalchemy as sa

from tests.conftest import (
    BROKER_URL,
    CONTROLLER,
    PG_URL,
    XDIST_INDEX,
    SmtpSink,
    create_database,
    free_port,
    missing_service,
)
from tests.support.dkim import PEM, PUBLIC

OUTREACH = str(Path(sys.executable).with_name("outreach"))
GUNICORN = str(Path(sys.executable).with_name("gunicorn"))
PROJECT = Path(__file__).resolve().parents[2]  # where wsgi.py and gunicorn.conf.py are
DKIM_DOMAIN, DKIM_SELECTOR = "example.org", "e2e"
DKIM_PEM, _PUBLIC = PEM, PUBLIC  # the key the DKIM unit tests sign with


def dkim_dns(name: bytes, timeout: int = 5) -> bytes:
    """The DKIM key record the receivers would look up."""
    assert name == f"{DKIM_SELECTOR}._domainkey.{DKIM_DOMAIN}.".encode()
    return f"v=DKIM1; k=rsa; p={_PUBLIC}".encode()


def assert_signed(raw: bytes) -> None:
    """The message verifies, and a prepended From makes it fail (From is oversigned)."""
    assert dkim.verify(raw, dnsfunc=dkim_dns), raw[:400]
    forged = b'From: "Bank" <security@evil.example>\r\n' + raw
    assert not dkim.verify(forged, dnsfunc=dkim_dns)


@dataclass
class Product:
    """One installation of Outreach in a folder, run through its command line."""

    root: Path
    env: dict[str, str]
    backend: str
    sink: SmtpSink
    port: int = field(default_factory=free_port)
    processes: list[subprocess.Popen[bytes]] = field(default_factory=list)
    log_files: list[Any] = field(default_factory=list)

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def embedded(self) -> bool:
        return self.backend == "sqlite"

    def run(
        self, *args: str, check: bool = True, timeout: float = 120, **env: str
    ) -> subprocess.CompletedProcess[str]:
        """`outreach ARGS…` as a person types it; fails the test on a non-zero exit."""
        done = subprocess.run(
            [OUTREACH, *args],
            cwd=self.root,
            env={**self.env, **env},
            capture_output=True,
            text=True,
            timeout=timeout,
        )
        if check and done.returncode != 0:
            pytest.fail(f"outreach {' '.join(args)} exited {done.returncode}:\n{done.stderr}")
        return done

    def name_the_controller(self) -> None:
        """Name the controller in the privacy notice, as the operator does before a first
        campaign (nothing is sent while it is the placeholder)."""
        keys = {"name": "controller_name", "address": "postal_address", "email": "contact_email"}
        self.run("settings", "set", *(a for p, k in keys.items() for a in (k, CONTROLLER[p])))

    def json(self, *args: str) -> Any:
        """The JSON document a command prints with --json."""
        return json.loads(self.run(*args, "--json").stdout)

    def json_plain(self, *args: str) -> Any:
        """The JSON document a command prints anyway (consent proof)."""
        return json.loads(self.run(*args).stdout)

    def spawn(self, *args: str, **env: str) -> subprocess.Popen[bytes]:
        """Start `outreach ARGS…` in the background, its output in a log file."""
        log = (self.root / f"{args[0]}-{len(self.log_files)}.log").open("wb")
        self.log_files.append(log)
        process = subprocess.Popen(
            [OUTREACH, *args],
            cwd=self.root,
            env={**self.env, **env},
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # its own process group: dramatiq's children go with it
        )
        self.processes.append(process)
        return process

    def start_gunicorn(self, workers: int) -> None:
        """`gunicorn -w N wsgi:app` in the project folder (it reads gunicorn.conf.py
        there), and with a real broker `outreach worker` beside it."""
        log = (self.root / f"gunicorn-{len(self.log_files)}.log").open("wb")
        self.log_files.append(log)
        command = [GUNICORN, "-w", str(workers), "-b", f"127.0.0.1:{self.port}", "wsgi:app"]
        serve = subprocess.Popen(
            command,
            cwd=PROJECT,
            # This installation's instance folder (its database, outbox), not the project's.
            env={"OUTREACH_INSTANCE_PATH": str(self.root / "instance"), **self.env},
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        self.processes.append(serve)
        if not self.embedded:
            worker = self.spawn("worker", "--processes", "1", "--threads", "2")
            self._wait_for_log(worker, "ready for action")
        self._wait_for_http(serve)

    def start(self, **env: str) -> None:
        """`outreach serve`, and with a real broker `outreach worker` beside it."""
        serve = self.spawn("serve", "--port", str(self.port), **env)
        if not self.embedded:
            worker = self.spawn("worker", "--processes", "1", "--threads", "2", **env)
            self._wait_for_log(worker, "ready for action")
        self._wait_for_http(serve)

    def _wait_for_http(self, process: subprocess.Popen[bytes], seconds: float = 30) -> None:
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            if process.poll() is not None:
                pytest.fail(f"outreach serve exited {process.returncode}:\n{self.logs()}")
            try:
                if requests.get(f"{self.base_url}/subscribe", timeout=2).status_code == 200:
                    return
            # Refused, or listening (gunicorn's arbiter binds first) with its workers still
            # booting on a loaded machine: try again until the deadline.
            except (requests.ConnectionError, requests.Timeout):
                time.sleep(0.1)
        pytest.fail(f"outreach serve did not answer in {seconds} s:\n{self.logs()}")

    def _wait_for_log(
        self, process: subprocess.Popen[bytes], text: str, seconds: float = 30
    ) -> None:
        deadline = time.monotonic() + seconds
        path = Path(self.log_files[self.processes.index(process) - len(self.processes)].name)
        while time.monotonic() < deadline:
            if text in path.read_text(errors="replace"):
                return
            if process.poll() is not None:
                break
            time.sleep(0.1)
        pytest.fail(f"{path.name} never said {text!r}:\n{self.logs()}")

    def stop(self, sig: int = signal.SIGTERM) -> None:
        """Stop every process started (SIGKILL: as a crash would)."""
        for process in self.processes:
            if process.poll() is None:
                os.killpg(process.pid, sig)
        for process in self.processes:
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGKILL)  # whatever of the group outlived it
        self.processes.clear()
        for log in self.log_files:
            log.close()

    def logs(self) -> str:
        """Everything the processes printed."""
        return "\n".join(
            f"--- {p.name}\n{p.read_text(errors='replace')}" for p in self.root.glob("*.log")
        )

    def subscribers(self, *emails: str, group: str = "Thinkers") -> None:
        """Import subscribed contacts from a CSV file, as the README shows."""
        path = self.root / f"contacts-{len(list(self.root.glob('contacts-*.csv')))}.csv"
        path.write_text(
            "email,first_name,sector\n"
            + "".join(f"{e},{e.split('@')[0]},{group}\n" for e in emails)
        )
        self.run(
            "contacts",
            "import",
            str(path),
            "--source",
            "e2e: customers who asked",
            "--status",
            "subscribed",
        )

    def campaign(self, groups: str = "Thinkers") -> str:
        """A campaign with one variant, created from the command line; its id."""
        campaign = self.run(
            "campaigns",
            "create",
            "E2E letter",
            "--from",
            "Ana <ana@example.org>",
            "--groups",
            groups,
        ).stdout.strip()
        mjml = self.root / "letter.mjml"
        mjml.write_text(
            "<mjml><mj-body><mj-section><mj-column><mj-text>Hello {{ contact.first_name }}! "
            '<a href="{{ unsubscribe_url }}">Unsubscribe</a></mj-text></mj-column>'
            "</mj-section></mj-body></mjml>"
        )
        for group in groups.split(","):
            self.run(
                "campaigns",
                "variant",
                campaign,
                "--group",
                group,
                "--subject",
                "News for {{ contact.first_name }}",
                "--mjml",
                str(mjml),
            )
        return campaign

    def status(self, campaign: str) -> dict[str, Any]:
        """`outreach campaigns status N --json`, with the counts summed over groups."""
        document: dict[str, Any] = self.json("campaigns", "status", campaign)
        for name in ("queued", "sending", "sent", "failed", "bounced", "skipped"):
            document[name] = sum(g.get(name, 0) for g in document["groups"])
        return document


def wait_for(condition: Callable[[], Any], seconds: float = 30, what: str = "") -> Any:
    """Poll until `condition()` is true; its value."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(0.1)
    pytest.fail(f"timed out waiting for {what or condition}")


def mail_to(
    sink: SmtpSink, address: str, count: int = 1, seconds: float = 30
) -> list[EmailMessage]:
    """Wait for `count` messages to `address`, then a moment more: exactly `count` came."""
    wait_for(lambda: len(sink.to(address)) >= count, seconds, f"{count} mail to {address}")
    time.sleep(0.3)
    found = sink.to(address)
    assert len(found) == count, [m["Subject"] for m in found]
    return found


def body(message: EmailMessage) -> str:
    """The text part of a message."""
    return message.get_body(("plain",)).get_content()  # type: ignore[union-attr]


def link(message: EmailMessage, path: str) -> str:
    """The first URL in a message whose path starts with `path`."""
    match = re.search(rf"https?://[^\s\"<>]+{re.escape(path)}[^\s\"<>]*", body(message))
    assert match, f"no {path} link in:\n{body(message)}"
    return match.group(0)


def csrf(html: str) -> str:
    """The CSRF token of a page's form."""
    match = re.search(r'name="csrf_token" value="([^"]+)"', html)
    assert match, "page has no CSRF token"
    return match.group(1)


def _postgres_e2e_url() -> str:
    """A database of its own for these tests (one per xdist worker), emptied each test."""
    url = sa.engine.make_url(PG_URL)
    target = url.set(database=f"{url.database}_e2e")
    create_database(PG_URL, target.database or "")
    engine = sa.create_engine(target, poolclass=sa.pool.NullPool)
    with engine.begin() as conn:
        conn.exec_driver_sql("DROP SCHEMA public CASCADE; CREATE SCHEMA public")
    engine.dispose()
    return target.render_as_string(hide_password=False)


def _redis_e2e_url() -> str:
    import redis

    url = re.sub(r"(/\d*)?$", f"/{10 + XDIST_INDEX}", BROKER_URL.rstrip("/"), count=1)
    redis.Redis.from_url(url).flushdb()
    return url


@pytest.fixture(params=["sqlite", "postgresql"])
def backend(request: pytest.FixtureRequest) -> str:
    if request.param == "postgresql" and not (PG_URL and BROKER_URL.startswith("redis")):
        missing_service("PostgreSQL and Redis (OUTREACH_TEST_DATABASE_URL, _BROKER_URL)")
    return str(request.param)


@pytest.fixture
def sink() -> Iterator[SmtpSink]:
    """The SMTP server the installation sends to; at the end, everything it took is
    checked with dkimpy."""
    found = SmtpSink("127.0.0.1", free_port())
    found.start()
    yield found
    found.stop()
    for message in found.received():
        assert_signed(message.raw_bytes)  # type: ignore[attr-defined]


@pytest.fixture
def product(tmp_path: Path, backend: str, sink: SmtpSink) -> Iterator[Product]:
    """A fresh installation: `outreach db upgrade` done, nothing running yet."""
    key = tmp_path / "dkim.pem"
    key.write_bytes(DKIM_PEM)
    env = {
        "PATH": f"{Path(OUTREACH).parent}:{os.environ.get('PATH', '')}",
        "HOME": str(tmp_path),
        "LANG": "C.UTF-8",
        "OUTREACH_SMTP_URL": sink.url,
        "OUTREACH_SECRET_KEY": "e2e-secret-key-of-this-installation",
        "OUTREACH_MAIL_FROM": "Outreach <news@example.org>",
        "OUTREACH_DKIM_DOMAIN": DKIM_DOMAIN,
        "OUTREACH_DKIM_SELECTOR": DKIM_SELECTOR,
        "OUTREACH_DKIM_KEY_FILE": str(key),
        "OUTREACH_RETRY_BASE_MS": "200",
        "OUTREACH_LEASE_SECONDS": "5",
        "OUTREACH_SUBSCRIBE_RATE_LIMIT": "1000 per minute",
        # Links in the mail point at this machine's http://127.0.0.1:PORT, on purpose.
        "OUTREACH_ALLOW_INSECURE_LINKS": "true",
    }
    if backend == "postgresql":
        env["OUTREACH_DATABASE_URL"] = _postgres_e2e_url()
        env["OUTREACH_BROKER_URL"] = _redis_e2e_url()
    installation = Product(tmp_path, env, backend, sink)
    installation.env["OUTREACH_BASE_URL"] = installation.base_url
    installation.run("db", "upgrade")
    installation.name_the_controller()
    yield installation
    installation.stop()
