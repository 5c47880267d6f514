"""Address normalization and the keyed hash that identifies an address without keeping it."""

from __future__ import annotations

import hashlib
import hmac
from functools import lru_cache

from email_validator import EmailNotValidError, validate_email

from outreach.errors import ValidationError

MAX_EMAIL = 320


@lru_cache(maxsize=4096)
def normalize_email(raw: str) -> tuple[str, str]:
    """Return (address as stored, identity key); raise ValidationError when not an address."""
    value = (raw or "").strip()
    if not value:
        raise ValidationError("email is empty", field="email")
    if len(value) > MAX_EMAIL:
        raise ValidationError(f"email is longer than {MAX_EMAIL} characters", field="email")
    try:
        result = validate_email(value, check_deliverability=False)
    except EmailNotValidError as exc:
        raise ValidationError(f"{value!r} is not a valid address: {exc}", field="email") from exc
    return result.normalized, result.normalized.lower()


def email_hmac(secret: str, email_key: str) -> str:
    """HMAC-SHA256 of the identity key: how suppressions and erased requests name an address."""
    return hmac.new(
        f"outreach-address:{secret}".encode(), email_key.encode(), hashlib.sha256
    ).hexdigest()
