"""/api/v1/groups/sector-rules: read, replace (validated) and apply the sector rules."""

from __future__ import annotations

from collections.abc import Callable

from flask.testing import FlaskClient
from werkzeug.test import TestResponse

from tests.admin.test_sector_rules import PEOPLE, sectors
from tests.support.pages import Transaction

Upload = Callable[..., TestResponse]


def test_the_api_reads_replaces_and_applies_the_rules(
    client: FlaskClient, api_headers: dict[str, str], upload_csv: Upload, db: Transaction
) -> None:
    assert upload_csv(PEOPLE, source="fair", sector_from="none").status_code == 200
    rules = client.get("/api/v1/groups/sector-rules", headers=api_headers).get_json()["rules"]
    assert rules[0]["sector"] == "Journalists"

    bad = client.put(
        "/api/v1/groups/sector-rules",
        json={"rules": [{"sector": "Trades", "keywords": []}]},
        headers=api_headers,
    )
    assert bad.status_code == 422 and "rule 1 (Trades)" in str(bad.get_json())
    put = client.put(
        "/api/v1/groups/sector-rules",
        json={"rules": [{"sector": "Trades", "keywords": ["plumber"]}]},
        headers=api_headers,
    )
    assert put.status_code == 200
    preview = client.post(
        "/api/v1/groups/sector-rules/classify", json={}, headers=api_headers
    ).get_json()
    assert (preview["sectors"], preview["applied"]) == ({"Trades": 1}, False)
    assert sectors(db)["c@example.org"] is None
    done = client.post(
        "/api/v1/groups/sector-rules/classify", json={"apply": True}, headers=api_headers
    ).get_json()
    assert done["changed"] == 1 and sectors(db)["c@example.org"] == "Trades"
