"""Settings without the browser: `outreach settings show|set` and /api/v1/settings change
the same notice as Admin › Settings, each changed text a new version."""

from __future__ import annotations

import json
from pathlib import Path

from flask import Flask
from flask.testing import FlaskClient

from tests.support.api import error_of

KEYS = {
    "controller_name",
    "postal_address",
    "contact_email",
    "first_layer_responsible",
    "first_layer_purpose",
    "first_layer_legitimation",
    "first_layer_recipients",
    "first_layer_rights",
    "first_layer_additional",
    "full_text",
}


def show(app: Flask) -> dict[str, object]:
    result = app.test_cli_runner().invoke(args=["settings", "show", "--json"])
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)  # type: ignore[no-any-return]


def test_the_command_line_shows_and_sets_each_setting(app: Flask, tmp_path: Path) -> None:
    runner = app.test_cli_runner()
    first = show(app)
    assert set(first) == KEYS | {"version", "hash", "created_at"} and first["version"] == 1

    named = runner.invoke(args=["settings", "set", "controller_name", "Ana García Consulting"])
    assert named.exit_code == 0, named.output
    assert named.output.strip() == "notice version 2 is now in force (controller_name changed)"
    same = runner.invoke(args=["settings", "set", "controller_name", "Ana García Consulting "])
    assert same.output.strip() == "nothing changed: notice version 2 stays in force"
    notice = tmp_path / "notice.txt"
    notice.write_bytes(b"\xef\xbb\xbfWho we are.  \r\n\r\nWhat we keep.\r\n\r\n")
    texts = runner.invoke(args=["settings", "set", "full_text", "--file", str(notice)])
    assert texts.exit_code == 0, texts.output
    shown = show(app)
    assert shown["version"] == 3 and shown["full_text"] == "Who we are.\n\nWhat we keep."
    assert shown["controller_name"] == "Ana García Consulting"
    assert shown["postal_address"] == first["postal_address"]

    several = runner.invoke(
        args=[
            "settings",
            "set",
            "postal_address",
            "2 Calle Mayor",
            "contact_email",
            "p@ana.example",
        ]
    )
    assert several.output.strip() == (
        "notice version 4 is now in force (postal_address, contact_email changed)"
    )
    shown = show(app)
    assert (shown["version"], shown["postal_address"], shown["contact_email"]) == (
        4,
        "2 Calle Mayor",
        "p@ana.example",
    )
    odd = runner.invoke(args=["settings", "set", "postal_address", "x", "contact_email"])
    assert odd.exit_code == 2 and "KEY VALUE pairs" in odd.output

    listing = runner.invoke(args=["settings", "show"])
    assert "notice version 4 of " in listing.output
    assert "controller_name: Ana García Consulting" in listing.output
    assert "full_text:\n    Who we are.\n\n    What we keep.\n" in listing.output
    page = app.test_client().get("/privacy").get_data(as_text=True)
    assert "Version 4" in page and "<p>What we keep.</p>" in page


def test_the_command_line_refuses_what_the_admin_refuses(app: Flask, tmp_path: Path) -> None:
    runner = app.test_cli_runner()

    unknown = runner.invoke(args=["settings", "set", "colour", "red"])
    assert unknown.exit_code == 2 and "'colour' is not one of" in unknown.output
    empty = runner.invoke(args=["settings", "set", "postal_address", "  "])
    assert empty.exit_code == 1
    assert "controller address is required (postal_address)" in empty.output
    bad = runner.invoke(args=["settings", "set", "contact_email", "privacy at example"])
    assert bad.exit_code == 1 and "not a valid address" in bad.output
    both = runner.invoke(args=["settings", "set", "full_text", "x", "--file", "-"], input="y")
    assert both.exit_code == 2 and "either VALUE or --file" in both.output
    (tmp_path / "latin1.txt").write_bytes("Año".encode("latin-1"))
    latin = runner.invoke(
        args=["settings", "set", "full_text", "--file", str(tmp_path / "latin1.txt")]
    )
    assert latin.exit_code == 1 and "is not UTF-8 text" in latin.output
    stdin = runner.invoke(args=["settings", "set", "full_text", "--file", "-"], input="Piped.\n")
    assert stdin.exit_code == 0, stdin.output
    assert show(app)["full_text"] == "Piped." and show(app)["version"] == 2


def test_the_api_reads_and_changes_the_same_notice(
    app: Flask, client: FlaskClient, api_headers: dict[str, str], auth: FlaskClient
) -> None:
    document = client.get("/api/v1/settings", headers=api_headers)
    assert document.status_code == 200
    assert document.get_json() == show(app)

    changed = client.patch(
        "/api/v1/settings",
        json={"postal_address": "Calle Mayor 1, 28013 Madrid", "full_text": "One.\r\n\r\nTwo."},
        headers=api_headers,
    )
    assert changed.status_code == 200, changed.get_json()
    body = changed.get_json()
    assert body["changed"] is True and body["version"] == 2
    assert body["full_text"] == "One.\n\nTwo."
    assert body["controller_name"] == document.get_json()["controller_name"]
    again = client.patch(
        "/api/v1/settings",
        json={"postal_address": "Calle Mayor 1, 28013 Madrid"},
        headers=api_headers,
    )
    assert again.get_json()["changed"] is False and again.get_json()["version"] == 2
    settings_page = auth.get("/admin/settings").get_data(as_text=True)
    assert 'value="Calle Mayor 1, 28013 Madrid"' in settings_page

    assert (
        error_of(
            client.patch("/api/v1/settings", json={"colour": "red"}, headers=api_headers), 422
        )["field"]
        == "colour"
    )
    assert (
        error_of(
            client.patch("/api/v1/settings", json={"contact_email": "nope"}, headers=api_headers),
            422,
        )["field"]
        == "contact_email"
    )
    assert (
        error_of(
            client.patch("/api/v1/settings", json={"full_text": ""}, headers=api_headers), 422
        )["field"]
        == "full_text"
    )
    assert error_of(client.get("/api/v1/settings"), 401)["code"] == "unauthorized"
    assert error_of(client.patch("/api/v1/settings", json={}), 401)["code"] == "unauthorized"
    assert show(app)["version"] == 2


def test_the_settings_are_in_the_openapi_document(client: FlaskClient) -> None:
    document = client.get("/api/v1/openapi.json").get_json()
    operations = document["paths"]["/api/v1/settings"]
    assert set(operations) == {"get", "patch"}
    body = operations["patch"]["requestBody"]["content"]["application/json"]["schema"]
    schema = document["components"]["schemas"][body["$ref"].rsplit("/", 1)[-1]]
    assert set(schema["properties"]) == KEYS and schema["additionalProperties"] is False
    assert "422" in operations["patch"]["responses"]
