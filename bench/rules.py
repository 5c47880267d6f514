"""Rule group benchmark: the rule editor's live count at 100,000 and 1,000,000 contacts.

For each backend (SQLite; PostgreSQL when reachable) and each --sizes N, a fresh migrated
database gets N contacts (a sector in four, a city in five, an age, 90 % subscribed,
sign-up dates over two years) and the ledger of three sent campaigns, one delivery per
contact each (96 % sent; of those, 55 % open-tracked, 30 % of them opened by a person,
40 % by a privacy proxy; 5 % clicked), all bulk-built with INSERT … SELECT. PostgreSQL
gets VACUUM ANALYZE, as autovacuum would; SQLite gets ANALYZE.

Timed (median of 5 after a warm-up, each in a fresh session, as a request has): the
editor's live count, `preview_rule` — the count of matching contacts, of subscribed
ones, and the sample of ten — for rules over a profile field, an attribute, behaviour in
the last three campaigns, and all of them mixed; beside it, the baseline measured in the
same run: a plain `SELECT count(*) FROM contacts`. The target (ENGINEERING.md, issue 18)
is under 200 ms at 100,000 contacts.

    python bench/rules.py [--sizes 100000,1000000] [--kinds sqlite,postgresql] [--pg URL]
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import sqlalchemy as sa

BENCH = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH))
from import_contacts import DEFAULT_PG, fresh_database  # noqa: E402
from tracking import database_for, median_ms  # noqa: E402

from outreach.campaigns.models import Campaign, CampaignStatus  # noqa: E402
from outreach.db import Database, make_engine  # noqa: E402
from outreach.groups.rules import parse_line  # noqa: E402
from outreach.groups.service import preview_rule  # noqa: E402

TARGET_MS = 200.0
RULES = {
    "profile": "sector = Journalists",
    "attribute": "attributes.city = Madrid and attributes.age >= 40",
    "behaviour": "opened last 3",
    "non-openers": "not opened last 3",
    "mixed": (
        "sector = Journalists and status = subscribed and not opened last 3 "
        "and signed up within 365 days"
    ),
}


def _series(kind: str) -> tuple[str, str]:
    if kind == "postgresql":
        return "", "generate_series(1, CAST(:size AS BIGINT)) AS s(n)"
    return "WITH RECURSIVE s(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM s WHERE n < :size) ", "s"


def contacts_sql(kind: str) -> str:
    """INSERT … SELECT of :size contacts."""
    prefix, series = _series(kind)
    if kind == "postgresql":
        created = "(CAST(:t0 AS TIMESTAMPTZ) - ((n * 7919) % 730) * INTERVAL '1 day')"
        attributes = (
            "json_build_object('city', (ARRAY['Madrid','Lisbon','Paris','Rome','Berlin'])"
            "[1 + n % 5], 'age', CAST(18 + (n * 31) % 60 AS TEXT))"
        )
    else:
        created = (
            "strftime('%Y-%m-%d %H:%M:%S', :t0, '-' || ((n * 7919) % 730) || ' days') || '.000000'"
        )
        attributes = (
            "json_object('city', CASE n % 5 WHEN 0 THEN 'Madrid' WHEN 1 THEN 'Lisbon' "
            "WHEN 2 THEN 'Paris' WHEN 3 THEN 'Rome' ELSE 'Berlin' END, "
            "'age', CAST(18 + (n * 31) % 60 AS TEXT))"
        )
    sector = (
        "CASE n % 4 WHEN 0 THEN 'Consultants' WHEN 1 THEN 'Managers' WHEN 2 THEN 'Thinkers' "
        "ELSE 'Journalists' END"
    )
    status = "CASE WHEN (n * 6007) % 1013 < 912 THEN 'subscribed' ELSE 'unsubscribed' END"
    return f"""
    INSERT INTO contacts (id, email, email_key, first_name, last_name, sector, organization,
        language, attributes, status, source, created_at, updated_at)
    {prefix}SELECT n, 'c' || n || '@example.org', 'c' || n || '@example.org', 'Name' || n, '',
        {sector}, '', '', {attributes}, {status}, 'bench', {created}, {created}
    FROM {series}
    """  # noqa: S608 - built from constants, no input


def deliveries_sql(kind: str) -> str:
    """INSERT … SELECT of one delivery per contact for the campaign :campaign (salt :salt
    varies who opened what from one campaign to the next)."""
    prefix, series = _series(kind)
    sent_at = "CAST(:sent AS TIMESTAMPTZ)" if kind == "postgresql" else ":sent"
    true, false = ("TRUE", "FALSE") if kind == "postgresql" else ("1", "0")
    return f"""
    INSERT INTO deliveries (campaign_id, contact_id, variant_id, group_id, group_name, status,
        attempts, tracking_opens, tracking_clicks, queued_at, sent_at, human_opens,
        machine_opens, clicks, machine_clicks, suspected_duplicate)
    {prefix}SELECT :campaign, n, 0, 0, 'All', CASE WHEN sent THEN 'sent' ELSE 'failed' END, 1,
        CASE WHEN tracked THEN {true} ELSE {false} END,
        CASE WHEN tracked THEN {true} ELSE {false} END, {sent_at},
        CASE WHEN sent THEN {sent_at} END,
        CASE WHEN sent AND tracked AND uh < 306 THEN 1 ELSE 0 END,
        CASE WHEN sent AND tracked AND um < 408 THEN 1 ELSE 0 END,
        CASE WHEN sent AND tracked AND uk < 51 THEN 1 ELSE 0 END, 0, {false}
    FROM (
        SELECT n, (n * 6007 + :salt) % 1013 < 973 AS sent,
            (n * 5003 + :salt) % 1019 < 560 AS tracked,
            (n * 3001 + :salt * 7) % 1021 AS uh, (n * 1009 + :salt) % 1031 AS um,
            (n * 907 + :salt * 3) % 1033 AS uk
        FROM {series}
    ) AS u
    """  # noqa: S608 - built from constants, no input


def build(kind: str, url: str, size: int) -> Database:
    """The contacts and the three campaigns' ledger, bulk-built and analysed."""
    database = database_for(url, Path(tempfile.gettempdir()))
    now = datetime.now(UTC)
    with database.session() as session:
        campaigns = []
        for i, name in enumerate(("Spring", "Summer", "Autumn")):
            started = now - timedelta(days=90 - 30 * i)
            campaign = Campaign(
                name=name,
                from_email="news@example.org",
                status=CampaignStatus.SENT,
                started_at=started,
                finished_at=started,
            )
            session.add(campaign)
            session.flush()
            campaigns.append((campaign.id, started))
    engine = make_engine(url) if kind == "postgresql" else sa.create_engine(url)
    stamp = (lambda t: t) if kind == "postgresql" else (lambda t: t.strftime("%Y-%m-%d %H:%M:%S"))
    with engine.begin() as conn:
        if kind == "postgresql":
            conn.exec_driver_sql("SET LOCAL session_replication_role = replica")
        conn.execute(sa.text(contacts_sql(kind)), {"size": size, "t0": stamp(now)})
        for salt, (campaign_id, started) in enumerate(campaigns):
            conn.execute(
                sa.text(deliveries_sql(kind)),
                {"size": size, "campaign": campaign_id, "sent": stamp(started), "salt": salt},
            )
    if kind == "postgresql":
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.exec_driver_sql("VACUUM ANALYZE contacts, deliveries, campaigns")
            conn.exec_driver_sql("CHECKPOINT")
    else:
        with engine.begin() as conn:
            conn.exec_driver_sql("ANALYZE")
    engine.dispose()
    return database


