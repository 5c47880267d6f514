"""/api/v1/statistics: a campaign's per-group report as JSON and as CSV."""

from __future__ import annotations

import csv
import io
from typing import Any

from flask import Flask
from flask.testing import FlaskClient

from outreach.campaigns.service import create_campaign, get_campaign
from outreach.db import get_db
from outreach.reporting.stats import COLUMNS, campaign_stats
from tests.support.api import error_of
from tests.support.campaigns import MJML
from tests.support.statistics import PEOPLE, build_campaign

Headers = dict[str, str]


def test_statistics_are_the_report_of_outreach_stats_json(
    app: Flask, client: FlaskClient, api_headers: Headers
) -> None:
    campaign_id = build_campaign(app)

    response = client.get(f"/api/v1/statistics/{campaign_id}", headers=api_headers)

    assert response.status_code == 200, response.get_json()
    document = response.get_json()
    with app.app_context(), get_db(app).reader() as session:
        expected = campaign_stats(session, get_campaign(session, campaign_id)).to_dict()
    assert document == expected
    assert (document["campaign"], document["name"]) == (campaign_id, "May letter")
    managers, thinkers = document["groups"]
    assert managers == {
        "group": "Managers",
        "variant": "fallback",
        "recipients": 4,
        "sent": 2,
        "failed": 0,
        "bounced": 1,
        "skipped": 1,
        "unique_human_opens": 1,
        "machine_opens": 0,
        "open_tracked": 2,
        "open_rate": 0.5,
        "unique_clicks": 1,
        "click_tracked": 1,
        "click_rate": 1.0,
        "unsubscribes": 0,
        "machine_clicks": 0,
    }
    assert (thinkers["group"], thinkers["variant"], thinkers["failed"]) == (
        "Thinkers",
        "Thinkers",
        1,
    )
    assert (thinkers["unique_human_opens"], thinkers["machine_opens"]) == (2, 1)
    assert (thinkers["machine_clicks"], document["total"]["machine_clicks"]) == (1, 1)
    assert (thinkers["open_rate"], thinkers["open_tracked"]) == (0.6667, 3)
    assert (thinkers["click_rate"], thinkers["click_tracked"], thinkers["unsubscribes"]) == (
        0.5,
        2,
        1,
    )
    total = document["total"]
    assert (total["group"], total["recipients"], total["sent"]) == ("all", 9, 6)
    assert (total["open_rate"], total["open_tracked"]) == (0.6, 5)
    assert (total["click_rate"], total["click_tracked"]) == (0.6667, 3)
    assert [(h["opens"], h["clicks"]) for h in document["hourly"]] == [(2, 1), (2, 1)]
    assert [h["hour"][:13] for h in document["hourly"]] == ["2026-05-04T09", "2026-05-04T11"]


def test_rates_are_null_when_nobody_allowed_tracking(
    app: Flask, client: FlaskClient, api_headers: Headers
) -> None:
    with app.app_context(), get_db(app).session() as session:
        campaign_id = create_campaign(session, "Empty", "ana@example.org").id

    document = client.get(f"/api/v1/statistics/{campaign_id}", headers=api_headers).get_json()

    assert document["groups"] == [] and document["hourly"] == []
    assert document["total"]["open_rate"] is None and document["total"]["click_rate"] is None
    assert document["total"]["recipients"] == 0


def test_the_csv_is_an_attachment_with_one_row_per_group_and_a_total(
    app: Flask, client: FlaskClient, api_headers: Headers
) -> None:
    campaign_id = build_campaign(app)

    response = client.get(f"/api/v1/statistics/{campaign_id}.csv", headers=api_headers)

    assert response.status_code == 200
    assert response.mimetype == "text/csv"
    assert response.headers["Content-Disposition"] == (
        f'attachment; filename="campaign-{campaign_id}-statistics.csv"'
    )
    rows = list(csv.reader(io.StringIO(response.get_data(as_text=True))))
    assert rows[0] == COLUMNS
    assert [row[:4] for row in rows[1:]] == [
        ["Managers", "fallback", "4", "2"],
        ["Thinkers", "Thinkers", "5", "4"],
        ["all", "", "9", "6"],
    ]
    open_rate = COLUMNS.index("open_rate")
    assert [row[open_rate] for row in rows[1:]] == ["0.5", "0.6667", "0.6"]


def test_an_unknown_campaign_is_a_json_404(client: FlaskClient, api_headers: Headers) -> None:
    for url in ("/api/v1/statistics/999", "/api/v1/statistics/999.csv"):
        error = error_of(client.get(url, headers=api_headers), 404)
        assert error["code"] == "not_found", url
        assert "999" in error["message"]
    error_of(client.get("/api/v1/statistics/99999999999999999999", headers=api_headers), 404)


def test_statistics_need_a_token(app: Flask, client: FlaskClient) -> None:
    campaign_id = build_campaign(app, PEOPLE[:1], [])
    for url in (f"/api/v1/statistics/{campaign_id}", f"/api/v1/statistics/{campaign_id}.csv"):
        response = client.get(url)
        assert error_of(response, 401)["code"] == "unauthorized"
        assert response.headers["WWW-Authenticate"] == "Bearer"
        bad = client.get(url, headers={"Authorization": "Bearer not-a-token"})
        assert error_of(bad, 401)["code"] == "unauthorized"


def test_a_group_named_like_a_formula_is_defused_in_every_statistics_csv(
    app: Flask,
    client: FlaskClient,
    api_headers: Headers,
    make_subscriber: Any,
) -> None:
    from outreach.campaigns.service import set_variant

    make_subscriber("eve@example.org", sector="=1+2")  # a sector from an imported file
    with get_db(app).session() as session:
        campaign = create_campaign(session, "=HYPERLINK(1)", "a@example.org", groups=["=1+2"])
        set_variant(session, campaign, "=1+2", subject="Hi", mjml=MJML)
        campaign_id = campaign.id
    from outreach.delivery import service

    with get_db(app).session() as session:
        service.start(session, get_campaign(session, campaign_id))
    by_api = client.get(f"/api/v1/statistics/{campaign_id}.csv", headers=api_headers)
    by_cli = app.test_cli_runner().invoke(args=["stats", str(campaign_id), "--csv"])
    for text in (by_api.get_data(as_text=True), by_cli.output):
        rows = list(csv.reader(io.StringIO(text)))
        assert rows[1][:3] == ["'=1+2", "'=1+2", "1"], text
        assert not any(cell.startswith(("=", "+", "@")) for row in rows for cell in row)
