"""Sign-in throttle: guessing a password or an API token gets slower, then waits.

Policy. Failures are counted per key, each a row of `sign_in_throttle` so that every web
process and worker counts alike:

* `account`: the normalized address typed in the sign-in form, known or not (an unknown
  address is throttled the same way, so the answers never tell whether an account exists);
* `ip`: the client address of the sign-in form (request.remote_addr: put a proxy that
  sets it right, e.g. werkzeug's ProxyFix, in front when there is one);
* `api-ip`: the client address of API requests whose bearer token is wrong (a request
  without any token is not a guess and is not counted).

Within the window (OUTREACH_SIGN_IN_WINDOW_MINUTES, 15, counted from the last failure or
the end of the last block) the first failures of a key are free: 5 per account
(OUTREACH_SIGN_IN_FREE_FAILURES), 20 per address (OUTREACH_SIGN_IN_IP_FREE_FAILURES). Each
further failure blocks the key for 1, 2, 4 … seconds, at most 15 minutes
(OUTREACH_SIGN_IN_MAX_DELAY_SECONDS), and writes an audit entry. While a key is blocked
every attempt — even with the right password or a valid token — is refused with a 429 and
Retry-After before any credential is checked, and is not counted. A successful sign-in
clears its account's count, not its address's (knowing one password must not reset the
count of guesses against the others).

The command line is not throttled: it has direct database access and no credential to
guess.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime, timedelta

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from outreach.accounts.models import AdminUser, SignInThrottle
from outreach.accounts.service import authenticate, user_for_token
from outreach.config import Settings
from outreach.contacts.identity import normalize_email
from outreach.db import settings_of, utcnow
from outreach.errors import AuthenticationError, TooManyAttempts, ValidationError
from outreach.privacy.models import AuditEntry

MAX_KEY = 320


@dataclass(frozen=True)
class ThrottleKey:
    """What failures are counted against, and how many are free."""

    kind: str
    key: str
    free: int


def account_key(email: str) -> str:
    """The account an address names, normalized as administrators are looked up."""
    try:
        return normalize_email(email)[1][:MAX_KEY]
    except ValidationError:
        return email.strip().lower()[:MAX_KEY]


def sign_in_keys(settings: Settings, email: str, address: str) -> list[ThrottleKey]:
    """The keys a sign-in attempt counts against: its account and its client address."""
    return [
        ThrottleKey("account", account_key(email), settings.sign_in_free_failures),
        ThrottleKey("ip", address[:MAX_KEY], settings.sign_in_ip_free_failures),
    ]


def check_throttle(
    session: Session, keys: list[ThrottleKey], what: str = "sign-ins", now: datetime | None = None
) -> None:
    """Raise TooManyAttempts while any of `keys` is blocked (nothing is counted)."""
    now = now or utcnow()
    until = session.scalar(
        sa.select(sa.func.max(SignInThrottle.blocked_until)).where(
            sa.or_(
                *[(SignInThrottle.kind == k.kind) & (SignInThrottle.key == k.key) for k in keys]
            ),
            SignInThrottle.blocked_until > now,
        )
    )
    if until is not None:
        raise TooManyAttempts(max(1, math.ceil((until - now).total_seconds())), what)


def record_failure(session: Session, keys: list[ThrottleKey], now: datetime | None = None) -> None:
    """Count one failure against each key, blocking those past their free failures."""
    now = now or utcnow()
    settings = settings_of(session)
    window = timedelta(minutes=settings.sign_in_window_minutes)
    for key in keys:
        row = _row(session, key, now)
        if row.expires_at <= now:  # a quiet window went by: the count starts again
            row.failures, row.blocked_until = 0, None
        row.failures += 1
        excess = row.failures - key.free
        if excess > 0:
            delay = min(2 ** min(excess - 1, 30), settings.sign_in_max_delay_seconds)
            row.blocked_until = now + timedelta(seconds=delay)
            _audit_block(session, row, delay)
        row.expires_at = max(now, row.blocked_until or now) + window
    session.flush()


def clear_failures(session: Session, key: ThrottleKey) -> None:
    """Forget the failures of one key (a successful sign-in clears its account's)."""
    session.execute(
        sa.delete(SignInThrottle).where(
            SignInThrottle.kind == key.kind, SignInThrottle.key == key.key
        )
    )


def sign_in(session: Session, email: str, password: str, address: str) -> AdminUser:
    """authenticate(), throttled per account and per client address (see the module)."""
    keys = sign_in_keys(settings_of(session), email, address)
    check_throttle(session, keys)
    try:
        user = authenticate(session, email, password)
    except AuthenticationError:
        record_failure(session, keys)  # the caller commits it and answers 401
        raise
    clear_failures(session, keys[0])  # the account's
    return user


def token_user(session: Session, token: str, address: str) -> AdminUser:
    """user_for_token(), throttled per client address (see the module)."""
    keys = [ThrottleKey("api-ip", address[:MAX_KEY], settings_of(session).sign_in_ip_free_failures)]
    check_throttle(session, keys, "API tokens")
    try:
        return user_for_token(session, token)
    except AuthenticationError:
        record_failure(session, keys)
        raise


def _row(session: Session, key: ThrottleKey, now: datetime) -> SignInThrottle:
    """The key's row, locked; made (and stale rows pruned) when it is new."""
    query = (
        sa.select(SignInThrottle)
        .where(SignInThrottle.kind == key.kind, SignInThrottle.key == key.key)
        .with_for_update()
    )
    row = session.scalar(query)
    if row is not None:
        return row
    session.execute(sa.delete(SignInThrottle).where(SignInThrottle.expires_at < now))
    try:
        with session.begin_nested():
            row = SignInThrottle(kind=key.kind, key=key.key, failures=0, expires_at=now)
            session.add(row)
    except IntegrityError:  # another process counted the same key's first failure meanwhile
        row = session.scalar(query)
    assert row is not None  # noqa: S101 - inserted, or inserted by the other process
    return row


def _audit_block(session: Session, row: SignInThrottle, delay: int) -> None:
    session.add(
        AuditEntry(
            actor="system",
            action="sign-in throttled",
            subject_type="sign_in_throttle",
            subject_id=row.id,
            details={
                "kind": row.kind,
                "key": row.key,
                "failures": row.failures,
                "retry_after": delay,
            },
        )
    )
