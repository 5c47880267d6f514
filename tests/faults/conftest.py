"""Fault injection on private servers: Redis, PostgreSQL and an SMTP sink that misbehaves.

Every test starts its own `redis-server` and PostgreSQL cluster on free ports (never the
shared services), an installation of Outreach on them (tests.e2e.conftest.Product), imports
subscribers and creates a campaign from the command line, runs two `outreach worker`
processes, then breaks something mid-campaign and counts what reached the sink: each
recipient once (or within the documented bound), nobody lost, and how long recovery took.
Each test prints one `FAULT name: unique=… duplicates=… lost=… recovery=…s` line (also
appended to the file named by OUTREACH_FAULT_REPORT).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import pwd
import re
import shutil
import signal
import subprocess
import tempfile
import time
from collections import Counter
from collections.abc import Callable, Collection, Iterator
from dataclasses import dataclass, field
from email import message_from_bytes, policy
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from tests.conftest import SmtpSink, _SinkHandler, create_database, free_port, missing_service
from tests.e2e.conftest import OUTREACH, Product

SECRET = "faults-secret-key-of-this-installation"
GROUP = "Faults"
THREADS = 4  # per `outreach worker` process
SMTP_TIMEOUT = 10  # seconds the client waits for an SMTP answer (the stall is longer)
PG_BIN = Path("/usr/lib/postgresql/15/bin")
Echo = Callable[[str], None]


def addresses(count: int) -> list[str]:
    """The subscribers of a test, in import order."""
    return [f"reader{i:05d}@example.org" for i in range(count)]


# --- private PostgreSQL and Redis ------------------------------------------------------


def _tool(name: str, folder: Path | None = None) -> str:
    """A server binary, from `folder` first, then PATH; skips (or fails in CI) without it."""
    if folder is not None and (folder / name).exists():
        return str(folder / name)
    found = shutil.which(name)
    if found is None:
        missing_service(f"{name} (a private server for the fault tests)")
    return str(found)


def _as_postgres(argv: list[str]) -> list[str]:
    """The command as the postgres user when we are root (initdb and postgres refuse root)."""
    return ["runuser", "-u", "postgres", "--", *argv] if os.geteuid() == 0 else argv


def _own(path: Path) -> None:
    """Give a folder tree to the postgres user when we are root."""
    if os.geteuid() != 0:
        return
    owner = pwd.getpwnam("postgres")
    os.chown(path, owner.pw_uid, owner.pw_gid)
    for root, folders, files in os.walk(path):
        for name in folders + files:
            os.chown(os.path.join(root, name), owner.pw_uid, owner.pw_gid, follow_symlinks=False)


def _private_folder(prefix: str) -> Path:
    """A fresh folder under the system temp dir that the postgres user can traverse."""
    path = Path(tempfile.mkdtemp(prefix=prefix))
    path.chmod(0o755)
    _own(path)
    return path


@dataclass
class PrivatePostgres:
    """A PostgreSQL cluster of one test, started and stopped with pg_ctl."""

    folder: Path
    port: int = field(default_factory=free_port)
    database: str = "outreach"

    @property
    def data(self) -> Path:
        return self.folder / "data"

    @property
    def url(self) -> str:
        return f"postgresql+psycopg://postgres@127.0.0.1:{self.port}/{self.database}"

    def _ctl(self, *args: str, timeout: float = 90) -> subprocess.CompletedProcess[str]:
        command = [_tool("pg_ctl", PG_BIN), "-D", str(self.data), *args]
        return subprocess.run(
            _as_postgres(command), capture_output=True, text=True, timeout=timeout
        )

    def start(self) -> None:
        """Start the server and wait until it accepts connections."""
        sockets = self.folder / "sockets"
        sockets.mkdir(exist_ok=True)
        _own(sockets)
        options = f"-p {self.port} -c listen_addresses=127.0.0.1 -k {sockets}"
        log = self.folder / "postgres.log"
        done = self._ctl("-o", options, "-l", str(log), "-w", "-t", "60", "start")
        if done.returncode != 0:
            text = log.read_text(errors="replace")[-3000:] if log.exists() else ""
            pytest.fail(f"pg_ctl start exited {done.returncode}: {done.stderr}\n{text}")

    def stop(self, mode: str = "fast") -> None:
        """`pg_ctl -m MODE stop` (fast: sessions ended cleanly; immediate: as a crash)."""
        if not (self.data / "postmaster.pid").exists():
            return
        try:
            done = self._ctl("-m", mode, "-w", "-t", "30", "stop", timeout=40)
            stopped = done.returncode == 0
        except subprocess.TimeoutExpired:
            stopped = False
        if not stopped:
            self.kill()

    def kill(self) -> None:
        """SIGKILL the postmaster (its backends exit once they notice)."""
        with contextlib.suppress(FileNotFoundError, ValueError, IndexError, ProcessLookupError):
            pid = int((self.data / "postmaster.pid").read_text().split()[0])
            os.kill(pid, signal.SIGKILL)

    def restart(self, mode: str = "fast", down_seconds: float = 3.0) -> float:
        """Stop in `mode`, stay down, start again; the moment it is back (monotonic)."""
        self.stop(mode)
        time.sleep(down_seconds)
        self.start()
        return time.monotonic()


@dataclass
class PrivateRedis:
    """A `redis-server` of one test, without persistence: a restart loses everything."""

    folder: Path
    port: int = field(default_factory=free_port)
    process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self, seconds: float = 15) -> None:
        """Start on the same port as before and wait for PONG."""
        import redis

        log_path = self.folder / "redis.log"
        with log_path.open("ab") as log:
            self.process = subprocess.Popen(
                [
                    *(_tool("redis-server", Path("/usr/bin")), "--port", str(self.port)),
                    *("--bind", "127.0.0.1", "--save", "", "--appendonly", "no"),
                    *("--daemonize", "no", "--dir", str(self.folder)),
                ],
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        client = redis.Redis(host="127.0.0.1", port=self.port, socket_timeout=1)
        deadline = time.monotonic() + seconds
        try:
            while time.monotonic() < deadline:
                if self.process.poll() is not None:
                    break
                with contextlib.suppress(redis.RedisError):
                    if client.ping():
                        return
                time.sleep(0.05)
        finally:
            client.close()
        pytest.fail(f"redis-server did not answer:\n{log_path.read_text(errors='replace')}")

    def stop(self, sig: int = signal.SIGTERM) -> None:
        """Stop the server (SIGKILL: as a crash would)."""
        process, self.process = self.process, None
        if process is None:
            return
        if process.poll() is None:
            process.send_signal(sig)
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()

    def waiting(self, queue: str = "delivery") -> int:
        """Broker messages waiting in a dramatiq queue (fetched ones are not counted)."""
        import redis

        client = redis.Redis(host="127.0.0.1", port=self.port, socket_timeout=2)
        try:
            return int(client.llen(f"dramatiq:{queue}"))
        finally:
            client.close()

    def restart(self, down_seconds: float = 2.0, sig: int = signal.SIGKILL) -> float:
        """Kill, stay down, start again empty; the moment it is back (monotonic)."""
        self.stop(sig)
        time.sleep(down_seconds)
        self.start()
        return time.monotonic()


@pytest.fixture(scope="session")
def postgres_template() -> Iterator[Path]:
    """An initdb'd cluster with the empty `outreach` database, copied for each test."""
    folder = _private_folder("outreach-faults-pg-template-")
    try:
        command = [_tool("initdb", PG_BIN), "-D", str(folder / "data"), "-U", "postgres"]
        command += ["-A", "trust", "-E", "UTF8", "--locale=C", "--no-sync"]
        done = subprocess.run(_as_postgres(command), capture_output=True, text=True, timeout=120)
        if done.returncode != 0:
            pytest.fail(f"initdb exited {done.returncode}:\n{done.stdout}\n{done.stderr}")
        server = PrivatePostgres(folder)
        server.start()
        try:
            create_database(server.url.replace("/outreach", "/postgres"), "outreach")
        finally:
            server.stop()
        yield folder / "data"
    finally:
        shutil.rmtree(folder, ignore_errors=True)


