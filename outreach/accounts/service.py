"""Administrator accounts and API tokens."""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime
from functools import cache

import sqlalchemy as sa
from sqlalchemy.orm import Session
from werkzeug.security import check_password_hash, generate_password_hash

from outreach.accounts.models import AdminUser, ApiToken
from outreach.contacts.identity import normalize_email
from outreach.db import as_id, utcnow
from outreach.errors import AuthenticationError, Conflict, NotFound, ValidationError
from outreach.privacy.models import AuditEntry

MIN_PASSWORD = 12
MIN_STRENGTH = 3  # zxcvbn's score, 0-4: 3 is 'safely unguessable' for an online attack
TOKEN_PREFIX = "otk_"  # noqa: S105 - a visible prefix, not a secret
MAX_TOKEN_NAME = 100


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


def change_password(session: Session, email: str, password: str) -> AdminUser:
    """A new password (checked like a first one); every signed-in session of the account ends."""
    user = get_admin(session, email)
    check_password(password, user.email)
    user.password_hash = generate_password_hash(password)
    user.session_generation += 1
    session.flush()
    return user


def set_active(session: Session, email: str, active: bool) -> AdminUser:
    """Deactivate (sessions end, sign-in and API tokens refused) or reactivate an account."""
    user = get_admin(session, email)
    if user.is_active and not active:
        user.session_generation += 1
    user.is_active = active
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


def issue_token(session: Session, user: AdminUser, name: str = "") -> str:
    """A new bearer token for `user`, named for the list; only its hash is stored."""
    name = name.strip()
    if len(name) > MAX_TOKEN_NAME:
        raise ValidationError(f"a token name has at most {MAX_TOKEN_NAME} characters", field="name")
    token = TOKEN_PREFIX + secrets.token_urlsafe(32)
    session.add(ApiToken(admin_id=user.id, token_hash=_digest(token), prefix=token[:12], name=name))
    session.flush()
    return token


@dataclass(frozen=True)
class TokenInfo:
    """An API token as listed: never its secret, only its visible prefix."""

    id: int
    name: str
    owner: str
    prefix: str
    created_at: datetime
    last_used_at: datetime | None
    revoked_at: datetime | None


def _token_info(token: ApiToken, owner: str) -> TokenInfo:
    return TokenInfo(
        token.id,
        token.name,
        owner,
        token.prefix,
        token.created_at,
        token.last_used_at,
        token.revoked_at,
    )


def list_tokens(session: Session, user: AdminUser | None = None) -> list[TokenInfo]:
    """Every API token (or `user`'s), newest first, revoked ones included."""
    query = sa.select(ApiToken, AdminUser.email).join(AdminUser, AdminUser.id == ApiToken.admin_id)
    if user is not None:
        query = query.where(ApiToken.admin_id == user.id)
    rows = session.execute(query.order_by(ApiToken.id.desc())).all()
    return [_token_info(token, owner) for token, owner in rows]


def find_token(session: Session, id_or_prefix: str | int) -> ApiToken:
    """A token by id, by its visible prefix (`otk_…`, 12 characters) or by the whole token."""
    text = str(id_or_prefix).strip()
    if as_id(text) is not None:
        condition = ApiToken.id == as_id(text)
    elif text.startswith(TOKEN_PREFIX) and len(text) > len(TOKEN_PREFIX) + 8:
        condition = ApiToken.token_hash == _digest(text)
    else:
        condition = ApiToken.prefix == text
    found = session.scalars(sa.select(ApiToken).where(condition).limit(2)).all()
    if not found:
        raise NotFound(f"no API token {text}", field="token")
    if len(found) > 1:
        raise Conflict(f"several API tokens begin with {text}: give the id", field="token")
    return found[0]


def describe_token(session: Session, id_or_prefix: str | int) -> TokenInfo:
    """A token as listed, found as find_token() finds it."""
    token = find_token(session, id_or_prefix)
    return _token_info(token, session.get_one(AdminUser, token.admin_id).email)


def revoke_token(session: Session, id_or_prefix: str | int, by: str) -> TokenInfo:
    """Revoke a token at once (refused from the next request on) and audit who did."""
    token = find_token(session, id_or_prefix)
    if token.revoked_at is not None:
        raise Conflict(f"API token {token.id} ({token.prefix}) was revoked already", field="token")
    token.revoked_at = utcnow()
    owner = session.get_one(AdminUser, token.admin_id).email
    session.add(
        AuditEntry(
            actor=by,
            action="api token revoked",
            subject_type="api_token",
            subject_id=token.id,
            details={"name": token.name, "prefix": token.prefix, "owner": owner},
        )
    )
    session.flush()
    return _token_info(token, owner)


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
