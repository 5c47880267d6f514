"""Send benchmark: the whole engine against a bare sending loop, same sink, same run.

Engine: N contacts in 4 sector groups, a ~10 KB MJML variant per group, personalization,
send-time consent checks, the delivery ledger, dramatiq on Redis with 2 `outreach worker`
processes (started, then waited for until each says it is ready), into a local SMTP sink
in its own process. The dispatcher is the real `outreach campaigns send` command. Raw
ceiling (ENGINEERING.md), measured in the same run: 2 processes, each a bare loop — Jinja
render of the same HTML, hand-assembled MIME with a quoted-printable body, `sendmail` over
one persistent smtplib connection. The embedded mode (SQLite, memory://, one process) is
printed beside the ceiling of one such process.

Deliveries are counted at the sink: Postfix's smtp-sink (`-c` counters) by default when
installed (Debian package postfix), which is not the bottleneck; `--sink aiosmtpd` for
the Python sink of bench/smtp_sink.py, which is (it measures itself).

    python bench/send.py [--sizes 100000,1000000] [--threads 4] [--pg URL]
                         [--sink smtp-sink|aiosmtpd] [--embedded 20000]
                         [--rtt 5,20] [--rtt-contacts 5000]

Over a network (--rtt, default 5 and 20 ms): a delaying proxy on loopback stands for the
link (bench/_delay_proxy.py; no netem here), and the engine is printed beside the raw
loop on one connection through the same link.

At sizes above --full-limit (default 100,000) the campaign is sent for --sample-seconds
only, counted from the moment the dispatcher (the audience freeze and the queueing) has
returned: enough for the rate and each process's peak RSS, which is what the large size
is for.
"""

from __future__ import annotations

import argparse
import binascii
import csv
import os
import re
import signal
import smtplib
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import sqlalchemy as sa
from jinja2 import Environment

sys.path.insert(0, str(Path(__file__).resolve().parent))
from import_contacts import DEFAULT_PG, fresh_database  # noqa: E402
from render import newsletter  # noqa: E402

from outreach.broker import build_broker  # noqa: E402
from outreach.config import Settings  # noqa: E402
from outreach.db import Database, make_engine  # noqa: E402
from outreach.delivery.models import Delivery  # noqa: E402

SECTORS = ("Consultants", "Managers", "Thinkers", "Journalists")
SECRET = "bench-secret-" * 4
REDIS = os.environ.get("OUTREACH_TEST_BROKER_URL", "redis://127.0.0.1:6379/0")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


SMTP_SINK = Path("/usr/sbin/smtp-sink")  # Postfix's C sink (Debian postfix): not the bottleneck


class Sink:
    """The SMTP server every sender of the run talks to, counting what it took.

    `smtp-sink`: Postfix's, in C (`-c` prints `sess=… quit=… mesg=N` counters as messages
    end); `aiosmtpd`: bench/smtp_sink.py, which measures itself more than the sender."""

    def __init__(self, kind: str) -> None:
        self.kind = kind
        self.port = free_port()
        self.messages = self.marked = 0
        self.first_at: float | None = None
        self.last_at: float | None = None
        if kind == "smtp-sink":
            user = ["-u", "nobody"] if os.geteuid() == 0 else []  # it will not run as root
            command = [str(SMTP_SINK), *user, "-c", f"127.0.0.1:{self.port}", "1000"]
        else:
            command = [sys.executable, str(Path(__file__).parent / "smtp_sink.py"), str(self.port)]
        self.process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
        self.reader = threading.Thread(target=self._count, daemon=True)
        self.reader.start()
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            with socket.socket() as probe:
                if probe.connect_ex(("127.0.0.1", self.port)) == 0:
                    return
            time.sleep(0.05)
        raise SystemExit(f"{kind} did not listen")

    def _count(self) -> None:
        assert self.process.stdout is not None
        pending = b""
        while chunk := self.process.stdout.read1(4096):  # type: ignore[attr-defined]
            pending += chunk
            *done, pending = re.split(rb"[\r\n]", pending)
            for line in done:
                if found := re.search(rb"mesg=(\d+)", line):
                    now, self.messages = time.perf_counter(), int(found.group(1))
                    if self.first_at is None and self.messages > self.marked:
                        self.first_at = now
                    self.last_at = now

    def mark(self) -> None:
        """Start timing: first_at and last_at become those of the messages after now."""
        self.marked, self.first_at, self.last_at = self.messages, None, None

    def wait_for(self, count: int, seconds: float) -> bool:
        """Until the sink has taken `count` messages in all (False: not in time)."""
        deadline = time.perf_counter() + seconds
        while self.messages < count and time.perf_counter() < deadline:
            time.sleep(0.02)
        return self.messages >= count

    def stop(self) -> None:
        self.process.send_signal(signal.SIGTERM)
        self.process.wait(timeout=30)


