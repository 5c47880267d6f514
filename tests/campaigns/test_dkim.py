"""DKIM signatures made by the engine verify with dkimpy, and cover the unsubscribe headers."""

from __future__ import annotations

import base64

import dkim
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from outreach.rendering.dkim import DkimSigner
from tests.campaigns.test_rendering import SOURCE

PRIVATE = rsa.generate_private_key(public_exponent=65537, key_size=2048)
PEM = PRIVATE.private_bytes(
    serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
)
PUBLIC = base64.b64encode(
    PRIVATE.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
).decode()


def _dns(name: bytes, timeout: int = 5) -> bytes:
    assert name == b"news._domainkey.example.org."
    return f"v=DKIM1; k=rsa; p={PUBLIC}".encode()


def _signed_message(**contact: object) -> bytes:
    from outreach.rendering.message import Links, MessageBuilder
    from outreach.rendering.pipeline import compile_variant
    from tests.campaigns.test_rendering import contact as make_contact

    builder = MessageBuilder(
        compile_variant("Ideas for {{ contact.first_name }} ☕", "", SOURCE, None),
        campaign_id=1,
        campaign_name="June",
        from_name="Ana",
        from_email="news@example.org",
        reply_to=None,
        group_name="Thinkers",
        signer=DkimSigner("example.org", "news", PEM),
    )
    links = Links("https://news.example.org/unsubscribe/T", "https://news.example.org/p/T")
    return builder.build(make_contact(**contact), links)[1]  # type: ignore[arg-type]


def test_signature_verifies_with_dkimpy() -> None:
    message = _signed_message()
    assert message.startswith(b"DKIM-Signature: v=1; a=rsa-sha256; c=relaxed/relaxed;")
    assert dkim.verify(message, dnsfunc=_dns)


def test_unsubscribe_headers_are_signed() -> None:
    message = _signed_message(first_name="Núria")
    header = message.split(b"\r\n", 1)[0].decode()
    signed = header.split(" h=", 1)[1].split(";", 1)[0].split(":")
    assert {
        "from",
        "subject",
        "date",
        "message-id",
        "list-unsubscribe",
        "list-unsubscribe-post",
    } <= set(signed)
    tampered = message.replace(
        b"List-Unsubscribe: <https://news.example.org/unsubscribe/T>",
        b"List-Unsubscribe: <https://evil.example/unsubscribe/T>",
    )
    assert tampered != message
    assert not dkim.verify(tampered, dnsfunc=_dns)
