"""Send benchmark: the whole engine against a bare sending loop, same sink, same run.

Engine: N contacts in 4 sector groups, a ~10 KB MJML variant per group, personalization,
send-time consent checks, the delivery ledger, dramatiq on Redis with 2 `outreach worker`
processes, into a local SMTP sink in its own process. The dispatcher is the real
`outreach campaigns send` command. Raw ceiling (ENGINEERING.md), measured in the same run:
2 processes, each a bare loop — Jinja render of the same HTML, hand-assembled MIME with a
quoted-printable body, `sendmail` over one persistent smtplib connection.

    python bench/send.py [--sizes 100000,1000000] [--threads 4] [--pg URL]

At sizes above --full-limit (default 100,000) the campaign is sent for --sample-seconds
only: enough to read each process's peak RSS, which is what the large size is for.
"""

from __future__ import annotations

import argparse
import binascii
import csv
import os
import signal
import smtplib
import socket
import subprocess
import sys
import tempfile
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


def start_sink() -> tuple[subprocess.Popen[str], int]:
    """Postfix's smtp-sink when installed (a Python sink measures itself: ENGINEERING.md),
    else the aiosmtpd one of bench/smtp_sink.py."""
    port = free_port()
    if SMTP_SINK.exists():
        user = ["-u", "nobody"] if os.geteuid() == 0 else []
        sink = subprocess.Popen(
            [str(SMTP_SINK), *user, f"127.0.0.1:{port}", "1000"],
            stdout=subprocess.DEVNULL,
            text=True,
        )
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            with socket.socket() as probe:
                if probe.connect_ex(("127.0.0.1", port)) == 0:
                    print("sink: Postfix smtp-sink", flush=True)
                    return sink, port
            time.sleep(0.05)
        raise SystemExit("smtp-sink did not listen")
    sink = subprocess.Popen(
        [sys.executable, str(Path(__file__).parent / "smtp_sink.py"), str(port)],
        stdout=subprocess.PIPE,
        text=True,
    )
    assert sink.stdout is not None and sink.stdout.readline().strip() == "ready"
    print("sink: aiosmtpd (install Debian's postfix for smtp-sink)", flush=True)
    return sink, port


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


def engine_run(
    env: dict[str, str], db_url: str, size: int, threads: int, sample: float, full_limit: int
) -> dict[str, object]:
    workers = [
        subprocess.Popen(
            [
                sys.executable,
                "-m",
                "outreach.cli",
                "worker",
                "--processes",
                "1",
                "--threads",
                str(threads),
            ],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )
        for _ in range(2)
    ]
    time.sleep(3)  # workers boot
    database = Database(
        Settings(
            database_url=db_url,
            secret_key=SECRET,
            instance_path=Path(env["OUTREACH_INSTANCE_PATH"]),
        ).resolved()
    )
    out, dispatch_seconds, dispatch_rss = run_measured(env, "campaigns", "send", "1")
    started = time.perf_counter() - dispatch_seconds
    full = size <= full_limit
    deadline = time.perf_counter() + (3600 if full else sample)
    while time.perf_counter() < deadline:
        done = sent_count(database)
        if done >= size:
            break
        time.sleep(0.25)
    elapsed = time.perf_counter() - started
    done = sent_count(database)
    worker_rss = [peak_rss(c) for w in workers for c in children(w.pid)]
    for worker in workers:
        os.killpg(worker.pid, signal.SIGTERM)
        worker.wait(timeout=60)
    return {
        "sent": done,
        "seconds": elapsed,
        "rate": done / elapsed,
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


def ceiling(port: int, count: int) -> float:
    start = time.perf_counter()
    procs = [
        subprocess.Popen([sys.executable, __file__, "--ceiling-worker", str(port), str(count // 2)])
        for _ in range(2)
    ]
    for proc in procs:
        proc.wait()
    return count / (time.perf_counter() - start)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="100000,1000000")
    parser.add_argument("--threads", type=int, default=4)
    parser.add_argument("--pg", default=os.environ.get("OUTREACH_TEST_DATABASE_URL", DEFAULT_PG))
    parser.add_argument("--ceiling-messages", type=int, default=20_000)
    parser.add_argument("--full-limit", type=int, default=100_000)
    parser.add_argument("--sample-seconds", type=float, default=60)
    parser.add_argument("--embedded", type=int, default=10_000)
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
    sink, port = start_sink()
    try:
        raw = ceiling(port, args.ceiling_messages)
        print(f"raw ceiling (2 bare processes, same sink): {raw:,.0f} msg/s", flush=True)
        for size in (int(s) for s in args.sizes.split(",")):
            with tempfile.TemporaryDirectory() as tmp:
                workdir = Path(tmp)
                db_url = fresh_database(kind, workdir, args.pg)
                env = env_for(db_url, port, workdir, REDIS)
                redis_broker = build_broker(REDIS)
                redis_broker.flush_all()
                seed(env, workdir, size)
                result = engine_run(
                    env, db_url, size, args.threads, args.sample_seconds, args.full_limit
                )
                rss = ", ".join(f"{r:.0f}" for r in result["worker_rss"])  # type: ignore[attr-defined]
                scope = "all" if result["full"] else f"{args.sample_seconds:.0f} s sample"
                print(
                    f"{kind} {size:>9,}: engine {result['rate']:,.0f} msg/s ({scope}, "
                    f"{result['sent']:,} sent in {result['seconds']:.1f} s) = "
                    f"{result['rate'] / raw:.2f} x ceiling (target >= 0.6); dispatcher "
                    f"{result['dispatch_seconds']:.1f} s, peak RSS {result['dispatch_rss']:.0f} "
                    f"MB; worker peak RSS {rss} MB",
                    flush=True,
                )
                redis_broker.flush_all()
        if args.embedded:
            with tempfile.TemporaryDirectory() as tmp:
                workdir = Path(tmp)
                db_url = f"sqlite:///{workdir / 'embedded.db'}"
                env = env_for(db_url, port, workdir, "memory://")
                run_measured(env, "db", "upgrade")
                seed(env, workdir, args.embedded)
                _, seconds, rss = run_measured(env, "campaigns", "send", "1", "--wait")
                print(
                    f"embedded (SQLite, memory://, one process) {args.embedded:,}: "
                    f"{args.embedded / seconds:,.0f} msg/s including start-up; peak RSS "
                    f"{rss:.0f} MB",
                    flush=True,
                )
    finally:
        sink.send_signal(signal.SIGTERM)
        sink.wait(timeout=30)


if __name__ == "__main__":
    main()