@pytest.fixture
def private_postgres(postgres_template: Path) -> Iterator[PrivatePostgres]:
    """A PostgreSQL cluster of this test's own (`.restart(mode=…)` injects the fault)."""
    folder = _private_folder("outreach-faults-pg-")
    server = PrivatePostgres(folder)
    try:
        shutil.copytree(postgres_template, server.data, symlinks=True)
        _own(folder)
        server.data.chmod(0o700)
        server.start()
        yield server
    finally:
        server.stop("immediate")
        shutil.rmtree(folder, ignore_errors=True)


@pytest.fixture
def private_redis(tmp_path: Path) -> Iterator[PrivateRedis]:
    """A redis-server of this test's own (`.restart()` loses its data)."""
    folder = tmp_path / "redis"
    folder.mkdir()
    server = PrivateRedis(folder)
    try:
        server.start()
        yield server
    finally:
        server.stop(signal.SIGKILL)


# --- an SMTP sink with faults ------------------------------------------------------------


@dataclass
class Arrival:
    """One accepted message for one recipient, and when it was accepted."""

    address: str
    campaign: int | None
    monotonic: float
    wall: float
    message: EmailMessage


@dataclass
class FaultySink(SmtpSink):
    """The SMTP sink, with faults at the end of DATA and a record of every arrival.

    `refuse_every` N: every Nth message is answered `421 4.3.0 try later` (not kept).
    `drop_every` N: every Nth message, the connection is closed once the data is in,
    before any answer (not kept). `stall_after` K: once, after K kept messages, the answer
    to the next one is withheld `stall_seconds`, then it is kept and answered 250 (the
    client may have given up meanwhile: a re-send of it is a possible duplicate).
    Messages are counted from 1, every DATA (re-sends too).
    """

    refuse_every: int = 0
    drop_every: int = 0
    stall_after: int | None = None
    stall_seconds: float = 0.0
    arrivals: list[Arrival] = field(default_factory=list)
    faults: list[tuple[str, float]] = field(default_factory=list)  # (kind, monotonic)
    data_count: int = 0
    stalled: bool = False
    stall_over: float | None = None  # monotonic time of the stalled message's answer

    def start(self) -> None:
        """Listen (again) on the sink's port, faults included."""
        from aiosmtpd.controller import Controller

        self.controller = Controller(_FaultHandler(self), hostname=self.host, port=self.port)
        self.controller.start()

    def keep(self, content: bytes, recipients: list[str]) -> None:
        """Store an accepted message and note its arrival for each recipient."""
        parsed = message_from_bytes(content, policy=policy.SMTP)
        parsed.raw_bytes = content  # type: ignore[attr-defined]
        found = re.search(r"<campaign-(\d+)\.", str(parsed.get("List-Id", "")))
        campaign = int(found.group(1)) if found else None
        now, wall = time.monotonic(), time.time()
        with self.lock:
            self.messages.append(parsed)  # type: ignore[arg-type]
            for address in recipients:
                self.arrivals.append(Arrival(address.lower(), campaign, now, wall, parsed))  # type: ignore[arg-type]

    def note_fault(self, kind: str) -> None:
        """Remember when a fault was injected."""
        with self.lock:
            self.faults.append((kind, time.monotonic()))

    def arrived(self, campaign: int | None = None) -> list[Arrival]:
        """Every arrival so far (of one campaign)."""
        with self.lock:
            return [a for a in self.arrivals if campaign is None or a.campaign == campaign]


