"""The running tallies behind the statistics follow the ledger through the real paths."""

from __future__ import annotations

import json
import re
import threading
from email.message import EmailMessage

import sqlalchemy as sa
from flask import Flask
from flask.testing import FlaskClient

from outreach.campaigns.service import get_campaign
from outreach.db import get_db
from outreach.delivery.models import Delivery
from outreach.reporting.stats import campaign_stats
from outreach.reporting.tallies import BLOCK, recount
from outreach.tracking.models import DeliveryTally, TrackingHit
from outreach.tracking.service import Hit, record_hits
from tests.support.pages import rows_of
from tests.support.tracking import click_paths, flush, pixel_path

BROWSER = {"User-Agent": "Mozilla/5.0 (Macintosh) Firefox/130"}
GMAIL = {"User-Agent": "Mozilla/5.0 (via ggpht.com GoogleImageProxy)"}
SCANNER = {"User-Agent": "Mimecast URL scanner"}


def report(app: Flask) -> dict[str, object]:
    with get_db(app).reader() as session:
        campaign_id = session.scalar(sa.select(Delivery.campaign_id).limit(1))
        return campaign_stats(session, get_campaign(session, campaign_id)).to_dict()


def recounted(app: Flask) -> dict[str, object]:
    with get_db(app).session() as session:
        recount(session, session.scalar(sa.select(Delivery.campaign_id).limit(1)))
    return report(app)


def one_click_path(message: EmailMessage) -> str:
    return re.search(r"<https?://[^/>]+(/unsubscribe/[^>]+)>", message["List-Unsubscribe"]).group(1)  # type: ignore[union-attr]


def test_opens_clicks_and_unsubscribes_through_the_endpoints_match_a_recount(
    app: Flask, sent: dict[str, EmailMessage]
) -> None:
    """Given a sent campaign, when people and proxies open, click and unsubscribe through
    the real endpoints, then the report read from the tallies is the ledger's recount."""
    client = app.test_client()
    both, opens, clicks = (sent[f"{k}@example.org"] for k in ("both", "opens", "clicks"))
    for _ in range(3):
        client.get(pixel_path(both), headers=BROWSER)
    client.get(pixel_path(opens), headers=GMAIL)
    client.get(click_paths(clicks)[0], headers=BROWSER)
    flush(app)
    client.get(click_paths(both)[1], headers=BROWSER)  # a second batch: still one clicker
    client.get(click_paths(clicks)[1], headers=BROWSER)
    flush(app)
    response = client.post(
        one_click_path(sent["none@example.org"]), data={"List-Unsubscribe": "One-Click"}
    )
    assert response.status_code == 200

    live = report(app)
    (row,) = live["groups"]  # type: ignore[misc]
    assert (row["recipients"], row["sent"], row["open_tracked"], row["click_tracked"]) == (
        4,
        4,
        2,
        2,
    )
    assert (row["unique_human_opens"], row["machine_opens"], row["unique_clicks"]) == (1, 1, 2)
    assert (row["open_rate"], row["click_rate"], row["unsubscribes"]) == (0.5, 1.0, 1)
    assert [h["opens"] for h in live["hourly"]] == [3]  # type: ignore[index, union-attr]
    assert sum(h["clicks"] for h in live["hourly"]) == 3  # type: ignore[union-attr]
    assert recounted(app) == live