def timings(database: Database) -> tuple[float, dict[str, tuple[float, int]]]:
    """count(*) of contacts, and per rule (live count ms, contacts matching)."""

    def baseline() -> None:
        with database.reader() as session:
            session.scalar(sa.text("SELECT count(*) FROM contacts"))

    found: dict[str, tuple[float, int]] = {}
    for label, line in RULES.items():
        rule = parse_line(line)
        matching = [0]

        def live(rule: object = rule, matching: list[int] = matching) -> None:
            with database.reader() as session:
                matching[0] = preview_rule(session, rule).matching  # type: ignore[arg-type]

        found[label] = (median_ms(live), matching[0])
    return median_ms(baseline), found


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", default="100000,1000000")
    parser.add_argument("--kinds", default="sqlite,postgresql")
    parser.add_argument("--pg", default=os.environ.get("OUTREACH_TEST_DATABASE_URL", DEFAULT_PG))
    args = parser.parse_args()
    sizes = [int(s) for s in args.sizes.split(",")]
    print(
        "Rule live count (preview_rule: count, subscribed count, sample of 10); target "
        f"< {TARGET_MS:.0f} ms at 100,000 contacts. Baseline: a plain count(*) of contacts."
    )
    print("| backend | contacts | rule | matching | live count ms | count(*) ms | × count(*) |")
    print("| --- | ---: | --- | ---: | ---: | ---: | ---: |")
    with tempfile.TemporaryDirectory(prefix="outreach-rules-") as workdir:
        for kind in args.kinds.split(","):
            for size in sizes:
                url = fresh_database(kind, Path(workdir), args.pg)
                started = time.perf_counter()
                database = build(kind, url, size)
                built = time.perf_counter() - started
                baseline, found = timings(database)
                for label, (ms, matching) in found.items():
                    flag = " (over target)" if size <= 100_000 and ms > TARGET_MS else ""
                    print(
                        f"| {kind} | {size:,} | {label}: `{RULES[label]}` | {matching:,} | "
                        f"{ms:.1f}{flag} | {baseline:.1f} | {ms / baseline:.1f} |",
                        flush=True,
                    )
                print(f"<!-- {kind} {size:,}: built in {built:.1f} s -->", flush=True)
                database.engine.dispose()


if __name__ == "__main__":
    main()
