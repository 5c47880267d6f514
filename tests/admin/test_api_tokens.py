"""Admin › Settings › API tokens: listed, made with a name (secret shown once), revoked."""

from __future__ import annotations

import re

from flask import Flask
from flask.testing import FlaskClient

from outreach.accounts.service import get_admin, issue_token
from tests.conftest import ADMIN_EMAIL, csrf_from
from tests.support.pages import Transaction, rows_of


def settings_page(auth: FlaskClient) -> str:
    response = auth.get("/admin/settings")
    assert response.status_code == 200
    return response.get_data(as_text=True)


def test_a_named_token_is_made_shown_once_and_works(app: Flask, auth: FlaskClient) -> None:
    page = settings_page(auth)
    assert "API tokens" in page and rows_of(page, "tokens") == ["No API tokens yet."]

    made = auth.post(
        "/admin/settings/tokens", data={"name": "CRM sync", "csrf_token": csrf_from(page)}
    )

    assert made.status_code == 200 and made.headers["Cache-Control"] == "no-store"
    html = made.get_data(as_text=True)
    secret = re.search(r'id="new-token".*?<code>(otk_[^<]+)</code>', html, flags=re.S)
    assert secret, html
    token = secret.group(1)
    [row] = rows_of(html, "tokens")
    assert row.startswith(f"CRM sync {token[:12]}… {ADMIN_EMAIL}") and "Revoke" in row
    assert (
        app.test_client()
        .get("/api/v1/groups", headers={"Authorization": f"Bearer {token}"})
        .status_code
        == 200
    )
    again = settings_page(auth)
    assert token not in again and token[:12] in again  # shown once, then only its prefix


def test_making_a_token_needs_the_csrf_token(auth: FlaskClient) -> None:
    assert auth.post("/admin/settings/tokens", data={"name": "forged"}).status_code == 400
    assert rows_of(settings_page(auth), "tokens") == ["No API tokens yet."]


def test_revoke_refuses_the_token_at_once(app: Flask, auth: FlaskClient, db: Transaction) -> None:
    with db() as session:
        token = issue_token(session, get_admin(session, ADMIN_EMAIL), name="laptop")
    headers = {"Authorization": f"Bearer {token}"}
    api = app.test_client()
    assert api.get("/api/v1/groups", headers=headers).status_code == 200
    page = settings_page(auth)
    [row] = rows_of(page, "tokens")
    assert row.startswith("laptop") and " — Revoke" in row  # used, never revoked

    revoked = auth.post("/admin/settings/tokens/1/revoke", data={"csrf_token": csrf_from(page)})

    assert revoked.status_code == 302 and revoked.location.endswith("/admin/settings#api-tokens")
    assert api.get("/api/v1/groups", headers=headers).status_code == 401
    after = auth.get("/admin/settings").get_data(as_text=True)
    assert f"API token {token[:12]}… (laptop) of {ADMIN_EMAIL} revoked." in after
    [row] = rows_of(after, "tokens")
    assert "Revoke" not in row and row.count("UTC") == 3  # created, last used, revoked
    twice = auth.post("/admin/settings/tokens/1/revoke", data={"csrf_token": csrf_from(page)})
    assert "revoked already" in auth.get(twice.location).get_data(as_text=True)
