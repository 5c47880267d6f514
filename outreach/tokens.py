"""Signed, purpose-bound, expiring tokens for links in emails (itsdangerous)."""

from __future__ import annotations

import hashlib
import hmac
import json
import secrets
import time
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


# A delivery tag names one delivery in a bounce address (VERP) and a header: short enough
# for an address's local part (64 characters at most, "bounces+" included), lowercase
# (some servers lowercase local parts), signed for its purpose, and dated.
DELIVERY_TAG_DAYS = 365  # a report about a message older than a year is not matched
_DAY = 86_400


@lru_cache(maxsize=8)
def _tag_key(secret: str) -> bytes:
    # The purpose in the key: a tag's MAC never verifies as any other token's.
    return hashlib.sha256(f"outreach.delivery-tag:{secret}".encode()).digest()


def _tag_mac(secret: str, delivery_id: int, day: int) -> str:
    digest = hmac.new(_tag_key(secret), f"{delivery_id}:{day}".encode(), hashlib.sha256)
    return digest.hexdigest()[:20]


def delivery_tag(secret: str, delivery_id: int, *, now: float | None = None) -> str:
    """The signed tag of one delivery: `<id hex>-<day hex>-<80-bit MAC>`."""
    day = int((time.time() if now is None else now) // _DAY)
    return f"{delivery_id:x}-{day:x}-{_tag_mac(secret, delivery_id, day)}"


def read_delivery_tag(secret: str, tag: str, *, now: float | None = None) -> int:
    """The delivery id of a genuine tag not older than DELIVERY_TAG_DAYS, or TokenError."""
    parts = tag.strip().lower().split("-")
    try:
        delivery_id, day = int(parts[0], 16), int(parts[1], 16)
        mac = parts[2]
    except (IndexError, ValueError):
        raise TokenError("not a delivery tag") from None
    if len(parts) != 3 or not hmac.compare_digest(mac, _tag_mac(secret, delivery_id, day)):
        raise TokenError("not a delivery tag of this instance")
    today = int((time.time() if now is None else now) // _DAY)
    if not 0 <= today - day <= DELIVERY_TAG_DAYS:
        raise TokenExpired("the delivery tag is too old")
    return delivery_id
