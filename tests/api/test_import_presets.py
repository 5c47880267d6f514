"""/api/v1/contacts/import with the options of the command line (preset, mapping, sheet,
sector columns), its preview, and the import history."""

from __future__ import annotations

import io
from collections.abc import Callable

from flask.testing import FlaskClient
from openpyxl import Workbook
from werkzeug.test import TestResponse

from tests.support.exports import LINKEDIN, MAILCHIMP

Upload = Callable[..., TestResponse]


def test_a_mailchimp_export_through_the_api_keeps_its_evidence(upload_csv: Upload) -> None:
    response = upload_csv(MAILCHIMP, name="subscribed_members.csv", source="Mailchimp")

    assert response.status_code == 200, response.get_json()
    report = response.get_json()
    assert (report["preset"], report["status"], report["created"]) == (
        "Mailchimp audience export (subscribed)",
        "subscribed",
        1,
    )
    assert report["columns"]["OPTIN_TIME"] == "consent evidence"
    assert report["tag_groups_created"] == ["Conference 2023", "VIP"]
    assert isinstance(report["import_id"], int)


def test_options_a_workbook_and_the_history(
    client: FlaskClient, api_headers: dict[str, str], upload_csv: Upload
) -> None:
    book = Workbook()
    book.active.append(["Mail", "Cargo"])
    book.active.append(["eva@example.org", "Periodista"])
    raw = io.BytesIO()
    book.save(raw)

    response = upload_csv(
        raw.getvalue(),
        name="people.xlsx",
        source="fair",
        map="Mail=email\nCargo=attributes.cargo",
        sector_from="Cargo",
        status="subscribed",
    )

    assert response.status_code == 200, response.get_json()
    report = response.get_json()
    assert report["layout"] == "Excel workbook, sheet 'Sheet'"
    assert report["sectors_from_rules"] == {"Journalists": 1}
    assert "declared by the importer" in report["hint"]
    bad = upload_csv("email\nx@example.org\n", source="fair", preset="hubspot")
    assert bad.status_code == 422 and "preset" in str(bad.get_json())
    runs = client.get("/api/v1/contacts/imports", headers=api_headers)
    assert runs.status_code == 200
    [run] = runs.get_json()
    assert (run["file_name"], run["surface"], run["status"], run["counts"]["created"]) == (
        "people.xlsx",
        "api",
        "subscribed",
        1,
    )
    assert run["actor"].startswith("API token of ")


def test_a_preview_maps_the_first_rows_and_writes_nothing(
    client: FlaskClient, api_headers: dict[str, str]
) -> None:
    response = client.post(
        "/api/v1/contacts/import/preview",
        data={"file": (io.BytesIO(LINKEDIN.encode()), "Connections.csv"), "source": "LinkedIn"},
        headers=api_headers,
        content_type="multipart/form-data",
    )

    assert response.status_code == 200, response.get_json()
    found = response.get_json()
    assert (found["preset"], found["status"], found["sector_from"]) == (
        "linkedin",
        "pending",
        ["Position", "Company"],
    )
    assert found["counts"] == {"rows": 2, "valid": 1, "invalid": 1}
    [lucia] = found["rows"]
    assert (lucia["email"], lucia["sector"], lucia["sector_from_rule"]) == (
        "lucia@example.org",
        "Journalists",
        True,
    )
    assert {"header": "Position", "field": "attributes.position"} in found["columns"]
    assert found["sectors_from_rules"] == {"Journalists": 1}
    listed = client.get("/api/v1/contacts", headers=api_headers).get_json()
    assert listed["items"] == []