def env_for(db_url: str, port: int, workdir: Path, broker: str) -> dict[str, str]:
    return {
        **os.environ,
        "OUTREACH_DATABASE_URL": db_url,
        "OUTREACH_BROKER_URL": broker,
        "OUTREACH_SMTP_URL": f"smtp://127.0.0.1:{port}",
        "OUTREACH_SECRET_KEY": SECRET,
        "OUTREACH_INSTANCE_PATH": str(workdir),
        "OUTREACH_BASE_URL": "https://news.example.org",
    }


def run_measured(env: dict[str, str], *args: str) -> tuple[str, float, float]:
    """Like cli(), but reads the child's own peak RSS with wait4."""
    start = time.perf_counter()
    proc = subprocess.Popen(
        [sys.executable, "-m", "outreach.cli", *args],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    assert proc.stdout is not None
    out = proc.stdout.read()
    _, status, usage = os.wait4(proc.pid, 0)
    if status:
        raise SystemExit(f"outreach {' '.join(args)} failed ({status})")
    return out, time.perf_counter() - start, usage.ru_maxrss / 1024


def seed(env: dict[str, str], workdir: Path, size: int) -> None:
    path = workdir / f"contacts-{size}.csv"
    with path.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["email", "first_name", "last_name", "sector", "organization", "city"])
        for i in range(size):
            writer.writerow(
                [
                    f"user{i}@example.org",
                    f"First{i % 997}",
                    "Last",
                    SECTORS[i % 4],
                    f"Org {i % 5000}",
                    f"City {i % 300}",
                ]
            )
    run_measured(
        env,
        "contacts",
        "import",
        str(path),
        "--source",
        "benchmark",
        "--status",
        "subscribed",
        "--json",
    )
    path.unlink()
    run_measured(  # who sends: the pre-send checks refuse the placeholder controller
        env,
        "settings",
        "set",
        "controller_name",
        "Bench Publisher Ltd",
        "postal_address",
        "1 Bench Street, Madrid",
        "contact_email",
        "privacy@news.example.org",
    )
    mjml = workdir / "newsletter.mjml"
    mjml.write_text(newsletter())
    out, _, _ = run_measured(
        env,
        "campaigns",
        "create",
        "Bench",
        "--from",
        "Bench <news@example.org>",
        "--groups",
        ",".join(SECTORS),
    )
    campaign = out.strip()
    for sector in SECTORS:
        run_measured(
            env,
            "campaigns",
            "variant",
            campaign,
            "--group",
            sector,
            "--subject",
            f"{sector}: news for {{{{ contact.first_name }}}}",
            "--mjml",
            str(mjml),
        )


def children(pid: int) -> list[int]:
    found = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                stat = Path(f"/proc/{entry}/stat").read_text()
            except OSError:
                continue
            if int(stat.rsplit(")", 1)[1].split()[1]) == pid:
                found.append(int(entry))
    return found


