"""Address normalization and the keyed hash that identifies an address without keeping it."""

from __future__ import annotations

import hashlib
import hmac
import re
from functools import lru_cache

from email_validator import EmailNotValidError, validate_email

from outreach.errors import ValidationError

MAX_EMAIL = 320
# A plain ASCII dot-atom local part: valid as it is, so only its domain needs the validator.
_PLAIN_LOCAL = re.compile(r"[A-Za-z0-9_+-]+(?:\.[A-Za-z0-9_+-]+)*")


def normalize_email(raw: str) -> tuple[str, str]:
    """Return (address as stored, identity key); raise ValidationError when not an address."""
    value = (raw or "").strip()
    if not value:
        raise ValidationError("email is empty", field="email")
    if len(value) > MAX_EMAIL:
        raise ValidationError(f"email is longer than {MAX_EMAIL} characters", field="email")
    local, at, domain = value.rpartition("@")
    try:
        if at and len(local) <= 64 and len(value) <= 254 and _PLAIN_LOCAL.fullmatch(local):
            # Imports repeat domains: validate each domain once (email-validator's verdict).
            normalized = f"{local}@{_validated_domain(domain)}"
        else:
            normalized = str(validate_email(value, check_deliverability=False).normalized)
    except EmailNotValidError as exc:
        raise ValidationError(f"{value!r} is not a valid address: {exc}", field="email") from exc
    return normalized, normalized.lower()


@lru_cache(maxsize=65536)
def _validated_domain(domain: str) -> str:
    """The normalized domain, judged by email-validator with a neutral local part."""
    result = validate_email(f"postmaster@{domain}", check_deliverability=False)
    return str(result.normalized).rpartition("@")[2]


def email_hmac(secret: str, email_key: str) -> str:
    """HMAC-SHA256 of the identity key: how suppressions and erased requests name an address."""
    digest = _keyed(secret).copy()
    digest.update(email_key.encode())
    return digest.hexdigest()


@lru_cache(maxsize=8)
def _keyed(secret: str) -> hmac.HMAC:
    """The HMAC keyed with the secret, before any message (copied for each address)."""
    return hmac.new(f"outreach-address:{secret}".encode(), digestmod=hashlib.sha256)