def test_hits_recorded_concurrently_count_each_opener_once(
    app: Flask, sent: dict[str, EmailMessage]
) -> None:
    """Two recorders writing hits of the same deliveries at once (two web processes)."""
    with get_db(app).reader() as session:
        ids = list(session.scalars(sa.select(Delivery.id).where(Delivery.tracking_opens)))
    from outreach.db import utcnow
    from outreach.tracking.models import HitKind

    def record() -> None:
        with get_db(app).session() as session:
            record_hits(
                session,
                [Hit(HitKind.OPEN, i, utcnow(), BROWSER["User-Agent"], None) for i in ids * 5],
            )

    threads = [threading.Thread(target=record) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    live = report(app)
    (row,) = live["groups"]  # type: ignore[misc]
    assert row["unique_human_opens"] == len(ids) == 2
    assert live["hourly"][0]["opens"] == 4 * 5 * len(ids)  # type: ignore[index]
    assert recounted(app) == live


def test_a_batch_sent_twice_is_counted_once(app: Flask, sent: dict[str, EmailMessage]) -> None:
    """At-least-once delivery of a batch message: the block tallies are replaced, not added."""
    from outreach.delivery.engine import engine_for

    with get_db(app).reader() as session:
        campaign_id, low, high = session.execute(
            sa.select(
                Delivery.campaign_id, sa.func.min(Delivery.id), sa.func.max(Delivery.id)
            ).group_by(Delivery.campaign_id)
        ).one()
    before = report(app)
    engine_for(get_db(app)).send_batch(campaign_id, low, high)
    assert report(app) == before
    with get_db(app).reader() as session:
        blocks = session.execute(
            sa.select(DeliveryTally.block, sa.func.count()).group_by(DeliveryTally.block)
        ).all()
    assert blocks == [(low // BLOCK, 1)]


def test_the_figures_outlive_the_individual_hits(app: Flask, sent: dict[str, EmailMessage]) -> None:
    """Retention may delete hits and anonymize deliveries: the report does not change."""
    client = app.test_client()
    client.get(pixel_path(sent["both@example.org"]), headers=BROWSER)
    client.get(click_paths(sent["clicks@example.org"])[0], headers=BROWSER)
    flush(app)
    before = report(app)
    with get_db(app).session() as session:
        session.execute(sa.delete(TrackingHit))
        session.execute(sa.update(Delivery).values(contact_id=None, message_id=None))
    assert report(app) == before
    assert before["total"]["unique_human_opens"] == 1  # type: ignore[index]


def test_machine_opens_and_clicks_are_one_figure_on_every_surface(
    app: Flask, sent: dict[str, EmailMessage], auth: FlaskClient, api_headers: dict[str, str]
) -> None:
    """Given a link scanner following every link of one message (twice) and a privacy proxy
    fetching another's pixel, when the statistics are read through `outreach stats`, its
    JSON and CSV, the API and the admin page, then each shows the ledger's count: one
    recipient with a machine open, one with a machine click, no human open or click."""
    client = app.test_client()
    for path in click_paths(sent["both@example.org"]) * 2:
        client.get(path, headers=SCANNER)
    client.get(pixel_path(sent["opens@example.org"]), headers=GMAIL)
    flush(app)
    with get_db(app).reader() as session:
        campaign_id = session.scalar(sa.select(Delivery.campaign_id).limit(1))
        hits = session.execute(
            sa.select(TrackingHit.kind, sa.func.count()).group_by(TrackingHit.kind)
        ).all()
        clicked = session.scalar(sa.select(sa.func.count()).where(Delivery.machine_clicks > 0))
    assert sorted((str(kind), n) for kind, n in hits) == [("click", 4), ("open", 1)]
    assert clicked == 1  # four machine click hits, one recipient

    runner = app.test_cli_runner()
    document = json.loads(runner.invoke(args=["stats", str(campaign_id), "--json"]).output)
    (row,) = document["groups"]
    figures = ("unique_human_opens", "machine_opens", "unique_clicks", "machine_clicks")
    assert [row[f] for f in figures] == [document["total"][f] for f in figures] == [0, 1, 0, 1]
    assert client.get(f"/api/v1/statistics/{campaign_id}", headers=api_headers).json == document

    table = runner.invoke(args=["stats", str(campaign_id)]).output
    assert "machine opens" in table and "machine clicks" in table
    line = next(line.split() for line in table.splitlines() if line.startswith("Thinkers"))
    assert line[6:9] == ["0", "1", "1"]  # human opens, machine opens, machine clicks

    csv_text = runner.invoke(args=["stats", str(campaign_id), "--csv"]).output.splitlines()
    header, first = csv_text[0].split(","), csv_text[1].split(",")
    assert first[header.index("machine_clicks")] == "1"

    page = auth.get(f"/admin/statistics/{campaign_id}").get_data(as_text=True)
    head = page.split('id="group-stats"', 1)[1].split("</thead>", 1)[0]
    assert "Machine opens</th>" in head and "Machine clicks</th>" in head
    # recipients 4, sent 4, failed, bounced, skipped 0, human opens 0, machine opens 1 and
    # machine clicks 1, side by side
    assert rows_of(page, "group-stats")[0].startswith("Thinkers Thinkers 4 4 0 0 0 0 1 1 ")
    assert recounted(app) == report(app)