class _FaultHandler(_SinkHandler):
    """The sink's handler, deciding at the end of DATA whether this message meets a fault."""

    sink: FaultySink

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # noqa: N802
        sink = self.sink
        with sink.lock:
            sink.data_count += 1
            number = sink.data_count
            kept = len(sink.messages)
            stall = sink.stall_after is not None and not sink.stalled and kept >= sink.stall_after
            sink.stalled |= stall
        if sink.refuse_every and number % sink.refuse_every == 0:
            sink.note_fault("421")
            return "421 4.3.0 try later"
        if sink.drop_every and number % sink.drop_every == 0:
            sink.note_fault("drop")
            server.transport.close()  # the data arrived, the answer never does
            return "421 closing"
        if stall:
            sink.note_fault("stall")
            # A task of its own: aiosmtpd cancels this handler when the client hangs up,
            # and the server must still keep the message when the stall ends.
            later = asyncio.get_running_loop().create_task(self._answer_later(envelope))
            return await asyncio.shield(later)
        sink.keep(envelope.content, list(envelope.rcpt_tos))
        return "250 OK"

    async def _answer_later(self, envelope: Any) -> str:
        await asyncio.sleep(self.sink.stall_seconds)
        self.sink.keep(envelope.content, list(envelope.rcpt_tos))
        self.sink.stall_over = time.monotonic()
        return "250 OK"


