"""DKIM signing (RFC 6376, rsa-sha256, relaxed/relaxed) with `cryptography`.

dkimpy signs in ~6.6 ms a message (pure-Python RSA); the `cryptography` RSA-2048 signature
costs ~0.3 ms, so the delivery engine signs with this and tests verify with dkimpy.
"""

from __future__ import annotations

import base64
import hashlib
import re
import time
from pathlib import Path

from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa

from outreach.config import Settings
from outreach.errors import ConfigurationError

SIGNED_HEADERS = (
    "from",
    "to",
    "subject",
    "date",
    "message-id",
    "list-id",
    "list-unsubscribe",
    "list-unsubscribe-post",
    "mime-version",
    "content-type",
)
_WSP = re.compile(rb"[ \t]+")
_FOLD = re.compile(rb"\r\n(?=[ \t])")


def _relaxed_header(name: bytes, value: bytes) -> bytes:
    value = _WSP.sub(b" ", _FOLD.sub(b"", value)).strip()
    return name.strip().lower() + b":" + value + b"\r\n"


def _relaxed_body(body: bytes) -> bytes:
    lines = [_WSP.sub(b" ", line).rstrip(b" \t") for line in body.split(b"\r\n")]
    while lines and lines[-1] == b"":
        lines.pop()
    return b"\r\n".join(lines) + b"\r\n" if lines else b""


def _headers(head: bytes) -> list[tuple[bytes, bytes]]:
    """(name, value) of each header, folded continuation lines kept in the value."""
    found: list[tuple[bytes, bytes]] = []
    for line in head.split(b"\r\n"):
        if line[:1] in (b" ", b"\t") and found:
            name, value = found[-1]
            found[-1] = (name, value + b"\r\n" + line)
        elif line:
            name, _, value = line.partition(b":")
            found.append((name, value))
    return found


class DkimSigner:
    """Signs finished messages for one domain and selector."""

    def __init__(self, domain: str, selector: str, private_key_pem: bytes) -> None:
        key = serialization.load_pem_private_key(private_key_pem, password=None)
        if not isinstance(key, rsa.RSAPrivateKey):
            raise ConfigurationError("the DKIM key must be an RSA private key")
        self.key = key
        self.domain = domain
        self.selector = selector

    @classmethod
    def from_file(cls, domain: str, selector: str, key_file: str) -> DkimSigner:
        """A signer whose key is read from a PEM file."""
        try:
            return cls(domain, selector, Path(key_file).read_bytes())
        except OSError as exc:
            raise ConfigurationError(f"OUTREACH_DKIM_KEY_FILE: {exc}") from exc

    def sign(self, message: bytes) -> bytes:
        """The message with a DKIM-Signature header in front."""
        head, _, body = message.partition(b"\r\n\r\n")
        body_hash = base64.b64encode(hashlib.sha256(_relaxed_body(body)).digest()).decode()
        present: dict[bytes, bytes] = {}
        for name, value in _headers(head):
            present.setdefault(name.strip().lower(), value)  # first instance, as verifiers do
        names = [n for n in SIGNED_HEADERS if n.encode() in present]
        tags = (
            f"v=1; a=rsa-sha256; c=relaxed/relaxed; d={self.domain}; s={self.selector}; "
            f"t={int(time.time())}; h={':'.join(names)}; bh={body_hash}; b="
        )
        signed = b"".join(_relaxed_header(n.encode(), present[n.encode()]) for n in names)
        signed += _relaxed_header(b"DKIM-Signature", b" " + tags.encode())[:-2]
        signature = self.key.sign(signed, padding.PKCS1v15(), hashes.SHA256())
        header = f"DKIM-Signature: {tags}{base64.b64encode(signature).decode()}\r\n"
        return header.encode() + message


def signer_for(settings: Settings) -> DkimSigner | None:
    """The DKIM signer configured by OUTREACH_DKIM_*, or None."""
    if not (settings.dkim_domain and settings.dkim_selector and settings.dkim_key_file):
        return None
    return DkimSigner.from_file(
        settings.dkim_domain, settings.dkim_selector, settings.dkim_key_file
    )
