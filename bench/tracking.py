"""Tracking benchmark: open pixel and click redirect under gunicorn, and the per-group report.

1. Endpoints. A fresh database (PostgreSQL when reachable, else SQLite) holds one sent
   campaign whose --deliveries recipients allowed open and click tracking. `gunicorn -w 2
   --threads 4 wsgi:app` serves it; a load generator in its own process (bench/_load.py:
   2 processes × 4 threads, one http.client keep-alive connection each, a browser
   User-Agent) sends --requests requests, half pixels and half clicks, each for a
   distinct delivery, first in a closed loop (as fast as answers come: requests/s), then
   paced at each --rate requests/s (600: what bench/send.py measures here, rounded up;
   2,000: ENGINEERING.md's send-rate target; the endpoints must keep up with: latency at
   that load, measured from each request's scheduled time). Gunicorn is then stopped with
   SIGTERM so the hit recorder flushes, and the TrackingHit rows are compared with the
   requests answered (gunicorn SIGKILLs workers still busy after its graceful timeout).
   Baseline, same run, same gunicorn settings, same load: a bare WSGI app returning the
   same 1×1 GIF (bench/_pixel_app.py: no token check, no recording).
2. Report. A campaign with --report-size deliveries in 4 groups with realistic
   status/open/click distributions (and one TrackingHit row per counted open and click)
   is bulk-built with INSERT … SELECT on SQLite and PostgreSQL, its tallies recounted from
   that ledger (timed: what the end of sending pays once); `campaign_stats` is timed
   (median of 5 after a warm-up) beside a plain `SELECT count(*) FROM deliveries WHERE
   campaign_id = ?`. The bulk rows skip foreign-key checks: their contact ids point at no
   contact (the report never reads contacts). PostgreSQL gets VACUUM ANALYZE, as
   autovacuum would, and a CHECKPOINT; over the target, the plans are printed (EXPLAIN
   ANALYZE; EXPLAIN QUERY PLAN on SQLite).

    python bench/tracking.py [--deliveries 40000] [--requests 40000] [--rate 600,2000]
                             [--report-size 1000000] [--skip-report] [--pg URL]
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
sys.path.insert(0, str(BENCH))
from import_contacts import DEFAULT_PG, fresh_database  # noqa: E402

from outreach.broker import build_broker  # noqa: E402
from outreach.campaigns.models import (  # noqa: E402
    Campaign,
    CampaignGroup,
    CampaignStatus,
    Variant,
)
from outreach.config import Settings  # noqa: E402
from outreach.consent.models import ConsentAction, ConsentEvent, Purpose  # noqa: E402
from outreach.contacts.identity import email_hmac  # noqa: E402
from outreach.contacts.models import Contact, ContactStatus  # noqa: E402
from outreach.db import Database, make_engine  # noqa: E402
from outreach.db_bulk import insert_returning_ids, insert_rows, table_of  # noqa: E402
from outreach.delivery import service as delivery_service  # noqa: E402
from outreach.delivery.models import Delivery, DeliveryStatus  # noqa: E402
from outreach.groups.models import Group, GroupKind  # noqa: E402
from outreach.reporting.stats import campaign_stats, hourly  # noqa: E402
from outreach.reporting.tallies import recount  # noqa: E402
from outreach.tracking.links import click_url, open_url  # noqa: E402
from outreach.tracking.models import TrackingHit  # noqa: E402
from outreach.tracking.recorder import QUEUE  # noqa: E402

SECRET = "bench-secret-" * 4
SECTORS = ("Consultants", "Managers", "Thinkers", "Journalists")
GUNICORN = ["-w", "2", "--threads", "4"]
GRACEFUL_TIMEOUT = 30  # gunicorn's default: then the arbiter SIGKILLs its workers, silently
SEND_RATE = 2000  # ENGINEERING.md: the delivery benchmark's target, ≈ 2,000+ msg/s
DELIVERY_RATE = 600  # what bench/send.py measured here (551-560 msg/s), rounded up
TARGET_P99_MS = 50.0
TARGET_REPORT_MS = 200.0
TARGET_PROGRESS_MS = 50.0
IN_FLIGHT = 8  # batches of 500 in flight while progress is read (2 workers x 4 threads)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def database_for(url: str, workdir: Path) -> Database:
    return Database(Settings(database_url=url, secret_key=SECRET, instance_path=workdir).resolved())


# --- seeding -------------------------------------------------------------------------


def make_campaign(database: Database, name: str) -> tuple[int, list[tuple[int, int, str]]]:
    """A sent campaign targeting the 4 sector groups; (campaign id, [(group, variant, name)])."""
    now = datetime.now(UTC)
    with database.session() as session:
        groups = [Group(name=s, name_key=s.lower(), kind=GroupKind.SECTOR) for s in SECTORS]
        campaign = Campaign(
            name=name,
            from_name="Bench",
            from_email="news@example.org",
            status=CampaignStatus.SENT,
            started_at=now - timedelta(days=4),
            finished_at=now - timedelta(days=4),
        )
        session.add_all([*groups, campaign])
        session.flush()
        variants = [
            Variant(campaign_id=campaign.id, group_id=g.id, subject=f"{g.name} news", mjml="")
            for g in groups
        ]
        session.add_all(variants)
        session.add_all(
            CampaignGroup(campaign_id=campaign.id, group_id=g.id, position=i)
            for i, g in enumerate(groups)
        )
        session.flush()
        return campaign.id, [(g.id, v.id, g.name) for g, v in zip(groups, variants, strict=True)]


def seed_tracking(database: Database, count: int) -> list[int]:
    """`count` subscribed contacts with confirmed newsletter, open and click tracking
    consents, each with a delivery sent a day ago; returns the delivery ids."""
    campaign_id, targets = make_campaign(database, "Tracking bench")
    now = datetime.now(UTC)
    sent_at = now - timedelta(days=1)
    with database.session() as session:
        contact_ids = insert_returning_ids(
            session,
            table_of(Contact),
            [
                {
                    "email": f"reader{i}@example.org",
                    "email_key": f"reader{i}@example.org",
                    "email_hmac": email_hmac(SECRET, f"reader{i}@example.org"),
                    "first_name": f"First{i % 997}",
                    "last_name": "Reader",
                    "sector": SECTORS[i % 4],
                    "organization": f"Org {i % 5000}",
                    "language": "en",
                    "attributes": {},
                    "status": ContactStatus.SUBSCRIBED,
                    "source": "benchmark",
                    "created_at": now - timedelta(days=30),
                    "updated_at": now - timedelta(days=30),
                }
                for i in range(count)
            ],
        )
        insert_rows(
            session,
            table_of(ConsentEvent),
            [
                {
                    "contact_id": contact,
                    "purpose": purpose,
                    "action": action,
                    "occurred_at": now - timedelta(days=30),
                    "ip": "192.0.2.1",
                    "user_agent": "Mozilla/5.0",
                    "source": "signup form",
                    "notice_version_id": None,
                    "confirmed_at": now - timedelta(days=30)
                    if action is ConsentAction.CONFIRMED
                    else None,
                    "confirmation_ip": "192.0.2.1" if action is ConsentAction.CONFIRMED else None,
                }
                for contact in contact_ids
                for purpose in Purpose
                for action in (ConsentAction.GIVEN, ConsentAction.CONFIRMED)
            ],
        )
        ids = insert_returning_ids(
            session,
            table_of(Delivery),
            [
                {
                    "campaign_id": campaign_id,
                    "contact_id": contact,
                    "variant_id": targets[i % 4][1],
                    "group_id": targets[i % 4][0],
                    "group_name": targets[i % 4][2],
                    "status": DeliveryStatus.SENT,
                    "attempts": 1,
                    "message_id": f"<{contact}.bench@example.org>",
                    "tracking_opens": True,
                    "tracking_clicks": True,
                    "queued_at": sent_at,
                    "sent_at": sent_at,
                    "human_opens": 0,
                    "machine_opens": 0,
                    "clicks": 0,
                    "machine_clicks": 0,
                }
                for i, contact in enumerate(contact_ids)
            ],
        )
        recount(session, campaign_id)  # the tallies a sent campaign has
        return ids


def write_paths(path: Path, delivery_ids: list[int]) -> int:
    """A pixel then a click request for each delivery; returns how many requests."""
    lines = []
    for delivery in delivery_ids:
        lines.append(f"200 {open_url('', SECRET, delivery)}")
        target = f"https://example.org/articles/{delivery % 40}?utm_source=newsletter"
        lines.append(f"302 {click_url('', SECRET, delivery, target)}")
    path.write_text("\n".join(lines) + "\n", encoding="ascii")
    return len(lines)


def count_hits(database: Database) -> int:
    with database.reader() as session:
        return session.scalar(sa.select(sa.func.count()).select_from(TrackingHit)) or 0


# --- gunicorn, the workers and the load generator -------------------------------------


def start_worker(env: dict[str, str], workdir: Path) -> subprocess.Popen[bytes]:
    """One `outreach worker` process (it records the hits the web processes hand over)."""
    log = (workdir / "worker.log").open("ab")
    command = [sys.executable, "-m", "outreach.cli", "worker", "--processes", "1"]
    return subprocess.Popen([*command, "--threads", "2"], cwd=ROOT, env=env, stdout=log, stderr=log)


def wait_for_workers(broker: Any, database: Database, seconds: float = 120) -> None:
    """Until every tracking message is acknowledged and the hit count stops moving."""
    deadline, last = time.monotonic() + seconds, -1
    while time.monotonic() < deadline:
        queued = broker.client.hlen(f"{broker.namespace}:{QUEUE}.msgs")  # until acked
        count = count_hits(database)
        if queued == 0 and count == last:
            return
        last = count
        time.sleep(1)


def stop(proc: subprocess.Popen[bytes], timeout: float) -> float:
    """SIGTERM, then SIGKILL after `timeout` seconds; the seconds the stop took."""
    start = time.perf_counter()
    proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(timeout=10)
        print(f"  (pid {proc.pid} did not stop within {timeout:.0f} s after SIGTERM: killed)")
    return time.perf_counter() - start


def start_gunicorn(
    target: list[str], env: dict[str, str], log: Path
) -> tuple[subprocess.Popen[bytes], int]:
    """Gunicorn on a free port, answering; the caller stops it."""
    port = free_port()
    with log.open("ab") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "gunicorn", *GUNICORN, "-b", f"127.0.0.1:{port}", *target],
            cwd=ROOT,
            env=env,
            stdout=out,
            stderr=out,
        )
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"gunicorn exited ({proc.returncode}): {log.read_text()[-2000:]}")
        try:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
            conn.request("GET", "/t/o/ready")
            if conn.getresponse().status == 200:
                conn.close()
                return proc, port
        except OSError:
            time.sleep(0.1)
    stop_gunicorn(proc)
    raise SystemExit(f"gunicorn did not answer within 30 s: {log.read_text()[-2000:]}")


def stop_gunicorn(proc: subprocess.Popen[bytes]) -> float:
    """Graceful: workers finish, the recorder flushes at exit; seconds taken."""
    return stop(proc, 90)


def load(
    port: int, paths: Path, args: argparse.Namespace, rate: float = 0.0, *extra: str
) -> dict[str, Any]:
    """Run bench/_load.py against the port; its JSON summary."""
    out = subprocess.run(
        [
            sys.executable,
            str(BENCH / "_load.py"),
            str(port),
            str(paths),
            "--processes",
            str(args.load_processes),
            "--threads",
            str(args.load_threads),
            "--duration",
            str(args.duration),
            "--rate",
            str(rate),
            *extra,
        ],
        capture_output=True,
        text=True,
        timeout=args.duration + 180,
        check=False,
    )
    if out.returncode != 0:
        raise SystemExit(f"load generator failed: {out.stderr[-2000:]}")
    return json.loads(out.stdout)  # type: ignore[no-any-return]


def warm_up(port: int, workdir: Path, args: argparse.Namespace) -> None:
    """Broken-token pixels (answered, never recorded) so both apps start warm."""
    path = workdir / "warmup.txt"
    path.write_text("".join(f"200 /t/o/warmup{i}\n" for i in range(800)), encoding="ascii")
    load(port, path, args)


def describe(result: dict[str, Any]) -> str:
    extra = ""
    if result["bad_status"] or result["errors"]:
        extra = f" ({result['bad_status']} wrong status, {result['errors']} errors)"
    if result["answered"] < result["planned"]:
        extra += f" ({result['planned'] - result['answered']} not sent within the time bound)"
    return (
        f"{result['rps']:>7,.0f} req/s  p50 {result['p50_ms']:6.2f} ms  "
        f"p99 {result['p99_ms']:7.2f} ms  max {result['max_ms']:7.1f} ms{extra}"
    )


def tracking_bench(args: argparse.Namespace, kind: str, workdir: Path) -> None:
    """Part 1: the endpoints under gunicorn against the bare GIF app."""
    url = fresh_database(kind, workdir, args.pg)
    database = database_for(url, workdir)
    started = time.perf_counter()
    ids = seed_tracking(database, args.deliveries)
    rates = [float(r) for r in str(args.rate).split(",") if float(r) > 0]
    share = args.requests // (1 + len(rates))
    phases = [("closed loop", 0.0, ids[:share])]
    for number, rate in enumerate(rates, start=1):
        phases.append((f"paced {rate:,.0f}/s", rate, ids[number * share : (number + 1) * share]))
    files = []
    for number, (_, _, chunk) in enumerate(phases):
        files.append(workdir / f"paths-{number}.txt")
        write_paths(files[-1], chunk)
    print(
        f"tracking endpoints ({kind}; {args.deliveries:,} tracked deliveries seeded in "
        f"{time.perf_counter() - started:.1f} s; gunicorn {' '.join(GUNICORN)}; load "
        f"generator: {args.load_processes} processes x {args.load_threads} threads, "
        "keep-alive, browser User-Agent)",
        flush=True,
    )
    env = {
        **os.environ,
        "OUTREACH_DATABASE_URL": url,
        "OUTREACH_SECRET_KEY": SECRET,
        "OUTREACH_INSTANCE_PATH": str(workdir),
        "OUTREACH_BASE_URL": "https://news.example.org",
    }
    workers: list[subprocess.Popen[bytes]] = []
    if args.recording == "workers":  # as deployed: web processes hand hits to the broker
        env["OUTREACH_BROKER_URL"] = args.redis
        tracking_queue = build_broker(args.redis)
        tracking_queue.declare_queue(QUEUE)
        tracking_queue.flush(QUEUE)
        workers = [start_worker(env, workdir) for _ in range(args.workers)]
    print(
        f"  recording: {args.recording}"
        + (
            f" ({args.workers} `outreach worker` process(es) x 2 threads on {args.redis})"
            if workers
            else " (the embedded broker: a recorder thread in each web process)"
        ),
        flush=True,
    )
    results: dict[str, dict[str, dict[str, Any]]] = {"engine": {}, "baseline": {}}
    before = after = 0
    engine_stop = 0.0
    runs = [
        ("engine", ["wsgi:app"], ()),
        ("baseline", ["--pythonpath", str(BENCH), "_pixel_app:app"], ("--status", "200")),
    ]
    try:
        for name, target, expect in runs:
            proc, port = start_gunicorn(target, env, workdir / f"gunicorn-{name}.log")
            try:
                warm_up(port, workdir, args)
                for (label, rate, _), path in zip(phases, files, strict=True):
                    results[name][label] = load(port, path, args, rate, *expect)
                    time.sleep(1)
                if name == "engine":
                    before = count_hits(database)
            finally:
                stop_seconds = stop_gunicorn(proc)
            if name == "engine":
                if workers:
                    wait_for_workers(tracking_queue, database)
                    for worker in workers:
                        stop(worker, 60)
                after = count_hits(database)
                engine_stop = stop_seconds
    finally:  # a failed run leaves no worker consuming the broker (another bench's)
        for worker in workers:
            if worker.poll() is None:
                stop(worker, 60)
    for label, _, _ in phases:
        engine, base = results["engine"][label], results["baseline"][label]
        print(f"  {label:<13} engine   {describe(engine)}")
        print(
            f"  {'':<13} baseline {describe(base)}  (bare GIF app; engine/baseline "
            f"{engine['rps'] / base['rps']:.2f})"
        )
    answered = sum(r["ok"] for r in results["engine"].values())
    failed = sum(r["bad_status"] + r["errors"] for r in results["engine"].values())
    print(
        f"  hits: {answered:,} requests answered as expected ({failed} not), {after:,} "
        f"TrackingHit rows after the graceful stop ({before:,} already written when the "
        f"load ended; the stop took {engine_stop:.1f} s): "
        f"{'EQUAL' if after == answered else 'NOT EQUAL'}"
    )
    if engine_stop >= GRACEFUL_TIMEOUT:
        print(
            f"  (the stop reached gunicorn's graceful timeout, {GRACEFUL_TIMEOUT} s: the workers "
            "were SIGKILLed while their recorders were still flushing)"
        )
    database.engine.dispose()
    for line in (workdir / "gunicorn-engine.log").read_text().splitlines():
        if any(word in line for word in ("SIGKILL", "Traceback", "[ERROR]", "[CRITICAL]")):
            print(f"  gunicorn (engine) log: {line}")
    closed = results["engine"]["closed loop"]
    for target_rate in sorted({args.send_rate, SEND_RATE}):
        label = f"paced {target_rate:,.0f}/s"
        if label not in results["engine"]:
            continue
        paced = results["engine"][label]
        met = (
            closed["rps"] >= target_rate
            and paced["p99_ms"] < TARGET_P99_MS
            and paced["answered"] == paced["planned"]
        )
        what = (
            "the delivery benchmark's send rate"
            if target_rate == args.send_rate
            else ("ENGINEERING.md's send-rate target")
        )
        print(
            f"  target: >= {target_rate:,.0f} req/s ({what}) with p99 < {TARGET_P99_MS:.0f} ms: "
            f"{'met' if met else 'NOT met'} (closed loop {closed['rps']:,.0f} req/s; "
            f"p99 at {label}: {paced['p99_ms']:.1f} ms)",
            flush=True,
        )


# --- the 1M-delivery report ------------------------------------------------------------


def _ts(kind: str, seconds: str, base: str = "CAST(:t0 AS TIMESTAMPTZ)") -> str:
    """SQL: a timestamp `seconds` (an SQL expression) after `base` (t0 by default)."""
    if kind == "postgresql":
        return f"({base} + ({seconds}) * INTERVAL '1 second')"
    base = ":t0" if base.startswith("CAST(") else base
    return f"(strftime('%Y-%m-%d %H:%M:%S', {base}, '+' || ({seconds}) || ' seconds') || '.000000')"


def deliveries_sql(kind: str, targets: list[tuple[int, int, str]]) -> str:
    """INSERT … SELECT of :size deliveries: 40/30/20/10 % over the groups; 95.5 % sent,
    1 % failed, 2 % bounced, 1.5 % skipped; 55 % allowed open tracking, 50 % clicks; of
    those sent and tracked, 30 % opened (a third of them twice), 40 % opened by a machine
    (privacy proxies), 5 % clicked, 1 % clicked by a scanner; 0.3 % unsubscribed."""

    def by_group(column: int) -> str:
        cases = " ".join(f"WHEN {i} THEN {t[column]!r}" for i, t in enumerate(targets))
        return f"CASE g {cases} END"

    if kind == "postgresql":
        series, prefix = "generate_series(1, CAST(:size AS BIGINT)) AS s(n)", ""
    else:
        series = "s"
        prefix = "WITH RECURSIVE s(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM s WHERE n < :size) "
    sent_offset = "n * 7200 / :size"  # a two-hour send
    return f"""
    INSERT INTO deliveries (campaign_id, contact_id, variant_id, group_id, group_name, status,
        attempts, message_id, tracking_opens, tracking_clicks, queued_at, sent_at,
        first_open_at, last_open_at, human_opens, machine_opens, clicks, machine_clicks,
        unsubscribed_at)
    {prefix}SELECT :campaign, n, {by_group(1)}, {by_group(0)}, {by_group(2)}, status,
        CASE WHEN status = 'skipped' THEN 0 ELSE 1 END,
        CASE WHEN status = 'skipped' THEN NULL ELSE '<' || n || '.bench@example.org>' END,
        topen, tclick, {_ts(kind, "0")},
        CASE WHEN sent THEN {_ts(kind, sent_offset)} END,
        CASE WHEN opened THEN {_ts(kind, f"{sent_offset} + 60 + delay")} END,
        CASE WHEN reopened THEN {_ts(kind, f"{sent_offset} + 3660 + delay")}
             WHEN opened THEN {_ts(kind, f"{sent_offset} + 60 + delay")} END,
        CASE WHEN reopened THEN 2 WHEN opened THEN 1 ELSE 0 END,
        CASE WHEN mopened THEN 1 ELSE 0 END,
        CASE WHEN clicked THEN 1 ELSE 0 END,
        CASE WHEN mclicked THEN 1 ELSE 0 END,
        CASE WHEN unsub THEN {_ts(kind, f"{sent_offset} + 600 + delay")} END
    FROM (
        SELECT n, g, status, topen, tclick, delay, sent,
            sent AND topen AND uh < 309 AS opened,
            sent AND topen AND uh < 309 AND ur < 361 AS reopened,
            sent AND topen AND um < 416 AS mopened,
            sent AND tclick AND uk < 52 AS clicked,
            sent AND tclick AND uk >= 52 AND uk < 63 AS mclicked,
            sent AND uu < 3 AS unsub
        FROM (
            SELECT n, uh, ur, um, uk, uu, delay,
                CASE WHEN ug < 404 THEN 0 WHEN ug < 707 THEN 1 WHEN ug < 908 THEN 2
                     ELSE 3 END AS g,
                CASE WHEN us < 967 THEN 'sent' WHEN us < 977 THEN 'failed'
                     WHEN us < 997 THEN 'bounced' ELSE 'skipped' END AS status,
                us < 967 AS sent, uo < 560 AS topen, uc < 510 AS tclick
            FROM (
                SELECT n, (n * 7919) % 1009 AS ug, (n * 6007) % 1013 AS us,
                    (n * 5003) % 1019 AS uo, (n * 4001) % 1021 AS uc,
                    (n * 3001) % 1031 AS uh, (n * 2003) % 1033 AS ur,
                    (n * 1009) % 1039 AS um, (n * 907) % 1049 AS uk,
                    (n * 503) % 1051 AS uu, (n * 104729) % 259200 AS delay
                FROM {series}
            ) AS u
        ) AS v
    ) AS w
    """  # noqa: S608 - built from constants, no input


def hits_sql(kind: str) -> str:
    """One TrackingHit row per counted open and click of the campaign's deliveries."""
    columns = "delivery_id, campaign_id, kind, machine, reason, url, agent_family, occurred_at"
    url = "'https://example.org/articles/' || (id % 40)"
    parts = [
        ("'open'", "FALSE", "NULL", "NULL", "'browser'", "first_open_at", "human_opens >= 1"),
        ("'open'", "FALSE", "NULL", "NULL", "'browser'", "last_open_at", "human_opens >= 2"),
        (
            "'open'",
            "TRUE",
            "'user agent: apple-privacy-proxy'",
            "NULL",
            "'apple-privacy-proxy'",
            _ts(kind, "30", "sent_at"),
            "machine_opens >= 1",
        ),
        (
            "'click'",
            "FALSE",
            "NULL",
            url,
            "'browser'",
            _ts(kind, "900 + id % 259200", "sent_at"),
            "clicks >= 1",
        ),
        (
            "'click'",
            "TRUE",
            "'user agent: security-scanner'",
            url,
            "'security-scanner'",
            _ts(kind, "20", "sent_at"),
            "machine_clicks >= 1",
        ),
    ]
    source = "FROM deliveries WHERE campaign_id = :campaign AND"
    selects = [
        f"SELECT id, campaign_id, {kind_}, {machine}, {reason}, {link}, {family}, {at} {source} {where}"  # noqa: S608, E501
        for kind_, machine, reason, link, family, at, where in parts
    ]
    return f"INSERT INTO tracking_hits ({columns}) " + " UNION ALL ".join(selects)