def peak_rss(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return 0.0


def sent_count(database: Database) -> int:
    with database.reader() as session:
        return (
            session.scalar(
                sa.select(sa.func.count()).select_from(Delivery).where(Delivery.status == "sent")
            )
            or 0
        )


def start_workers(env: dict[str, str], threads: int, count: int = 2) -> list[subprocess.Popen]:
    """`outreach worker` processes, returned once each has said it is ready for action."""
    workers = [
        subprocess.Popen(
            [sys.executable, "-m", "outreach.cli", "worker", "--processes", "1"]
            + ["--threads", str(threads)],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            start_new_session=True,
        )
        for _ in range(count)
    ]
    ready = [threading.Event() for _ in workers]

    def watch(worker: subprocess.Popen, event: threading.Event) -> None:
        assert worker.stderr is not None
        for line in worker.stderr:  # read to the end: a full pipe would stall the worker
            if b"ready for action" in line:
                event.set()

    for worker, event in zip(workers, ready, strict=True):
        threading.Thread(target=watch, args=(worker, event), daemon=True).start()
    for worker, event in zip(workers, ready, strict=True):
        if not event.wait(120):
            raise SystemExit(f"outreach worker {worker.pid} never got ready")
    return workers


def engine_run(
    env: dict[str, str],
    db_url: str,
    size: int,
    threads: int,
    sample: float,
    full_limit: int,
    sink: Sink,
) -> dict[str, object]:
    workers = start_workers(env, threads)
    try:
        return _measure(env, db_url, size, sample, full_limit, sink, workers)
    finally:  # a failed run must not leave workers taking the next run's messages
        for worker in workers:
            if worker.poll() is None:
                os.killpg(worker.pid, signal.SIGTERM)
                worker.wait(timeout=60)


def _measure(
    env: dict[str, str],
    db_url: str,
    size: int,
    sample: float,
    full_limit: int,
    sink: Sink,
    workers: list[subprocess.Popen],
) -> dict[str, object]:
    database = Database(
        Settings(
            database_url=db_url,
            secret_key=SECRET,
            instance_path=Path(env["OUTREACH_INSTANCE_PATH"]),
        ).resolved()
    )
    before = sink.messages
    sink.mark()
    started = time.perf_counter()
    out, dispatch_seconds, dispatch_rss = run_measured(env, "campaigns", "send", "1")
    full = size <= full_limit
    if full:
        sink.wait_for(before + size, 3600)
        window = 0.0
    else:  # the sending rate: the sample starts when the audience is frozen and queued
        window_from, window_at = sink.messages, time.perf_counter()
        time.sleep(sample)
        window = (sink.messages - window_from) / (time.perf_counter() - window_at)
    elapsed = time.perf_counter() - started
    delivered = sink.messages - before
    worker_rss = [peak_rss(c) for w in workers for c in children(w.pid)]
    return {
        "sent": delivered,
        "recorded": sent_count(database),
        "seconds": elapsed,
        "rate": delivered / elapsed if full else window,
        "full": full,
        "dispatch_seconds": dispatch_seconds,
        "dispatch_rss": dispatch_rss,
        "worker_rss": worker_rss,
        "dispatch_out": out.strip(),
    }


def ceiling_worker(port: int, count: int) -> None:
    """The bare loop: render, hand-made MIME, sendmail on one connection."""
    from outreach.rendering.pipeline import compile_variant

    html_source = compile_variant("S", "", newsletter(), None).html_source
    template = Environment(autoescape=True).from_string(html_source)
    smtp = smtplib.SMTP("127.0.0.1", port, timeout=30)
    for i in range(count):
        html = template.render(
            contact={
                "first_name": f"First{i}",
                "organization": "Org",
                "attributes": {"city": "Madrid"},
            },
            group={"name": "Thinkers"},
            campaign={"name": "Bench"},
            unsubscribe_url="https://news.example.org/u/x",
            preferences_url="https://news.example.org/p/x",
            preheader="",
        )
        body = binascii.b2a_qp(html.encode(), istext=True).replace(b"\n", b"\r\n")
        message = (
            f"From: news@example.org\r\nTo: user{i}@example.org\r\n"
            f"Subject: News for First{i}\r\nMIME-Version: 1.0\r\n"
            "Content-Type: text/html; charset=utf-8\r\n"
            "Content-Transfer-Encoding: quoted-printable\r\n\r\n"
        ).encode() + body
        smtp.sendmail("news@example.org", [f"user{i}@example.org"], message)
    smtp.quit()


def ceiling(sink: Sink, count: int, processes: int = 2, port: int | None = None) -> float:
    """Messages a second of `processes` bare loops (to `port`: the sink's, or a proxy in
    front of it), counted at the sink."""
    before = sink.messages
    start = time.perf_counter()
    target = str(port or sink.port)
    procs = [
        subprocess.Popen(
            [sys.executable, __file__, "--ceiling-worker", target, str(count // processes)]
        )
        for _ in range(processes)
    ]
    for proc in procs:
        proc.wait()
    sink.wait_for(before + count // processes * processes, 60)
    return (sink.messages - before) / (time.perf_counter() - start)


def scale_out(
    args: argparse.Namespace, kind: str, sink: Sink, smtp_port: int, size: int, *, full: bool
) -> dict[str, object]:
    """A fresh database of `size` contacts sent by 2 `outreach worker` processes on Redis
    to `smtp_port` (the sink, or a link in front of it): all of it, or a sample."""
    with tempfile.TemporaryDirectory() as tmp:
        workdir = Path(tmp)
        db_url = fresh_database(kind, workdir, args.pg)
        env = env_for(db_url, smtp_port, workdir, REDIS)
        redis_broker = build_broker(REDIS)
        redis_broker.flush_all()
        seed(env, workdir, size)
        try:
            return engine_run(
                env, db_url, size, args.threads, args.sample_seconds, size if full else 0, sink
            )
        finally:
            redis_broker.flush_all()


class DelayedLink:
    """bench/_delay_proxy.py in front of the sink: every byte held for half of `rtt_ms`
    each way, as a network between the sender and its relay would."""

    def __init__(self, sink: Sink, rtt_ms: float) -> None:
        self.port = free_port()
        self.process = subprocess.Popen(
            [sys.executable, str(Path(__file__).parent / "_delay_proxy.py")]
            + [str(self.port), str(sink.port), str(rtt_ms)],
            stdout=subprocess.PIPE,
            text=True,
        )
        assert self.process.stdout is not None and self.process.stdout.readline() == "ready\n"

    def stop(self) -> None:
        self.process.send_signal(signal.SIGTERM)
        self.process.wait(timeout=30)


def over_a_network(args: argparse.Namespace, kind: str, sink: Sink, rtt_ms: float) -> None:
    """The raw single-connection loop and the engine, both through a delayed link."""
    link = DelayedLink(sink, rtt_ms)
    try:
        # about 10 s of the raw loop (four round trips a message)
        raw = ceiling(sink, max(50, int(2500 / rtt_ms)), processes=1, port=link.port)
        result = scale_out(args, kind, sink, link.port, args.rtt_contacts, full=True)
        print(
            f"over a {rtt_ms:g} ms round trip: raw single-connection loop {raw:,.1f} msg/s; "
            f"engine (2 workers x {args.threads} threads, {args.rtt_contacts:,}) "
            f"{result['rate']:,.0f} msg/s = {result['rate'] / raw:.1f} x (target >= 3)",
            flush=True,
        )
    finally:
        link.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="100000,1000000")
    parser.add_argument("--threads", type=int, default=4)
    parser.add_argument("--pg", default=os.environ.get("OUTREACH_TEST_DATABASE_URL", DEFAULT_PG))
    parser.add_argument("--ceiling-messages", type=int, default=20_000)
    parser.add_argument("--full-limit", type=int, default=100_000)
    parser.add_argument("--sample-seconds", type=float, default=60)
    parser.add_argument("--embedded", type=int, default=10_000)
    parser.add_argument("--rtt", default="5,20", help="round trips (ms) to measure over")
    parser.add_argument("--rtt-contacts", type=int, default=5_000)
    parser.add_argument(
        "--sink",
        choices=("smtp-sink", "aiosmtpd"),
        help="the SMTP sink (default: Postfix's smtp-sink when installed)",
    )
    parser.add_argument("--ceiling-worker", nargs=2, type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.ceiling_worker:
        ceiling_worker(*args.ceiling_worker)
        return
    try:
        make_engine(args.pg).connect().close()
        kind = "postgresql"
    except sa.exc.OperationalError:
        kind = "sqlite"
    build_broker(REDIS).client.ping()  # type: ignore[attr-defined]
    kind_of_sink = args.sink or ("smtp-sink" if SMTP_SINK.exists() else "aiosmtpd")
    if kind_of_sink == "smtp-sink" and not SMTP_SINK.exists():
        raise SystemExit(f"{SMTP_SINK} is not installed (Debian package postfix)")
    sink = Sink(kind_of_sink)
    print(
        f"sink: {kind_of_sink}"
        + (
            " (Postfix's, in C)" if kind_of_sink == "smtp-sink" else " (Python: it measures itself)"
        ),
        flush=True,
    )
    try:
        raw = ceiling(sink, args.ceiling_messages)
        print(f"raw ceiling (2 bare processes, same sink): {raw:,.0f} msg/s", flush=True)
        for size in (int(s) for s in args.sizes.split(",") if s):
            result = scale_out(args, kind, sink, sink.port, size, full=size <= args.full_limit)
            rss = ", ".join(f"{r:.0f}" for r in result["worker_rss"])  # type: ignore[attr-defined]
            frozen = re.search(r"audience frozen in ([\d.]+) s", str(result["dispatch_out"]))
            freeze = (
                f"audience frozen in {frozen.group(1)} s (target < 30 at 1M), " if frozen else ""
            )
            scope = (
                "all"
                if result["full"]
                else f"{args.sample_seconds:.0f} s sample once the dispatcher returned; in all"
            )
            print(
                f"{kind} + Redis, 2 workers x {args.threads} threads, {size:>9,}: engine "
                f"{result['rate']:,.0f} msg/s ({scope}: {result['sent']:,} taken by the sink, "
                f"{result['recorded']:,} recorded sent, in {result['seconds']:.1f} s) = "
                f"{result['rate'] / raw:.2f} x ceiling (target >= 0.6); dispatcher "
                f"{result['dispatch_seconds']:.1f} s ({freeze}the whole `campaigns send` "
                f"command), peak RSS {result['dispatch_rss']:.0f} "
                f"MB; worker peak RSS {rss} MB",
                flush=True,
            )
        if args.embedded:
            one = ceiling(sink, min(args.ceiling_messages, args.embedded), processes=1)
            print(f"raw ceiling (1 bare process, same sink): {one:,.0f} msg/s", flush=True)
            with tempfile.TemporaryDirectory() as tmp:
                workdir = Path(tmp)
                db_url = f"sqlite:///{workdir / 'embedded.db'}"
                env = env_for(db_url, sink.port, workdir, "memory://")
                run_measured(env, "db", "upgrade")
                seed(env, workdir, args.embedded)
                sink.mark()
                _, seconds, rss = run_measured(env, "campaigns", "send", "1", "--wait")
                span = (sink.last_at or 0) - (sink.first_at or 0)
                rate = (sink.messages - sink.marked) / span if span > 0 else 0.0
                print(
                    f"embedded (SQLite, memory://, one process) {args.embedded:,}: "
                    f"{rate:,.0f} msg/s from its first message to its last = {rate / one:.2f} x "
                    f"the one-process ceiling (target >= 0.5); {args.embedded / seconds:,.0f} "
                    f"msg/s counting start-up and the audience freeze; peak RSS {rss:.0f} MB",
                    flush=True,
                )
        for rtt in (float(r) for r in args.rtt.split(",") if r):
            over_a_network(args, kind, sink, rtt)
    finally:
        sink.stop()


if __name__ == "__main__":
    main()
