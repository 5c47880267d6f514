"""Import benchmark: rows/s and peak RSS of `outreach contacts import` at 100k and 1M rows.

Each import runs in its own process (`outreach contacts import FILE --json`) so that its
peak RSS is its own. The baseline, measured in the same run on the same file, is the
least any importer must do: parse the CSV, validate each address with email-validator and
insert the rows with one executemany per chunk (no merging, groups or consent).

    python bench/import_contacts.py [--sizes 100000,1000000] [--pg URL]
"""

from __future__ import annotations

import argparse
import csv
import os
import random
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import sqlalchemy as sa
from email_validator import validate_email

from outreach.db import make_engine
from outreach.migrate import upgrade

SECTORS = ("Consultants", "Managers", "Thinkers", "Journalists")
DEFAULT_PG = "postgresql+psycopg://postgres@127.0.0.1:5432/test"


def generate(path: Path, rows: int) -> None:
    """A CSV of `rows` contacts with a sector and two attributes (0.5% invalid)."""
    rng = random.Random(rows)
    with path.open("w", newline="", encoding="utf-8") as out:
        writer = csv.writer(out)
        writer.writerow(
            [
                "email",
                "first_name",
                "last_name",
                "sector",
                "organization",
                "language",
                "city",
                "plan",
            ]
        )
        for i in range(rows):
            email = f"user{i}@example.org" if rng.random() > 0.005 else f"broken{i}@"
            writer.writerow(
                [
                    email,
                    f"First{i % 997}",
                    f"Last{i % 991}",
                    SECTORS[i % 4],
                    f"Org {i % 5000}",
                    "en",
                    f"City {i % 300}",
                    rng.choice(["free", "pro"]),
                ]
            )


POSITIONS = (
    "Senior Consultant",
    "Gerente de Ventas",
    "Periodista",
    "Research Fellow",
    "Software Engineer",
    "Head of Marketing",
    "Profesora titular",
    "Founder & CEO",
)


def generate_linkedin(path: Path, rows: int) -> None:
    """The same people as LinkedIn exports them: notes before the header, its columns,
    and a position for the sector rules (no sector column)."""
    rng = random.Random(rows)
    with path.open("w", newline="", encoding="utf-8") as out:
        out.write('Notes:\n"Some addresses may be missing."\n\n')
        writer = csv.writer(out)
        writer.writerow(
            [
                "First Name",
                "Last Name",
                "URL",
                "Email Address",
                "Company",
                "Position",
                "Connected On",
            ]
        )
        for i in range(rows):
            email = f"user{i}@example.org" if rng.random() > 0.005 else f"broken{i}@"
            writer.writerow(
                [
                    f"First{i % 997}",
                    f"Last{i % 991}",
                    f"https://www.linkedin.com/in/user{i}",
                    email,
                    f"Org {i % 5000}",
                    POSITIONS[i % len(POSITIONS)],
                    "12 Mar 2024",
                ]
            )


def fresh_database(kind: str, workdir: Path, pg_url: str) -> str:
    """An empty, migrated database of the given kind."""
    if kind == "sqlite":
        path = workdir / f"bench-{time.time_ns()}.db"
        url = f"sqlite:///{path}"
    else:
        engine = make_engine(pg_url)
        with engine.begin() as conn:
            conn.exec_driver_sql("DROP SCHEMA IF EXISTS bench CASCADE")
            conn.exec_driver_sql("CREATE SCHEMA bench")
        engine.dispose()
        url = f"{pg_url}{'&' if '?' in pg_url else '?'}options=-csearch_path%3Dbench"
    upgrade(url)
    return url


def run_engine(
    csv_path: Path, db_url: str, workdir: Path, status: str = "subscribed"
) -> tuple[float, float]:
    """Seconds and peak RSS (MB) of the real import command in its own process."""
    env = {
        **os.environ,
        "OUTREACH_DATABASE_URL": db_url,
        "OUTREACH_SECRET_KEY": "bench" * 10,
        "OUTREACH_INSTANCE_PATH": str(workdir),
    }
    start = time.perf_counter()
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "outreach.cli",
            "contacts",
            "import",
            str(csv_path),
            "--source",
            "benchmark",
            "--status",
            status,
            "--json",
        ],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    _, status, usage = os.wait4(proc.pid, 0)
    elapsed = time.perf_counter() - start
    if status != 0:
        raise SystemExit(f"import failed: {proc.stderr.read().decode() if proc.stderr else ''}")
    return elapsed, usage.ru_maxrss / 1024