def build_report_campaign(kind: str, url: str, database: Database, size: int) -> tuple[int, int]:
    """The big campaign; (campaign id, tracking hits written)."""
    campaign_id, (hits,) = bulk_campaign(
        kind, url, database, f"Report bench {size:,}", size, {"tracking_hits": hits_sql(kind)}
    )
    return campaign_id, hits


def bulk_campaign(
    kind: str, url: str, database: Database, name: str, size: int, then: dict[str, str]
) -> tuple[int, list[int]]:
    """A sent campaign of `size` deliveries (deliveries_sql), then each statement of `then`
    (table it fills -> SQL with :campaign and :t0); (campaign id, rows each one wrote)."""
    campaign_id, targets = make_campaign(database, name)
    t0 = datetime.now(UTC) - timedelta(days=4)
    params: dict[str, Any] = {"campaign": campaign_id, "size": size}
    # Foreign keys unchecked for the bulk rows only: their contact ids point at no contact.
    engine = make_engine(url) if kind == "postgresql" else sa.create_engine(url)
    with engine.begin() as conn:
        if kind == "postgresql":
            conn.exec_driver_sql("SET LOCAL session_replication_role = replica")
            params["t0"] = t0
        else:
            params["t0"] = t0.strftime("%Y-%m-%d %H:%M:%S")
        conn.execute(sa.text(deliveries_sql(kind, targets)), params)
        written = [
            conn.execute(sa.text(sql), {"campaign": campaign_id, "t0": params["t0"]}).rowcount
            for sql in then.values()
        ]
    if kind == "postgresql":
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.exec_driver_sql(f"VACUUM ANALYZE {', '.join(['deliveries', *then])}")
            conn.exec_driver_sql("CHECKPOINT")  # no bulk-load write-back during the timings
    engine.dispose()
    return campaign_id, written


