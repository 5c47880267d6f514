"""Signed, purpose-bound, expiring tokens for links in emails (itsdangerous)."""

from __future__ import annotations

import json
import secrets
from functools import lru_cache
from typing import Any

from itsdangerous import BadSignature, SignatureExpired, URLSafeTimedSerializer
from itsdangerous.encoding import base64_encode

from outreach.errors import OutreachError


class TokenError(OutreachError):
    """A link token is forged, damaged, used for another purpose, or spent."""

    status = 400
    code = "invalid_token"


class TokenExpired(TokenError):
    """A link token was genuine but is too old."""

    code = "expired_token"


class _Serializer(URLSafeTimedSerializer):
    """Compact JSON, signed; no zlib attempt (payloads are tiny, and it costs per message)."""

    def dump_payload(self, obj: Any) -> bytes:
        return base64_encode(json.dumps(obj, separators=(",", ":")).encode())


@lru_cache(maxsize=64)
def _serializer(secret: str, purpose: str) -> URLSafeTimedSerializer:
    # The purpose is the salt: a token made for one purpose never verifies for another.
    return _Serializer(secret, salt=f"outreach.{purpose}")


def make_token(
    secret: str, purpose: str, payload: dict[str, Any], *, single_use: bool = False
) -> str:
    """A signed token for `purpose`; single-use tokens carry a 128-bit random id (`jti`)."""
    body = dict(payload)
    if single_use:
        body["jti"] = secrets.token_urlsafe(16)
    return _serializer(secret, purpose).dumps(body)


def read_token(
    secret: str, purpose: str, token: str, max_age_seconds: int | None = None
) -> dict[str, Any]:
    """The payload of a genuine token for `purpose`, or TokenError / TokenExpired."""
    try:
        payload = _serializer(secret, purpose).loads(token, max_age=max_age_seconds)
    except SignatureExpired as exc:
        raise TokenExpired("this link has expired") from exc
    except BadSignature as exc:
        raise TokenError("this link is not valid") from exc
    if not isinstance(payload, dict):
        raise TokenError("this link is not valid")
    return payload
