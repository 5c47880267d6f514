"""Signed open-pixel and click-redirect URLs (purpose-bound; they keep working in sent mail)."""

from __future__ import annotations

from functools import lru_cache

from itsdangerous import BadSignature, Signer
from itsdangerous.encoding import base64_decode, base64_encode


@lru_cache(maxsize=8)
def _signer(secret: str, purpose: str) -> Signer:
    return Signer(secret, salt=f"outreach.track.{purpose}")


def open_url(base_url: str, secret: str, delivery_id: int) -> str:
    """The 1×1 pixel URL of one delivery."""
    return f"{base_url}/t/o/{_signer(secret, 'open').sign(str(delivery_id)).decode()}"


@lru_cache(maxsize=4096)
def _encoded(target: str) -> bytes:
    """A link's target as the click token carries it: encoded once per process, not once
    per message (a variant's links are the same for all of its recipients)."""
    return base64_encode(target.encode())


def click_url(base_url: str, secret: str, delivery_id: int, target: str) -> str:
    """The redirect URL of one link of one delivery (the target is signed, not stored)."""
    value = f"{delivery_id}.".encode() + _encoded(target)
    return f"{base_url}/t/c/{_signer(secret, 'click').sign(value).decode()}"


def read_open(secret: str, token: str) -> int | None:
    """The delivery id of a genuine open token, else None."""
    try:
        return int(_signer(secret, "open").unsign(token))
    except (BadSignature, ValueError):
        return None


def read_click(secret: str, token: str) -> tuple[int, str] | None:
    """(delivery id, target URL) of a genuine click token, else None."""
    try:
        value = _signer(secret, "click").unsign(token)
        delivery, _, encoded = value.partition(b".")
        target = base64_decode(encoded).decode()
        return int(delivery), target
    except (BadSignature, ValueError, UnicodeDecodeError):
        return None
    except Exception:  # noqa: BLE001 - malformed base64 is just a broken token
        return None
