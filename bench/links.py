"""Per-link report benchmark: `link_stats` on a campaign of a million deliveries.

A fresh database (SQLite, and PostgreSQL when reachable) gets the campaign of
bench/tracking.py's report (4 groups, realistic statuses and tracking consents; of the
recipients sent it who allowed click tracking, 5 % clicked and 1 % had a link scanner),
bulk-built with INSERT … SELECT, never by sending. Each human clicker clicked 1 to 3 of
the letter's LINKS links (the first one skewed towards the top of the letter), once or
twice each; each scanner followed every link once. Its link_clicks rows are written
so, and one TrackingHit row per click from them. Timed (median of 5 after a warm-up, each
in a fresh session as a request would be): `link_stats`, beside two baselines from the
same run — a plain `SELECT count(*)` of the campaign's link_clicks rows, and the same
report counted straight from the raw click hits (joined to their deliveries for group and
variant), which is what the report would cost without link_clicks while the hits last.
The two reports are compared: they must be equal.

    python bench/links.py [--size 1000000] [--pg URL] [--explain]
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

BENCH = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH))
from import_contacts import DEFAULT_PG, fresh_database  # noqa: E402
from tracking import (  # noqa: E402
    _ts,
    bulk_campaign,
    campaign_of,
    count_rows,
    database_for,
    timed_reads,
)

from outreach.db import Database, make_engine  # noqa: E402
from outreach.delivery.models import Delivery  # noqa: E402
from outreach.reporting.links import CampaignLinks, link_stats  # noqa: E402
from outreach.reporting.stats import variant_labels  # noqa: E402
from outreach.tracking.models import HitKind, LinkClick, TrackingHit  # noqa: E402

LINKS = 12
TARGET_MS = 200.0  # ENGINEERING.md's figure for the per-group report, taken for this one
_LINK_NUMBERS = f"k(n) AS (VALUES {', '.join(f'({i})' for i in range(LINKS))})"
_URL = "'https://example.org/articles/' || "


def link_clicks_sql(kind: str) -> str:
    """INSERT … SELECT of the campaign's link_clicks: per human clicker 1 to 3 distinct
    links (the first (id * 7919 mod 1009) mod (1 + id mod 12): skewed towards link 0), each
    clicked once or twice, minutes apart; per scanner every link, once."""
    first = "((d.id % 1009) * 7919 % 1009) % (1 + d.id % 12)"
    columns = (
        "campaign_id, delivery_id, group_name, variant_id, url, human_clicks, machine_clicks, "
        "first_human_at"
    )
    clicked_at = _ts(kind, "900 + d.id % 259200 + k.n * 60", "d.sent_at")
    return f"""
    INSERT INTO link_clicks ({columns})
    WITH {_LINK_NUMBERS}
    SELECT d.campaign_id, d.id, d.group_name, COALESCE(d.variant_id, 0),
        {_URL}(({first} + k.n * 5) % {LINKS}), 1 + (d.id + k.n) % 2, 0, {clicked_at}
    FROM deliveries AS d, k
    WHERE d.campaign_id = :campaign AND d.clicks > 0 AND k.n < 1 + d.id % 3
    UNION ALL
    SELECT d.campaign_id, d.id, d.group_name, COALESCE(d.variant_id, 0), {_URL}k.n, 0, 1, NULL
    FROM deliveries AS d, k
    WHERE d.campaign_id = :campaign AND d.machine_clicks > 0
    """  # noqa: S608 - built from constants, no input


def click_hits_sql(kind: str) -> str:
    """One TrackingHit row per click of the campaign's link_clicks (the second human click
    an hour after the first; a scanner's 20 s after t0)."""
    columns = "delivery_id, campaign_id, kind, machine, reason, url, agent_family, occurred_at"
    again = _ts(kind, "(c.n - 1) * 3600", "l.first_human_at")
    return f"""
    INSERT INTO tracking_hits ({columns})
    WITH c(n) AS (VALUES (1), (2))
    SELECT l.delivery_id, l.campaign_id, 'click', FALSE, NULL, l.url, 'browser', {again}
    FROM link_clicks AS l, c
    WHERE l.campaign_id = :campaign AND c.n <= l.human_clicks
    UNION ALL
    SELECT l.delivery_id, l.campaign_id, 'click', TRUE, 'user agent: security-scanner', l.url,
        'security-scanner', {_ts(kind, "20")}
    FROM link_clicks AS l
    WHERE l.campaign_id = :campaign AND l.machine_clicks > 0
    """  # noqa: S608 - built from constants, no input