@pytest.fixture
def faulty_sink() -> Iterator[FaultySink]:
    """The SMTP server of this test; set its fault fields before the campaign is sent."""
    sink = FaultySink("127.0.0.1", free_port())
    sink.start()
    try:
        yield sink
    finally:
        sink.stop()


# --- the fleet: an installation, its campaign and its workers ------------------------------


@dataclass
class Outcome:
    """What reached the sink for one campaign under one fault."""

    fault: str
    unique: int
    duplicates: int
    lost: int
    recovery: float | None  # seconds from the fault clearing to the last delivery
    notes: dict[str, Any] = field(default_factory=dict)
    finished: bool = True  # everybody got the campaign (recovery is "none" otherwise)

    def line(self) -> str:
        """The one line each test prints."""
        recovery = "n/a" if self.recovery is None else f"{self.recovery:.1f}s"
        if not self.finished:
            recovery = "none"
        notes = "".join(f" {key}={value}" for key, value in self.notes.items())
        return (
            f"FAULT {self.fault}: unique={self.unique} duplicates={self.duplicates} "
            f"lost={self.lost} recovery={recovery}{notes}"
        )


@dataclass
class Fleet:
    """An installation on private PostgreSQL and Redis, its subscribers, one campaign, and
    the `outreach worker` processes that send it."""

    product: Product
    sink: FaultySink
    postgres: PrivatePostgres
    redis: PrivateRedis
    echo: Echo
    people: list[str] = field(default_factory=list)
    campaign: str = ""
    workers: list[subprocess.Popen[bytes]] = field(default_factory=list)
    sent_at: float = 0.0  # monotonic, when `campaigns send` returned
    _engine: sa.Engine | None = None

    @property
    def campaign_id(self) -> int:
        return int(self.campaign)

    def import_people(self, count: int) -> None:
        """One `outreach contacts import` of a generated CSV file."""
        self.people = addresses(count)
        path = self.product.root / "people.csv"
        path.write_text(
            "email,first_name,sector\n"
            + "".join(f"{a},{a.split('@')[0].title()},{GROUP}\n" for a in self.people)
        )
        self.product.run(
            "contacts",
            "import",
            str(path),
            "--source",
            "faults: asked",
            "--status",
            "subscribed",
            timeout=300,
        )

    def spawn_workers(self, count: int) -> list[subprocess.Popen[bytes]]:
        """Start `count` more `outreach worker --processes 1 --threads 4` (not waiting)."""
        started = [
            self.product.spawn("worker", "--processes", "1", "--threads", str(THREADS))
            for _ in range(count)
        ]
        self.workers += started
        return started

    def ready(self, workers: list[subprocess.Popen[bytes]]) -> None:
        """Wait until each worker said it is ready for action."""
        for worker in workers:
            self.product._wait_for_log(worker, "ready for action", seconds=60)

    def start_workers(self, count: int = 1) -> float:
        """Start `count` more workers side by side and wait until they are ready; returns
        when they were spawned (monotonic)."""
        spawned = time.monotonic()
        self.ready(self.spawn_workers(count))
        return spawned

    def smtp_connections(self, worker: subprocess.Popen[bytes]) -> int:
        """Open TCP connections from a worker's process group to the sink: its threads that
        are sending (each keeps one connection). Linux /proc."""
        sockets: set[str] = set()
        for proc in Path("/proc").iterdir():
            if not proc.name.isdigit():
                continue
            with contextlib.suppress(OSError):
                if os.getpgid(int(proc.name)) == worker.pid:
                    links = (os.readlink(fd) for fd in (proc / "fd").iterdir())
                    sockets |= {link[8:-1] for link in links if link.startswith("socket:[")}
        count = 0
        for table in ("/proc/net/tcp", "/proc/net/tcp6"):
            with contextlib.suppress(OSError):
                for line in Path(table).read_text().splitlines()[1:]:
                    row = line.split()  # sl local remote state … inode
                    remote_port = int(row[2].rsplit(":", 1)[1], 16)
                    established = row[3] == "01"
                    count += established and remote_port == self.sink.port and row[9] in sockets
        return count

    def busiest_worker(self) -> int:
        """The index of the live worker with the most connections to the sink."""
        alive = [i for i, w in enumerate(self.workers) if w.poll() is None]
        return max(alive, key=lambda i: self.smtp_connections(self.workers[i]))

    def kill_worker(self, index: int = 0) -> None:
        """SIGKILL a worker's whole process group (dramatiq's children too)."""
        worker = self.workers[index]
        with contextlib.suppress(ProcessLookupError):
            os.killpg(worker.pid, signal.SIGKILL)
        worker.wait(timeout=10)

    def send(self) -> None:
        """`outreach campaigns send ID` (no --wait: the workers send)."""
        self.product.run("campaigns", "send", self.campaign)
        self.sent_at = time.monotonic()

    def engine(self) -> sa.Engine:
        """An engine without a pool on the private database (polls survive its restarts)."""
        if self._engine is None:
            self._engine = sa.create_engine(
                self.postgres.url, poolclass=sa.pool.NullPool, connect_args={"connect_timeout": 3}
            )
        return self._engine

    def state(self) -> dict[str, Any]:
        """The campaign's status and delivery counts, read from the database ({} while it is
        unreachable)."""
        try:
            with self.engine().connect() as conn:
                status = conn.execute(
                    sa.text("SELECT status FROM campaigns WHERE id = :c"), {"c": self.campaign_id}
                ).scalar()
                rows = conn.execute(
                    sa.text(
                        "SELECT status, count(*) FROM deliveries WHERE campaign_id = :c "
                        "GROUP BY status"
                    ),
                    {"c": self.campaign_id},
                ).all()
        except sa.exc.DBAPIError:  # down, starting up, shutting down
            return {}
        return {"status": str(status), **{str(s): int(n) for s, n in rows}}

    def order(self) -> list[tuple[int, str]]:
        """(contact id, address) of each delivery, in delivery id order (the sending order
        of one batch)."""
        with self.engine().connect() as conn:
            rows = conn.execute(
                sa.text(
                    "SELECT c.id, c.email FROM deliveries d JOIN contacts c ON c.id = d.contact_id"
                    " WHERE d.campaign_id = :c ORDER BY d.id"
                ),
                {"c": self.campaign_id},
            ).all()
        return [(int(i), str(e).lower()) for i, e in rows]

    def received(self) -> Counter[str]:
        """Messages of this campaign per address."""
        return Counter(a.address for a in self.sink.arrived(self.campaign_id))

    def wait_for_deliveries(self, count: int, seconds: float = 120) -> None:
        """Wait until `count` messages of the campaign arrived (the moment to strike)."""
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            if len(self.sink.arrived(self.campaign_id)) >= count:
                return
            time.sleep(0.05)
        pytest.fail(
            f"only {len(self.sink.arrived(self.campaign_id))} of {count} messages "
            f"arrived in {seconds} s:\n{self.explain()}"
        )

    def wait_until_sent(self, seconds: float, settle: float = 1.5) -> bool:
        """Poll the database until the campaign is `sent` (False after `seconds`, or once it
        paused), then wait `settle` s more for stragglers; on a timeout print why."""
        deadline = time.monotonic() + seconds
        state: dict[str, Any] = {}
        while time.monotonic() < deadline:
            state = self.state() or state
            if state.get("status") in ("sent", "paused", "cancelled"):
                break
            time.sleep(0.5)
        time.sleep(settle)
        if state.get("status") == "sent":
            return True
        self.echo(f"campaign not sent after {seconds:.0f} s: {state}\n{self.explain()}")
        return False

    def outcome(
        self, fault: str, cleared: float | None, optional: Collection[str] = (), **notes: Any
    ) -> Outcome:
        """Count what reached the sink: unique, duplicates, lost (nobody of `optional` is
        lost without mail); recovery from `cleared` (monotonic) to the last delivery."""
        got = self.received()
        wanted = set(self.people)
        unique = len(wanted & set(got))
        lost = len(wanted - set(optional) - set(got))
        arrivals = self.sink.arrived(self.campaign_id)
        recovery = None
        if cleared is not None and arrivals:
            recovery = max(0.0, max(a.monotonic for a in arrivals) - cleared)
        strangers = set(got) - wanted
        if strangers:
            notes["strangers"] = len(strangers)
        if arrivals and self.sent_at:
            notes["took"] = f"{max(a.monotonic for a in arrivals) - self.sent_at:.1f}s"
        status = self.state().get("status", "?")
        return Outcome(
            fault,
            unique=unique,
            duplicates=sum(n - 1 for a, n in got.items() if a in wanted and n > 1),
            lost=lost,
            recovery=recovery,
            notes={"status": status, **notes},
            finished=lost == 0,
        )

    def explain(self) -> str:
        """Progress, the sink's counts and the tail of every process's log."""
        tails = "\n".join(
            f"--- {p.name} (end)\n{p.read_text(errors='replace')[-2500:]}"
            for p in sorted(self.product.root.glob("*.log"))
        )
        return (
            f"campaign {self.campaign}: {self.state() or 'database unreachable'}; sink: "
            f"{len(self.sink.arrived(self.campaign_id))} arrivals, "
            f"{len(self.sink.faults)} faults injected, {self.sink.data_count} DATA\n{tails}"
        )

    def close(self) -> None:
        """Kill every process started (nothing of them may outlive the test)."""
        self.product.stop(signal.SIGKILL)
        if self._engine is not None:
            self._engine.dispose()


