"""`outreach admin create` and `admin token [create|list|revoke]`, used through the web and API."""

from __future__ import annotations

from flask import Flask
from flask.testing import FlaskCliRunner

from tests.conftest import csrf_from


def test_create_with_password_stdin_then_sign_in(app: Flask, runner: FlaskCliRunner) -> None:
    result = runner.invoke(
        args=["admin", "create", "Boss@Example.org", "--password-stdin"],
        input="a long enough password\n",
    )
    assert result.exit_code == 0, result.output
    client = app.test_client()
    token = csrf_from(client.get("/admin/login").get_data(as_text=True))
    response = client.post(
        "/admin/login",
        data={
            "email": "boss@example.org",
            "password": "a long enough password",
            "csrf_token": token,
        },
    )
    assert response.status_code == 302


def test_create_from_prompt_with_confirmation(runner: FlaskCliRunner) -> None:
    result = runner.invoke(
        args=["admin", "create", "p@example.org"], input="prompted password\nprompted password\n"
    )
    assert result.exit_code == 0, result.output
    assert "administrator p@example.org created" in result.output


def test_short_password_and_duplicates_are_refused(runner: FlaskCliRunner) -> None:
    short = runner.invoke(
        args=["admin", "create", "a@example.org", "--password-stdin"], input="short\n"
    )
    assert short.exit_code == 1 and "at least 12 characters" in short.output
    for weak in ("aaaaaaaaaaaa", "123456789012", "password1234", "a@example.org1"):
        refused = runner.invoke(
            args=["admin", "create", "a@example.org", "--password-stdin"], input=f"{weak}\n"
        )
        assert refused.exit_code == 1, weak
        assert "password is too easy to guess" in refused.output, refused.output
    runner.invoke(
        args=["admin", "create", "a@example.org", "--password-stdin"],
        input="long enough password\n",
    )
    again = runner.invoke(
        args=["admin", "create", "a@example.org", "--password-stdin"],
        input="long enough password\n",
    )
    assert again.exit_code == 1 and "exists already" in again.output


def test_token_authenticates_api_requests(app: Flask, runner: FlaskCliRunner) -> None:
    runner.invoke(
        args=["admin", "create", "a@example.org", "--password-stdin"],
        input="long enough password\n",
    )
    result = runner.invoke(args=["admin", "token", "a@example.org"])
    assert result.exit_code == 0
    token = result.output.strip()
    assert token.startswith("otk_") and len(token) > 40
    client = app.test_client()
    assert (
        client.get("/api/v1/groups", headers={"Authorization": f"Bearer {token}"}).status_code
        == 200
    )
    assert (
        client.get("/api/v1/groups", headers={"Authorization": f"Bearer {token}x"}).status_code
        == 401
    )


def test_token_for_unknown_admin_is_an_error(runner: FlaskCliRunner) -> None:
    result = runner.invoke(args=["admin", "token", "ghost@example.org"])
    assert result.exit_code == 1 and "no administrator ghost@example.org" in result.output


def test_password_is_stored_hashed(app: Flask, runner: FlaskCliRunner) -> None:
    import sqlalchemy as sa

    from outreach.accounts.models import AdminUser
    from outreach.db import get_db

    runner.invoke(
        args=["admin", "create", "h@example.org", "--password-stdin"],
        input="long enough password\n",
    )
    with get_db(app).reader() as session:
        stored = session.scalar(sa.select(AdminUser.password_hash))
    assert stored is not None and stored.startswith("scrypt:")
    assert "long enough password" not in stored


def _admin_with_token(runner: FlaskCliRunner, *args: str) -> str:
    runner.invoke(
        args=["admin", "create", "a@example.org", "--password-stdin"],
        input="long enough password\n",
    )
    result = runner.invoke(args=["admin", "token", "a@example.org", *args])
    assert result.exit_code == 0, result.output
    return result.output.strip()


def test_tokens_are_named_and_listed_without_their_secret(runner: FlaskCliRunner) -> None:
    import json

    named = _admin_with_token(runner, "--name", "CRM sync")
    explicit = runner.invoke(args=["admin", "token", "create", "a@example.org", "--name", "CI"])
    assert explicit.exit_code == 0 and explicit.output.startswith("otk_")

    table = runner.invoke(args=["admin", "token", "list"])
    assert table.exit_code == 0, table.output
    header, *rows = table.output.splitlines()
    assert header.split() == ["id", "name", "owner", "prefix", "created", "last", "used", "revoked"]
    assert "CI" in rows[0] and "CRM sync" in rows[1] and named[:12] in rows[1]
    assert named not in table.output
    listed = json.loads(runner.invoke(args=["admin", "token", "list", "--json"]).output)
    assert [(t["id"], t["name"], t["owner"]) for t in listed] == [
        (2, "CI", "a@example.org"),
        (1, "CRM sync", "a@example.org"),
    ]
    assert listed[0]["revoked_at"] is None and listed[0]["created_at"]


def test_a_token_revoked_from_the_cli_is_refused_at_once(
    app: Flask, runner: FlaskCliRunner
) -> None:
    token = _admin_with_token(runner, "--name", "laptop")
    client = app.test_client()
    headers = {"Authorization": f"Bearer {token}"}
    assert client.get("/api/v1/groups", headers=headers).status_code == 200

    result = runner.invoke(args=["admin", "token", "revoke", token[:12]])

    assert result.exit_code == 0, result.output
    assert f"API token 1 ({token[:12]}) of a@example.org revoked" in result.output
    assert client.get("/api/v1/groups", headers=headers).status_code == 401
    listed = runner.invoke(args=["admin", "token", "list"]).output.splitlines()[1]
    assert listed.split()[-2:] != ["-", "-"]  # last used and revoked are both set
    again = runner.invoke(args=["admin", "token", "revoke", "1"])
    assert again.exit_code == 1 and "revoked already" in again.output
    unknown = runner.invoke(args=["admin", "token", "revoke", "otk_nothing1"])
    assert unknown.exit_code == 1 and "no API token otk_nothing1" in unknown.output