def from_hits(session: Session, campaign_id: int) -> dict[tuple[str, str, str], list[int]]:
    """The baseline: the per-link figures counted from the raw click hits and their
    deliveries; (url, group, variant) -> [human clickers, clicks, machine clickers, clicks]."""
    labels = variant_labels(session, campaign_id)
    rows = session.execute(
        sa.select(
            TrackingHit.url,
            Delivery.group_name,
            Delivery.variant_id,
            TrackingHit.machine,
            sa.func.count(sa.distinct(TrackingHit.delivery_id)),
            sa.func.count(),
        )
        .join(Delivery, Delivery.id == TrackingHit.delivery_id)
        .where(TrackingHit.campaign_id == campaign_id, TrackingHit.kind == HitKind.CLICK)
        .group_by(TrackingHit.url, Delivery.group_name, Delivery.variant_id, TrackingHit.machine)
    ).all()
    found: dict[tuple[str, str, str], list[int]] = {}
    for url, group, variant, machine, clickers, clicks in rows:
        entry = found.setdefault((url, group, labels.get(variant, "")), [0, 0, 0, 0])
        entry[2 * machine : 2 * machine + 2] = [clickers, clicks]
    return found


def flattened(report: CampaignLinks) -> dict[tuple[str, str, str], list[int]]:
    """The report's group rows in the baseline's shape."""
    return {
        (link.url, g.group, g.variant): [
            g.human_clickers,
            g.human_clicks,
            g.machine_clickers,
            g.machine_clicks,
        ]
        for link in report.links
        for g in link.groups
    }


def timings(database: Database, campaign_id: int) -> dict[str, Any]:
    """link_stats and its two baselines; the report and the recount from the hits kept."""
    figures, results = timed_reads(
        database,
        {
            "report": lambda session: link_stats(session, campaign_of(session, campaign_id)),
            "count": count_rows("link_clicks", campaign_id),
            "hits": lambda session: from_hits(session, campaign_id),
        },
    )
    return {**figures, "result": results["report"], "from_hits": results["hits"]}


def print_plan(database: Database, campaign_id: int, kind: str) -> None:
    """The plan of the report's GROUP BY (EXPLAIN ANALYZE; EXPLAIN QUERY PLAN on SQLite)."""
    statement = (
        sa.select(LinkClick.url, LinkClick.group_name, LinkClick.variant_id, sa.func.count())
        .where(LinkClick.campaign_id == campaign_id)
        .group_by(LinkClick.url, LinkClick.group_name, LinkClick.variant_id)
    )
    prefix = "EXPLAIN (ANALYZE, BUFFERS) " if kind == "postgresql" else "EXPLAIN QUERY PLAN "
    with database.engine.connect() as conn:
        compiled = statement.compile(conn, compile_kwargs={"literal_binds": True})
        for row in conn.exec_driver_sql(prefix + str(compiled)):
            print(f"      {row[0] if kind == 'postgresql' else row[-1]}")


def bench(args: argparse.Namespace, kind: str, workdir: Path) -> None:
    """Build the campaign on one backend, time the report and its baselines, print them."""
    url = fresh_database(kind, workdir, args.pg)
    database = database_for(url, workdir)
    started = time.perf_counter()
    campaign_id, (rows, hits) = bulk_campaign(
        kind,
        url,
        database,
        f"Links bench {args.size:,}",
        args.size,
        {"link_clicks": link_clicks_sql(kind), "tracking_hits": click_hits_sql(kind)},
    )
    built = time.perf_counter() - started
    t = timings(database, campaign_id)
    report: CampaignLinks = t["result"]
    equal = flattened(report) == t["from_hits"]
    ok = t["report"] < TARGET_MS
    print(
        f"  {kind:<11} link_stats {t['report']:8.1f} ms | baselines: count(*) of its "
        f"link_clicks {t['count']:7.1f} ms, the same report from the raw hits "
        f"{t['hits']:8.1f} ms | {'met' if ok else 'NOT met'} | equal to the hits' "
        f"recount: {'yes' if equal else 'NO'}"
    )
    clickers = sum(link.total.human_clickers for link in report.links)
    print(
        f"  {'':<11} (built in {built:.1f} s: {args.size:,} deliveries, {rows:,} link_clicks "
        f"rows, {hits:,} click hits; {len(report.links)} links, {clickers:,} human clickers "
        f"of a link, {report.links[0].total.human_clicks:,} human clicks on the first)",
        flush=True,
    )
    if not ok or args.explain:
        print_plan(database, campaign_id, kind)
    database.engine.dispose()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=1_000_000, help="deliveries")
    parser.add_argument("--explain", action="store_true", help="print the report's plan")
    parser.add_argument("--pg", default=os.environ.get("OUTREACH_TEST_DATABASE_URL", DEFAULT_PG))
    args = parser.parse_args()
    kinds = ["sqlite"]
    try:
        make_engine(args.pg).connect().close()
        kinds.append("postgresql")
    except sa.exc.OperationalError:
        print(f"(PostgreSQL at {args.pg} not reachable: SQLite only)")
    print(
        f"per-link report of a campaign of {args.size:,} deliveries in 4 groups, {LINKS} links "
        f"(median of 5 after a warm-up; target < {TARGET_MS:.0f} ms)",
        flush=True,
    )
    with tempfile.TemporaryDirectory() as tmp:
        for kind in kinds:
            bench(args, kind, Path(tmp))


if __name__ == "__main__":
    main()