def run_baseline(csv_path: Path, db_url: str) -> float:
    """Seconds for parse + validate + executemany insert, nothing else."""
    engine = make_engine(db_url)
    table = sa.table(
        "contacts",
        *(
            sa.column(c)
            for c in (
                "email",
                "email_key",
                "first_name",
                "last_name",
                "sector",
                "organization",
                "language",
                "attributes",
                "status",
                "source",
                "created_at",
                "updated_at",
            )
        ),
    )
    start = time.perf_counter()
    now = time.strftime("%Y-%m-%d %H:%M:%S")
    with engine.begin() as conn, csv_path.open(encoding="utf-8", newline="") as handle:
        chunk: list[dict[str, object]] = []
        for row in csv.DictReader(handle):
            try:
                email = validate_email(row["email"], check_deliverability=False).normalized
            except Exception:  # noqa: S112 - the baseline just drops bad rows
                continue
            chunk.append(
                {
                    "email": email,
                    "email_key": email.lower(),
                    "first_name": row["first_name"],
                    "last_name": row["last_name"],
                    "sector": row["sector"],
                    "organization": row["organization"],
                    "language": row["language"],
                    "attributes": "{}",
                    "status": "subscribed",
                    "source": "baseline",
                    "created_at": now,
                    "updated_at": now,
                }
            )
            if len(chunk) == 2000:
                conn.execute(table.insert(), chunk)
                chunk = []
        if chunk:
            conn.execute(table.insert(), chunk)
    engine.dispose()
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="100000,1000000")
    parser.add_argument("--pg", default=os.environ.get("OUTREACH_TEST_DATABASE_URL", DEFAULT_PG))
    args = parser.parse_args()
    backends = ["sqlite"]
    try:
        make_engine(args.pg).connect().close()
        backends.append("postgresql")
    except sa.exc.OperationalError:
        print(f"(PostgreSQL at {args.pg} not reachable: SQLite only)")
    print(
        f"{'backend':<11}{'rows':>9}{'engine s':>10}{'rows/s':>10}{'peak RSS MB':>13}"
        f"{'baseline rows/s':>17}{'ratio':>7}"
    )
    with tempfile.TemporaryDirectory() as tmp:
        workdir = Path(tmp)
        rss: dict[tuple[str, int], float] = {}
        for size in (int(s) for s in args.sizes.split(",")):
            csv_path = workdir / f"contacts-{size}.csv"
            generate(csv_path, size)
            for kind in backends:
                seconds, peak = run_engine(
                    csv_path, fresh_database(kind, workdir, args.pg), workdir
                )
                base = run_baseline(csv_path, fresh_database(kind, workdir, args.pg))
                rss[(kind, size)] = peak
                print(
                    f"{kind:<11}{size:>9}{seconds:>10.2f}{size / seconds:>10.0f}"
                    f"{peak:>13.1f}{size / base:>17.0f}{base / seconds:>7.2f}",
                    flush=True,
                )
            csv_path.unlink()
        first = min(int(s) for s in args.sizes.split(","))
        linkedin = workdir / "Connections.csv"
        generate_linkedin(linkedin, first)
        seconds, peak = run_engine(
            linkedin, fresh_database("sqlite", workdir, args.pg), workdir, status="pending"
        )
        print(
            f"{'sqlite':<11}{first:>9}{seconds:>10.2f}{first / seconds:>10.0f}{peak:>13.1f}"
            "   (a LinkedIn export: preamble, preset, sectors from positions by the rules)",
            flush=True,
        )
        sizes = sorted({s for _, s in rss})
        for kind in backends:
            if len(sizes) > 1:
                growth = rss[(kind, sizes[-1])] / rss[(kind, sizes[0])]
                print(
                    f"{kind}: peak RSS at {sizes[-1]} rows = {growth:.2f} x the figure at "
                    f"{sizes[0]} (target <= 1.2)"
                )


if __name__ == "__main__":
    main()
