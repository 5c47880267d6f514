"""Admin sessions that end: sign-out ends every copy, and idle or old sessions expire."""

from __future__ import annotations

import time

from flask import Flask
from flask.testing import FlaskClient

from tests.conftest import ADMIN_PASSWORD, csrf_from


def signed_in(app: Flask, email: str) -> FlaskClient:
    client = app.test_client()
    token = csrf_from(client.get("/admin/login").get_data(as_text=True))
    response = client.post(
        "/admin/login", data={"email": email, "password": ADMIN_PASSWORD, "csrf_token": token}
    )
    assert response.status_code == 302
    return client


def is_in(client: FlaskClient) -> bool:
    response = client.get("/admin/contacts")
    assert response.status_code in (200, 302)
    return response.status_code == 200


def test_a_copied_session_cookie_is_refused_after_sign_out(app: Flask, admin_user: str) -> None:
    client = signed_in(app, admin_user)
    cookie = client.get_cookie("session")
    assert cookie is not None and is_in(client)
    token = csrf_from(client.get("/admin/").get_data(as_text=True))
    assert client.post("/admin/logout", data={"csrf_token": token}).status_code == 302

    thief = app.test_client()
    thief.set_cookie("session", cookie.value)  # the cookie as it was before signing out
    assert not is_in(thief)
    assert thief.get("/admin/").status_code == 302


def test_signing_out_ends_the_other_sessions_too(app: Flask, admin_user: str) -> None:
    laptop, phone = signed_in(app, admin_user), signed_in(app, admin_user)
    assert is_in(laptop) and is_in(phone)
    token = csrf_from(laptop.get("/admin/").get_data(as_text=True))
    laptop.post("/admin/logout", data={"csrf_token": token})
    assert not is_in(phone)
    assert is_in(signed_in(app, admin_user))  # signing in again works


def test_an_idle_session_ends(app: Flask, admin_user: str) -> None:
    client = signed_in(app, admin_user)
    idle = app.extensions["outreach.settings"].session_idle_minutes * 60
    with client.session_transaction() as session:
        session["admin_seen"] = time.time() - idle - 1
    assert not is_in(client)


def test_a_session_ends_hours_after_sign_in_however_busy(app: Flask, admin_user: str) -> None:
    client = signed_in(app, admin_user)
    hours = app.extensions["outreach.settings"].session_hours
    with client.session_transaction() as session:
        session["admin_began"] = time.time() - hours * 3600 - 1
    assert not is_in(client)


def test_a_password_change_ends_every_session_and_the_new_password_works(
    app: Flask, admin_user: str
) -> None:
    laptop, phone = signed_in(app, admin_user), signed_in(app, admin_user)
    new = "Quiet-Orchard-Piano-58"

    result = app.test_cli_runner().invoke(
        args=["admin", "password", admin_user, "--password-stdin"], input=f"{new}\n"
    )

    assert result.exit_code == 0, result.output
    assert "its sessions have ended" in result.output
    assert not is_in(laptop) and not is_in(phone)
    client = app.test_client()
    token = csrf_from(client.get("/admin/login").get_data(as_text=True))
    old = {"email": admin_user, "password": ADMIN_PASSWORD, "csrf_token": token}
    assert client.post("/admin/login", data=old).status_code == 401
    assert client.post("/admin/login", data={**old, "password": new}).status_code == 302


def test_a_guessable_new_password_is_refused_and_nothing_ends(app: Flask, admin_user: str) -> None:
    client = signed_in(app, admin_user)

    result = app.test_cli_runner().invoke(
        args=["admin", "password", admin_user, "--password-stdin"], input="password1234\n"
    )

    assert result.exit_code != 0
    assert "too easy to guess" in result.output
    assert is_in(client)


def test_deactivation_ends_sessions_and_refuses_sign_in_and_tokens(
    app: Flask, admin_user: str, api_headers: dict[str, str]
) -> None:
    client = signed_in(app, admin_user)
    cli = app.test_cli_runner()
    assert app.test_client().get("/api/v1/groups", headers=api_headers).status_code == 200

    assert cli.invoke(args=["admin", "deactivate", admin_user]).exit_code == 0

    assert not is_in(client)
    assert app.test_client().get("/api/v1/groups", headers=api_headers).status_code == 401
    other = app.test_client()
    token = csrf_from(other.get("/admin/login").get_data(as_text=True))
    login = {"email": admin_user, "password": ADMIN_PASSWORD, "csrf_token": token}
    assert other.post("/admin/login", data=login).status_code == 401
    assert cli.invoke(args=["admin", "activate", admin_user]).exit_code == 0
    assert other.post("/admin/login", data=login).status_code == 302
    assert not is_in(client)  # the session that ended stays ended
