"""Administrator accounts and API tokens."""

from __future__ import annotations

import hashlib
import secrets
from functools import cache

import sqlalchemy as sa
from sqlalchemy.orm import Session
from werkzeug.security import check_password_hash, generate_password_hash

from outreach.admin.models import AdminUser, ApiToken
from outreach.contacts.identity import normalize_email
from outreach.db import utcnow
from outreach.errors import AuthenticationError, Conflict, NotFound, ValidationError

MIN_PASSWORD = 12
MIN_STRENGTH = 3  # zxcvbn's score, 0-4: 3 is 'safely unguessable' for an online attack
TOKEN_PREFIX = "otk_"  # noqa: S105 - a visible prefix, not a secret


@cache
def _dummy_hash() -> str:
    # Made on first use, not at import: every `outreach` command would pay ~150 ms for it.
    return generate_password_hash("outreach-timing-equalizer")


# A real hash to compare against when the user is unknown, so timing reveals nothing.


def check_password(password: str, email: str = "") -> None:
    """At least MIN_PASSWORD characters and not guessable (zxcvbn, which knows the common
    passwords, keyboard walks, repeats and dates, and is told the address); the reason
    is in the error."""
    if len(password) < MIN_PASSWORD:
        raise ValidationError(
            f"password must have at least {MIN_PASSWORD} characters", field="password"
        )
    from zxcvbn import zxcvbn

    verdict = zxcvbn(password[:200], user_inputs=[email, *email.split("@")])
    if verdict["score"] < MIN_STRENGTH:
        feedback = verdict["feedback"]
        advice = " ".join(
            part
            for part in [feedback.get("warning") or "", *feedback.get("suggestions", [])]
            if part
        )
        raise ValidationError(
            f"password is too easy to guess{': ' + advice if advice else ''}", field="password"
        )


def create_admin(session: Session, email: str, password: str) -> AdminUser:
    """Create an administrator with a scrypt-hashed password."""
    address = normalize_email(email)[1]
    check_password(password, address)
    if session.scalar(sa.select(AdminUser.id).where(AdminUser.email == address)):
        raise Conflict(f"an administrator {address} exists already", field="email")
    user = AdminUser(email=address, password_hash=generate_password_hash(password))
    session.add(user)
    session.flush()
    return user


def get_admin(session: Session, email: str) -> AdminUser:
    """An administrator by address."""
    user = session.scalar(sa.select(AdminUser).where(AdminUser.email == normalize_email(email)[1]))
    if user is None:
        raise NotFound(f"no administrator {email}", field="email")
    return user


def authenticate(session: Session, email: str, password: str) -> AdminUser:
    """The active administrator with these credentials, or AuthenticationError."""
    try:
        user: AdminUser | None = get_admin(session, email)
    except (NotFound, ValidationError):
        user = None
    valid = check_password_hash(user.password_hash if user else _dummy_hash(), password)
    if user is None or not valid or not user.is_active:
        raise AuthenticationError("wrong address or password")
    user.last_login_at = utcnow()
    return user


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def issue_token(session: Session, user: AdminUser) -> str:
    """A new bearer token for `user`; only its hash is stored."""
    token = TOKEN_PREFIX + secrets.token_urlsafe(32)
    session.add(ApiToken(admin_id=user.id, token_hash=_digest(token), prefix=token[:12]))
    session.flush()
    return token


def user_for_token(session: Session, token: str) -> AdminUser:
    """The administrator a bearer token belongs to, or AuthenticationError."""
    row = session.execute(
        sa.select(ApiToken, AdminUser)
        .join(AdminUser, AdminUser.id == ApiToken.admin_id)
        .where(ApiToken.token_hash == _digest(token), ApiToken.revoked_at.is_(None))
    ).first()
    if row is None or not row[1].is_active:
        raise AuthenticationError("invalid or revoked API token")
    row[0].last_used_at = utcnow()
    return row[1]
