"""Sign-in that resists guessing: after a few failures per account or per address, every
attempt waits (429 with Retry-After, even with the right password), and a block is audited."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import sqlalchemy as sa
from flask import Flask
from flask.testing import FlaskClient
from werkzeug.test import TestResponse

from outreach import create_app
from outreach.accounts.models import AdminUser, SignInThrottle
from outreach.db import get_db, utcnow
from outreach.privacy.models import AuditEntry
from tests.conftest import ADMIN_PASSWORD, _cheap_admin_hash, csrf_from, make_settings
from tests.support.pages import Transaction

WRONG = "not the password at all"
FREE = 5  # failures per account before the first delay (OUTREACH_SIGN_IN_FREE_FAILURES)
IP_FREE = 20  # per client address (OUTREACH_SIGN_IN_IP_FREE_FAILURES)


class Browser:
    """A client posting the real sign-in form from one address."""

    def __init__(self, app: Flask, address: str = "192.0.2.10") -> None:
        self.client: FlaskClient = app.test_client()
        self.address = address
        self.csrf = csrf_from(self.client.get("/admin/login").get_data(as_text=True))

    def sign_in(self, email: str, password: str) -> TestResponse:
        return self.client.post(
            "/admin/login",
            data={"email": email, "password": password, "csrf_token": self.csrf},
            environ_base={"REMOTE_ADDR": self.address},
        )

    def fail(self, email: str, times: int) -> None:
        for _ in range(times):
            assert self.sign_in(email, WRONG).status_code == 401


def assert_throttled(response: TestResponse) -> int:
    """The 429 answer; returns its Retry-After."""
    assert response.status_code == 429, response.get_data(as_text=True)
    retry_after = int(response.headers["Retry-After"])
    unit = "second" if retry_after == 1 else "seconds"
    message = f"Too many failed sign-ins; try again in {retry_after} {unit}"
    assert message in response.get_data(as_text=True)
    return retry_after


def let_blocks_pass(db: Transaction) -> None:
    """Move every block into the past (the delay went by)."""
    with db() as session:
        session.execute(
            sa.update(SignInThrottle)
            .where(SignInThrottle.blocked_until.is_not(None))
            .values(blocked_until=utcnow() - timedelta(seconds=1))
        )


def test_the_right_password_waits_after_too_many_wrong_ones(
    app: Flask, admin_user: str, db: Transaction
) -> None:
    browser = Browser(app)
    browser.fail(admin_user, FREE + 1)  # the sixth failure blocks the account for 1 s

    assert assert_throttled(browser.sign_in(admin_user, ADMIN_PASSWORD)) == 1
    assert assert_throttled(browser.sign_in(admin_user, WRONG)) == 1  # not even checked

    let_blocks_pass(db)
    assert browser.sign_in(admin_user, ADMIN_PASSWORD).status_code == 302
    with db() as session:  # the success cleared the account's failures (not the address's)
        kinds = session.scalars(sa.select(SignInThrottle.kind)).all()
    assert kinds == ["ip"]


def test_each_further_failure_doubles_the_delay(
    app: Flask, admin_user: str, db: Transaction
) -> None:
    browser = Browser(app)
    browser.fail(admin_user, FREE)
    for delay in (1, 2, 4, 8):
        assert browser.sign_in(admin_user, WRONG).status_code == 401  # counted, then blocks
        assert 0 < assert_throttled(browser.sign_in(admin_user, ADMIN_PASSWORD)) <= delay
        let_blocks_pass(db)

    with db() as session:
        entries = session.scalars(sa.select(AuditEntry).order_by(AuditEntry.id)).all()
    assert [e.details["retry_after"] for e in entries] == [1, 2, 4, 8]


def test_the_delay_is_capped(app: Flask, admin_user: str, db: Transaction) -> None:
    with db() as session:
        session.add(
            SignInThrottle(
                kind="account",
                key=admin_user,
                failures=100,
                blocked_until=utcnow() - timedelta(seconds=1),
                expires_at=utcnow() + timedelta(minutes=10),
            )
        )
    browser = Browser(app)
    browser.fail(admin_user, 1)

    assert 895 <= assert_throttled(browser.sign_in(admin_user, ADMIN_PASSWORD)) <= 900


def test_a_success_clears_the_accounts_failures(app: Flask, admin_user: str) -> None:
    browser = Browser(app)
    browser.fail(admin_user, FREE - 1)
    assert browser.sign_in(admin_user, ADMIN_PASSWORD).status_code == 302

    again = Browser(app)
    again.fail(admin_user, FREE)  # five free failures again, not one
    assert again.sign_in(admin_user, ADMIN_PASSWORD).status_code == 302


def test_failures_long_ago_are_forgotten(app: Flask, admin_user: str, db: Transaction) -> None:
    browser = Browser(app)
    browser.fail(admin_user, FREE)
    with db() as session:
        session.execute(sa.update(SignInThrottle).values(expires_at=utcnow()))

    browser.fail(admin_user, FREE)  # the window went by: five free failures again
    assert browser.sign_in(admin_user, ADMIN_PASSWORD).status_code == 302


def test_an_unknown_address_is_throttled_the_same_way(app: Flask, admin_user: str) -> None:
    browser = Browser(app)
    answers = []
    for email in (admin_user, "ghost@example.org"):
        for _ in range(FREE + 1):
            response = browser.sign_in(email, WRONG)
            answers.append(
                (email, response.status_code, b"wrong address or password" in response.data)
            )
        blocked = browser.sign_in(email, ADMIN_PASSWORD)
        answers.append((email, blocked.status_code, int(blocked.headers["Retry-After"])))

    known = [a[1:] for a in answers if a[0] == admin_user]
    unknown = [a[1:] for a in answers if a[0] != admin_user]
    assert known == unknown == [(401, True)] * (FREE + 1) + [(429, 1)]


def test_one_address_guessing_many_accounts_is_throttled(
    app: Flask, admin_user: str, db: Transaction
) -> None:
    accounts = [f"admin{n}@example.org" for n in range(7)]
    with db() as session:
        session.add_all(AdminUser(email=a, password_hash=_cheap_admin_hash()) for a in accounts)
    guesser = Browser(app, "198.51.100.7")
    for account in accounts:
        guesser.fail(account, 3)  # 21 failures, never more than 3 for one account

    assert_throttled(guesser.sign_in(admin_user, ADMIN_PASSWORD))
    assert Browser(app, "198.51.100.8").sign_in(admin_user, ADMIN_PASSWORD).status_code == 302
    with db() as session:
        blocked = session.scalars(
            sa.select(SignInThrottle.kind).where(SignInThrottle.blocked_until.is_not(None))
        ).all()
    assert blocked == ["ip"]  # the 21st failure (IP_FREE + 1) blocked the address only


def test_a_block_is_audited_without_the_password(
    app: Flask, admin_user: str, db: Transaction
) -> None:
    browser = Browser(app)
    browser.fail(admin_user, FREE + 1)
    browser.sign_in(admin_user, ADMIN_PASSWORD)  # refused: no second entry for it

    with get_db(app).reader() as session:
        entries = session.scalars(
            sa.select(AuditEntry).where(AuditEntry.action == "sign-in throttled")
        ).all()
    assert [(e.actor, e.subject_type, e.details) for e in entries] == [
        (
            "system",
            "sign_in_throttle",
            {"kind": "account", "key": admin_user, "failures": FREE + 1, "retry_after": 1},
        )
    ]
    assert WRONG not in str(entries[0].details) and ADMIN_PASSWORD not in str(entries[0].details)


def test_bad_api_tokens_from_one_address_are_throttled(
    app: Flask, api_headers: dict[str, str]
) -> None:
    client = app.test_client()
    guesser, other = {"REMOTE_ADDR": "203.0.113.5"}, {"REMOTE_ADDR": "203.0.113.6"}
    for _ in range(30):  # no token at all is not a guess: never counted
        assert client.get("/api/v1/groups", environ_base=guesser).status_code == 401
    for n in range(IP_FREE + 1):
        bad = {"Authorization": f"Bearer otk_guess{n}"}
        assert client.get("/api/v1/groups", headers=bad, environ_base=guesser).status_code == 401

    refused = client.get("/api/v1/groups", headers=api_headers, environ_base=guesser)
    assert refused.status_code == 429 and refused.headers["Retry-After"] == "1"
    assert refused.get_json()["error"] == {
        "code": "throttled",
        "message": "Too many failed API tokens; try again in 1 second",
    }
    assert client.get("/api/v1/groups", headers=api_headers, environ_base=other).status_code == 200


def test_the_thresholds_are_settings(tmp_path: Path, database_url: str) -> None:
    app = create_app(make_settings(tmp_path, database_url, sign_in_free_failures=1))
    with app.app_context(), get_db(app).session() as session:
        session.add(AdminUser(email="few@example.org", password_hash=_cheap_admin_hash()))
    browser = Browser(app)
    browser.fail("few@example.org", 2)

    assert_throttled(browser.sign_in("few@example.org", ADMIN_PASSWORD))
    get_db(app).engine.dispose()
