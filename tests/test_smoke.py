"""The application starts and every protected route asks for credentials."""

from __future__ import annotations

import re

from flask import Flask
from flask.testing import FlaskClient

# Routes anyone may call. Everything else under /admin or /api must refuse strangers.
PUBLIC_ROUTES = {"/admin/login", "/api/v1/openapi.json", "/static/<path:filename>"}


def _concrete(rule: str) -> str:
    return re.sub(r"<(?:[^:>]+:)?([^>]+)>", "1", rule)


def test_every_protected_route_refuses_strangers(app: Flask, client: FlaskClient) -> None:
    rules = [r for r in app.url_map.iter_rules() if r.rule not in PUBLIC_ROUTES]
    protected = [r for r in rules if r.rule.startswith(("/admin", "/api"))]
    assert protected, "no admin or API routes registered"
    for rule in protected:
        for method in sorted((rule.methods or set()) - {"HEAD", "OPTIONS"}):
            response = client.open(_concrete(rule.rule), method=method)
            if rule.rule.startswith("/api"):
                assert response.status_code == 401, (method, rule.rule)
                assert response.get_json()["error"]["code"] == "unauthorized"
            elif method == "GET":
                assert response.status_code == 302, (method, rule.rule)
                assert "/admin/login" in response.headers["Location"]
            else:
                # Forms without a CSRF token are refused before anything else runs.
                assert response.status_code in (302, 400), (method, rule.rule)


def test_login_logout_and_dashboard(auth: FlaskClient) -> None:
    page = auth.get("/admin/")
    assert page.status_code == 200
    assert "Dashboard" in page.get_data(as_text=True)


def test_wrong_password_is_refused(client: FlaskClient, admin_user: str) -> None:
    from tests.conftest import csrf_from

    token = csrf_from(client.get("/admin/login").get_data(as_text=True))
    response = client.post(
        "/admin/login",
        data={"email": admin_user, "password": "wrong password!", "csrf_token": token},
    )
    assert response.status_code == 401
    assert client.get("/admin/").status_code == 302


def test_login_form_without_csrf_token_is_refused(client: FlaskClient, admin_user: str) -> None:
    from tests.conftest import ADMIN_PASSWORD

    response = client.post("/admin/login", data={"email": admin_user, "password": ADMIN_PASSWORD})
    assert response.status_code == 400


def test_login_never_redirects_off_site(client: FlaskClient, admin_user: str) -> None:
    from tests.conftest import ADMIN_PASSWORD, csrf_from

    for target in ("https://evil.example/", "//evil.example/x", "/\\evil.example"):
        token = csrf_from(client.get("/admin/login").get_data(as_text=True))
        response = client.post(
            f"/admin/login?next={target}",
            data={"email": admin_user, "password": ADMIN_PASSWORD, "csrf_token": token},
        )
        assert response.headers["Location"] == "/admin/", target
        client.post(
            "/admin/logout",
            data={"csrf_token": csrf_from(client.get("/admin/").get_data(as_text=True))},
        )


def test_openapi_document_is_generated_and_valid(client: FlaskClient) -> None:
    from openapi_spec_validator import validate

    spec = client.get("/api/v1/openapi.json").get_json()
    validate(spec)
    assert spec["openapi"].startswith("3.")
    assert "/api/v1/groups" in spec["paths"]