def median_ms(action: Callable[[], object], runs: int = 5) -> float:
    """Median wall time of `runs` calls after one warm-up call, in milliseconds."""
    action()
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        action()
        times.append((time.perf_counter() - start) * 1000)
    return statistics.median(times)


def timed_reads(
    database: Database, reads: dict[str, Callable[[Session], object]]
) -> tuple[dict[str, float], dict[str, object]]:
    """median_ms of each read, every call in a fresh session (as a request would have); and
    what each read returned last."""
    results: dict[str, object] = {}
    timings = {}
    for name, read in reads.items():

        def run(name: str = name, read: Callable[[Session], object] = read) -> None:
            with database.reader() as session:
                results[name] = read(session)

        timings[name] = median_ms(run)
    return timings, results


def campaign_of(session: Session, campaign_id: int) -> Campaign:
    """The bench's campaign (it exists: the bench made it)."""
    campaign = session.get(Campaign, campaign_id)
    assert campaign is not None
    return campaign


def count_rows(table: str, campaign_id: int) -> Callable[[Session], object]:
    """The baseline read: `SELECT count(*)` of a table's rows of the campaign."""
    statement = sa.text(f"SELECT count(*) FROM {table} WHERE campaign_id = :c")  # noqa: S608
    return lambda session: session.execute(statement, {"c": campaign_id}).scalar_one()


