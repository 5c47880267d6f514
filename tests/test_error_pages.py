"""Errors answer in the language of the surface: HTML pages for people everywhere outside
/api, the JSON error document only under /api."""

from __future__ import annotations

import pytest
from flask import Flask
from flask.testing import FlaskClient
from werkzeug.test import TestResponse

from tests.support.api import error_of

BROWSER = {"Accept": "text/html,application/xhtml+xml,*/*;q=0.8"}


def html_page(response: TestResponse, status: int) -> str:
    """The text of an HTML error page, after checking it is one."""
    assert response.status_code == status, response.get_data(as_text=True)[:300]
    assert response.mimetype == "text/html", (response.mimetype, response.get_data(as_text=True))
    text = response.get_data(as_text=True)
    assert text.lstrip().lower().startswith("<!doctype html>")
    assert '{"error"' not in text and "Traceback" not in text
    return text


@pytest.mark.parametrize("path", ["/nope", "/admin/nope", "/t/nope", "/confirm/a/b"])
def test_unknown_urls_answer_a_browser_with_a_page(client: FlaskClient, path: str) -> None:
    page = html_page(client.get(path, headers=BROWSER), 404)
    assert "Page not found" in page and "<title>Error 404" in page


def test_an_unknown_admin_url_links_back_to_the_dashboard(auth: FlaskClient) -> None:
    page = html_page(auth.get("/admin/campaigns/1/nope", headers=BROWSER), 404)
    assert 'href="/admin/"' in page


def test_a_wrong_method_on_a_public_route_is_a_405_page_with_allow(client: FlaskClient) -> None:
    response = client.delete("/subscribe", headers=BROWSER)
    page = html_page(response, 405)
    assert "does not take that request" in page
    assert set(response.headers["Allow"].replace(" ", "").split(",")) >= {"GET", "POST"}
    html_page(client.put("/admin/login", headers=BROWSER), 405)


def test_a_form_without_its_csrf_token_is_a_page(client: FlaskClient, admin_user: str) -> None:
    response = client.post("/admin/login", data={"email": admin_user, "password": "x"})
    assert "The form expired" in html_page(response, 400)


def test_the_api_keeps_its_json_errors(client: FlaskClient, api_headers: dict[str, str]) -> None:
    assert error_of(client.get("/api/v1/nope", headers=BROWSER), 404)["code"] == "not_found"
    assert error_of(client.get("/api/v1/nope", headers=api_headers), 404)["code"] == "not_found"
    wrong = error_of(client.put("/api/v1/contacts", headers=api_headers), 405)
    assert wrong["code"] == "method_not_allowed"
    assert error_of(client.get("/api/v1/contacts"), 401)["code"] == "unauthorized"


def _add_failing_routes(app: Flask) -> None:
    def boom() -> str:
        raise RuntimeError("secret detail: the database password is hunter2")

    app.add_url_rule("/boom", "boom", boom)
    app.add_url_rule("/admin/boom", "admin_boom", boom)
    app.add_url_rule("/api/v1/boom", "api_boom", boom)
    app.config["PROPAGATE_EXCEPTIONS"] = False  # as in production (tests re-raise otherwise)


def test_an_unexpected_exception_is_a_plain_500_page_without_a_traceback(
    app: Flask, caplog: pytest.LogCaptureFixture
) -> None:
    _add_failing_routes(app)
    client = app.test_client()
    for path in ("/boom", "/admin/boom"):
        page = html_page(client.get(path, headers=BROWSER), 500)
        assert "Something went wrong on our side" in page
        assert "hunter2" not in page and "RuntimeError" not in page
    error = error_of(client.get("/api/v1/boom"), 500)
    assert error["code"] == "internal_server_error" and "hunter2" not in error["message"]
    assert "hunter2" in caplog.text  # the detail goes to the log, for the operator
