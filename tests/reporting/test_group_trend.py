"""Each group over time (issue 18, item 6, without the admin's table and chart yet): a
group's human open and click rates over its last campaigns, from the tallies, through the
command line (text, JSON, CSV) and the API."""

from __future__ import annotations

import csv
import io
import json
from email.message import EmailMessage

import sqlalchemy as sa
from flask import Flask
from flask.testing import FlaskClient

from outreach.campaigns.service import get_campaign
from outreach.db import get_db
from outreach.delivery.models import Delivery
from outreach.reporting.stats import campaign_stats
from tests.conftest import drain
from tests.support.campaigns import one_variant_campaign
from tests.support.delivery import send
from tests.support.tracking import click_paths, flush, pixel_path

BROWSER = {"User-Agent": "Mozilla/5.0 (Macintosh) Firefox/130"}
GMAIL = {"User-Agent": "Mozilla/5.0 (via ggpht.com GoogleImageProxy)"}


def test_a_groups_rates_over_its_last_campaigns_on_every_surface(
    app: Flask, sent: dict[str, EmailMessage], auth: FlaskClient, api_headers: dict[str, str]
) -> None:
    client = app.test_client()
    client.get(pixel_path(sent["both@example.org"]), headers=BROWSER)
    client.get(pixel_path(sent["opens@example.org"]), headers=GMAIL)  # a machine: not counted
    client.get(click_paths(sent["clicks@example.org"])[0], headers=BROWSER)
    flush(app)
    later = one_variant_campaign(app, "Later", "Thinkers")
    send(app, later)
    drain(app)
    with get_db(app).reader() as session:
        first = int(session.scalar(sa.select(sa.func.min(Delivery.campaign_id))) or 0)
        [row] = campaign_stats(session, get_campaign(session, first)).rows

    runner = app.test_cli_runner()
    result = runner.invoke(args=["groups", "trend", "Thinkers", "--json"])
    assert result.exit_code == 0, result.output
    history = json.loads(result.output)
    assert [(h["campaign_id"], h["name"], h["sent"]) for h in history] == [
        (first, "T", 4),
        (later, "Later", 4),
    ]
    assert (history[0]["open_rate"], history[0]["click_rate"]) == (0.5, 0.5)
    assert (history[0]["open_rate"], history[0]["click_rate"]) == (row.open_rate, row.click_rate)
    assert (history[0]["human_openers"], history[0]["open_tracked"]) == (1, 2)
    assert (history[1]["open_rate"], history[1]["click_rate"]) == (0.0, 0.0)
    assert history[0]["sent_at"] <= history[1]["sent_at"]  # oldest first

    last = json.loads(
        runner.invoke(args=["groups", "trend", "Thinkers", "--last", "1", "--json"]).output
    )
    assert [h["name"] for h in last] == ["Later"]
    table = runner.invoke(args=["groups", "trend", "Thinkers"]).output.splitlines()
    assert table[1].split()[0] == "T" and "50.0% of 2" in table[1] and "0.0% of 2" in table[2]
    rows = list(
        csv.DictReader(
            io.StringIO(runner.invoke(args=["groups", "trend", "Thinkers", "--csv"]).output)
        )
    )
    assert [(r["name"], r["open_rate"], r["clickers"]) for r in rows] == [
        ("T", "0.5", "1"),
        ("Later", "0.0", "0"),
    ]
    assert runner.invoke(args=["groups", "add", "Readers", "none@example.org"]).exit_code == 0
    quiet = runner.invoke(args=["groups", "trend", "Readers"])
    assert "no campaign has reached Readers yet" in quiet.output
    unknown = runner.invoke(args=["groups", "trend", "Nobody"])
    assert unknown.exit_code == 1 and "no group named 'Nobody'" in unknown.output

    response = auth.get("/api/v1/groups/Thinkers/trend", headers=api_headers)
    assert response.status_code == 200 and response.get_json() == history
    assert auth.get("/api/v1/groups/Nobody/trend", headers=api_headers).status_code == 404
    assert auth.get("/api/v1/groups/Thinkers/trend?last=0", headers=api_headers).status_code == 422