def report_timings(database: Database, campaign_id: int) -> dict[str, Any]:
    """campaign_stats, its hourly series alone, and the count(*) baseline."""
    timings, results = timed_reads(
        database,
        {
            "report": lambda session: campaign_stats(session, campaign_of(session, campaign_id)),
            "hourly": lambda session: hourly(session, campaign_id),
            "count": count_rows("deliveries", campaign_id),
        },
    )
    return {**timings, "stats": results["report"]}


def progress_timings(database: Database, campaign_id: int) -> dict[str, float]:
    """`campaigns status` while IN_FLIGHT batches are being sent (their deliveries in
    status sending, spread over the campaign, half of each already sent: the tallies of
    their blocks not refreshed yet), beside the scan of the ledger it replaced (per group
    and status, every delivery)."""
    with database.session() as session:
        if session.get_bind().dialect.name == "postgresql":  # their contacts do not exist
            session.execute(sa.text("SET LOCAL session_replication_role = replica"))
        low, high = session.execute(
            sa.select(sa.func.min(Delivery.id), sa.func.max(Delivery.id)).where(
                Delivery.campaign_id == campaign_id
            )
        ).one()
        step = (high - low) // IN_FLIGHT
        for start in range(low, high - 500, step):
            session.execute(
                sa.update(Delivery)
                .where(Delivery.id.between(start, start + 499))
                .values(status=DeliveryStatus.SENDING)
            )
            session.execute(
                sa.update(Delivery)
                .where(Delivery.id.between(start, start + 249))
                .values(status=DeliveryStatus.SENT, sent_at=sa.func.current_timestamp())
            )

    def progress() -> None:
        with database.reader() as session:
            campaign = session.get(Campaign, campaign_id)
            assert campaign is not None
            delivery_service.progress(session, campaign)

    def scan() -> None:
        with database.reader() as session:
            session.execute(
                sa.select(Delivery.group_name, Delivery.status, sa.func.count())
                .where(Delivery.campaign_id == campaign_id)
                .group_by(Delivery.group_name, Delivery.status)
            ).all()

    return {"progress": median_ms(progress), "scan": median_ms(scan)}


