"""/api/v1/tokens: named tokens listed without their secret, made, and revoked at once."""

from __future__ import annotations

import sqlalchemy as sa
from flask import Flask
from flask.testing import FlaskClient

from outreach.db import get_db
from outreach.privacy.models import AuditEntry
from tests.conftest import ADMIN_EMAIL
from tests.support.api import error_of


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def test_a_made_token_is_shown_once_then_listed_without_its_secret(
    client: FlaskClient, api_headers: dict[str, str]
) -> None:
    made = client.post("/api/v1/tokens", json={"name": "CRM sync"}, headers=api_headers)

    assert made.status_code == 201, made.get_json()
    document = made.get_json()
    secret = document["token"]
    assert secret.startswith("otk_") and document["prefix"] == secret[:12]
    assert document["name"] == "CRM sync" and document["owner"] == ADMIN_EMAIL
    assert document["revoked_at"] is None
    assert client.get("/api/v1/groups", headers=bearer(secret)).status_code == 200

    listed = client.get("/api/v1/tokens", headers=api_headers)
    assert listed.status_code == 200
    tokens = listed.get_json()
    assert [t["name"] for t in tokens] == ["CRM sync", ""]  # newest first; the fixture's
    assert all("token" not in t for t in tokens)
    assert secret not in listed.get_data(as_text=True)
    assert tokens[0]["last_used_at"] is not None  # it was used above
    assert set(tokens[0]) == {
        "id",
        "name",
        "owner",
        "prefix",
        "created_at",
        "last_used_at",
        "revoked_at",
    }


def test_a_revoked_token_is_refused_at_once_and_the_revocation_audited(
    app: Flask, client: FlaskClient, api_headers: dict[str, str]
) -> None:
    made = client.post("/api/v1/tokens", json={"name": "laptop"}, headers=api_headers).get_json()
    assert client.get("/api/v1/groups", headers=bearer(made["token"])).status_code == 200

    revoked = client.delete(f"/api/v1/tokens/{made['id']}", headers=api_headers)

    assert revoked.status_code == 200, revoked.get_json()
    assert revoked.get_json()["revoked_at"] is not None
    error = error_of(client.get("/api/v1/groups", headers=bearer(made["token"])), 401)
    assert "revoked" in error["message"]
    assert client.get("/api/v1/groups", headers=api_headers).status_code == 200  # the other
    with get_db(app).reader() as session:
        entry = session.scalars(
            sa.select(AuditEntry).where(AuditEntry.action == "api token revoked")
        ).one()
    assert (entry.actor, entry.subject_type, entry.subject_id) == (
        ADMIN_EMAIL,
        "api_token",
        made["id"],
    )
    assert entry.details["prefix"] == made["prefix"] and made["token"] not in str(entry.details)


def test_a_token_may_revoke_itself(client: FlaskClient, api_headers: dict[str, str]) -> None:
    own = client.get("/api/v1/tokens", headers=api_headers).get_json()[0]

    assert client.delete(f"/api/v1/tokens/{own['id']}", headers=api_headers).status_code == 200
    error_of(client.get("/api/v1/tokens", headers=api_headers), 401)


def test_revoking_twice_or_an_unknown_token_is_an_error(
    client: FlaskClient, api_headers: dict[str, str]
) -> None:
    made = client.post("/api/v1/tokens", json={"name": "once"}, headers=api_headers).get_json()
    client.delete(f"/api/v1/tokens/{made['id']}", headers=api_headers)

    again = error_of(client.delete(f"/api/v1/tokens/{made['id']}", headers=api_headers), 409)
    assert "revoked already" in again["message"]
    missing = error_of(client.delete("/api/v1/tokens/999", headers=api_headers), 404)
    assert "no API token 999" in missing["message"]


def test_a_token_needs_a_name_of_at_most_100_characters(
    client: FlaskClient, api_headers: dict[str, str]
) -> None:
    for body in ({}, {"name": ""}, {"name": "x" * 101}, {"name": "ok", "admin": 1}):
        error_of(client.post("/api/v1/tokens", json=body, headers=api_headers), 422)


def test_tokens_need_a_token(client: FlaskClient) -> None:
    error_of(client.get("/api/v1/tokens"), 401)
    error_of(client.post("/api/v1/tokens", json={"name": "sneaky"}), 401)