@pytest.fixture
def echo(request: pytest.FixtureRequest) -> Echo:
    """Print past pytest's capture (so CI logs show it), and append to the file named by
    OUTREACH_FAULT_REPORT if set."""
    capture = request.config.pluginmanager.getplugin("capturemanager")

    def say(text: str) -> None:
        with capture.global_and_fixture_disabled() if capture else contextlib.nullcontext():
            print(text, flush=True)
        report = os.environ.get("OUTREACH_FAULT_REPORT")
        if report and text.startswith("FAULT "):
            with open(report, "a", encoding="utf-8") as handle:
                handle.write(text + "\n")

    return say


@pytest.fixture
def fleet(
    tmp_path: Path,
    private_postgres: PrivatePostgres,
    private_redis: PrivateRedis,
    faulty_sink: FaultySink,
    echo: Echo,
) -> Iterator[Callable[..., Fleet]]:
    """Make the fleet of a test: `fleet(people, workers=2, serve=False, **OUTREACH_env)`
    migrates the private database, imports `people` subscribers, creates the campaign and
    starts the workers (with `serve`: `outreach serve` and its 2-thread worker first);
    the test then calls `.send()`. At the end every process is killed."""
    made: list[Fleet] = []

    def make(people: int, workers: int = 2, serve: bool = False, **env: str) -> Fleet:
        product = Product(tmp_path, {}, "postgresql", faulty_sink)
        product.env = {
            "PATH": f"{Path(OUTREACH).parent}:{os.environ.get('PATH', '')}",
            "HOME": str(tmp_path),
            "LANG": "C.UTF-8",
            "OUTREACH_DATABASE_URL": private_postgres.url,
            "OUTREACH_BROKER_URL": private_redis.url,
            "OUTREACH_SMTP_URL": f"{faulty_sink.url}?timeout={SMTP_TIMEOUT}",
            "OUTREACH_SECRET_KEY": SECRET,
            "OUTREACH_BASE_URL": product.base_url,
            "OUTREACH_MAIL_FROM": "Outreach <news@example.org>",
            "OUTREACH_RETRY_BASE_MS": "200",
            "OUTREACH_BATCH_SIZE": "100",  # batches spread over both workers' threads
            "OUTREACH_ALLOW_INSECURE_LINKS": "true",  # links to http://127.0.0.1:PORT
            **env,
        }
        if os.environ.get("PYTHONPATH"):  # the same outreach as this process imports
            product.env["PYTHONPATH"] = os.environ["PYTHONPATH"]
        made.append(fleet := Fleet(product, faulty_sink, private_postgres, private_redis, echo))
        product.run("db", "upgrade")
        product.name_the_controller()
        fleet.import_people(people)
        starting = fleet.spawn_workers(workers)  # they boot while the campaign is made
        fleet.campaign = product.campaign(groups=GROUP)
        fleet.ready(starting)
        if serve:
            product.start()
        return fleet

    try:
        yield make
    finally:
        for each in made:
            each.close()