def print_plans(database: Database, campaign_id: int, kind: str) -> None:
    """The plans of the report's statements: EXPLAIN ANALYZE on PostgreSQL, EXPLAIN QUERY
    PLAN on SQLite."""
    captured: list[tuple[str, Any]] = []

    def capture(_conn: Any, _cursor: Any, statement: str, parameters: Any, *_: Any) -> None:
        if statement.lstrip().upper().startswith("SELECT") and "_tallies" in statement:
            captured.append((statement, parameters))

    sa.event.listen(database.engine, "before_cursor_execute", capture)
    try:
        with database.reader() as session:
            campaign = session.get(Campaign, campaign_id)
            assert campaign is not None
            campaign_stats(session, campaign)
    finally:
        sa.event.remove(database.engine, "before_cursor_execute", capture)
    prefix = "EXPLAIN (ANALYZE, BUFFERS) " if kind == "postgresql" else "EXPLAIN QUERY PLAN "
    with database.engine.connect() as conn:
        for statement, parameters in captured:
            name = statement.split("FROM", 1)[1].split()[0]
            print(f"    plan of the {name}:")
            for row in conn.exec_driver_sql(prefix + statement, parameters):
                print(f"      {row[0] if kind == 'postgresql' else row[-1]}")


def report_bench(args: argparse.Namespace, kinds: list[str], workdir: Path) -> None:
    """Part 2: campaign_stats on a --report-size campaign, per backend."""
    print(
        f"report: campaign_stats on a campaign of {args.report_size:,} deliveries in 4 groups "
        f"(median of 5 after a warm-up; target < {TARGET_REPORT_MS:.0f} ms)",
        flush=True,
    )
    for kind in kinds:
        url = fresh_database(kind, workdir, args.pg)
        database = database_for(url, workdir)
        started = time.perf_counter()
        campaign_id, hits = build_report_campaign(kind, url, database, args.report_size)
        built = time.perf_counter() - started
        started = time.perf_counter()
        with database.session() as session:  # what the end of sending pays, once
            recount(session, campaign_id)
        counted = time.perf_counter() - started
        timings = report_timings(database, campaign_id)
        total = timings["stats"].total
        ok = timings["report"] < TARGET_REPORT_MS
        print(
            f"  {kind:<11} campaign_stats {timings['report']:8.1f} ms (hourly series alone "
            f"{timings['hourly']:7.1f} ms) | baseline count(*) {timings['count']:7.1f} ms | "
            f"{'met' if ok else 'NOT met'}",
        )
        print(
            f"  {'':<11} (tallies recounted from the ledger and hits in {counted * 1000:.0f} ms: "
            "paid once when sending ends; batches refresh their own blocks meanwhile)"
        )
        print(
            f"  {'':<11} (built in {built:.1f} s: {total.recipients:,} recipients, "
            f"{total.sent:,} sent, {total.unique_human_opens:,} human openers of "
            f"{total.open_tracked:,} tracked, {total.machine_opens:,} machine-opened, "
            f"{total.unique_clicks:,} clickers, {total.unsubscribes:,} unsubscribed; "
            f"{hits:,} tracking hits, {len(timings['stats'].hourly)} hourly points)",
            flush=True,
        )
        if not ok or args.explain:
            print_plans(database, campaign_id, kind)
        live = progress_timings(database, campaign_id)
        print(
            f"  {kind:<11} campaigns status {live['progress']:8.1f} ms with {IN_FLIGHT} "
            f"batches in flight | baseline: the ledger scanned per group and status "
            f"{live['scan']:7.1f} ms | target < {TARGET_PROGRESS_MS:.0f} ms "
            f"{'met' if live['progress'] < TARGET_PROGRESS_MS else 'NOT met'}",
            flush=True,
        )
        database.engine.dispose()
        if kind == "sqlite":
            for leftover in workdir.glob("bench-*.db*"):
                leftover.unlink()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--deliveries", type=int, default=40_000)
    parser.add_argument(
        "--requests", type=int, default=40_000, help="per phase, half pixels and half clicks"
    )
    parser.add_argument(
        "--rate",
        default=f"{DELIVERY_RATE:.0f},{SEND_RATE}",
        help="paced phases, requests/s, comma-separated; 0: none",
    )
    parser.add_argument(
        "--send-rate",
        type=float,
        default=DELIVERY_RATE,
        help="the rate bench/send.py measured (msg/s), the endpoints' target",
    )
    parser.add_argument("--duration", type=float, default=60.0, help="time bound per phase")
    parser.add_argument("--load-processes", type=int, default=2)
    parser.add_argument("--load-threads", type=int, default=4)
    parser.add_argument(
        "--recording",
        choices=("workers", "in-process"),
        default="workers",
        help="workers: Redis and `outreach worker` record the hits (as deployed); "
        "in-process: the embedded broker's recorder thread in each web process",
    )
    parser.add_argument("--workers", type=int, default=1, help="`outreach worker` processes")
    parser.add_argument(
        "--redis", default=os.environ.get("OUTREACH_TEST_BROKER_URL", "redis://127.0.0.1:6379/0")
    )
    parser.add_argument("--report-size", type=int, default=1_000_000)
    parser.add_argument("--skip-report", action="store_true")
    parser.add_argument("--skip-endpoints", action="store_true")
    parser.add_argument("--explain", action="store_true", help="print the report's plans")
    parser.add_argument("--pg", default=os.environ.get("OUTREACH_TEST_DATABASE_URL", DEFAULT_PG))
    args = parser.parse_args()
    phases = 2 if args.rate else 1
    if args.deliveries < phases * (args.requests // 2):
        parser.error(f"--deliveries must be at least {phases * (args.requests // 2)}")
    kinds = ["sqlite"]
    try:
        make_engine(args.pg).connect().close()
        kinds.append("postgresql")
    except sa.exc.OperationalError:
        print(f"(PostgreSQL at {args.pg} not reachable: SQLite only)")
    with tempfile.TemporaryDirectory() as tmp:
        workdir = Path(tmp)
        if not args.skip_endpoints:
            tracking_bench(args, kinds[-1], workdir)
        if not args.skip_report:
            report_bench(args, kinds, workdir)


if __name__ == "__main__":
    main()
