"""DKIM signatures made by the engine verify with dkimpy, and cover the unsubscribe headers."""

from __future__ import annotations

import re

import dkim
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from outreach.rendering.dkim import DkimSigner
from tests.support.dkim import PEM, PUBLIC
from tests.support.rendering import SOURCE
from tests.support.rendering import contact as make_contact


def _dns(name: bytes, timeout: int = 5) -> bytes:
    assert name == b"news._domainkey.example.org."
    return f"v=DKIM1; k=rsa; p={PUBLIC}".encode()


def _signed_message(**contact: object) -> bytes:
    from outreach.rendering.message import Links, MessageBuilder
    from outreach.rendering.pipeline import compile_variant

    builder = MessageBuilder(
        compile_variant("Ideas for {{ contact.first_name }} ☕", "", SOURCE, None),
        campaign_id=1,
        campaign_name="June",
        from_name="Ana",
        from_email="news@example.org",
        reply_to="replies@example.org",
        group_name="Thinkers",
    )
    links = Links("https://news.example.org/unsubscribe/T", "https://news.example.org/p/T")
    message = builder.build(make_contact(**contact), links)[1]  # type: ignore[arg-type]
    return SIGNER.sign(message)


SIGNER = DkimSigner("example.org", "news", PEM)


def _head(message: bytes) -> list[bytes]:
    return message.split(b"\r\n\r\n", 1)[0].split(b"\r\n")


def _signed_names(message: bytes) -> list[str]:
    header = dkim_header(message)
    return re.sub(r"\s", "", header.split("h=", 1)[1].split(";", 1)[0]).split(":")


def dkim_header(message: bytes) -> str:
    """The DKIM-Signature header of a message, unfolded."""
    lines = _head(message)
    value = [lines[0]]
    for line in lines[1:]:
        if not line[:1].isspace():
            break
        value.append(line)
    return b"".join(value).decode()


def test_signature_verifies_with_dkimpy() -> None:
    message = _signed_message()
    assert message.startswith(b"DKIM-Signature: v=1; a=rsa-sha256; c=relaxed/relaxed;")
    assert dkim.verify(message, dnsfunc=_dns)


def test_the_signature_header_is_folded_under_78_columns() -> None:
    for bits in (2048, 4096):
        key = rsa.generate_private_key(public_exponent=65537, key_size=bits)
        pem = key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
        message = DkimSigner("example.org", "news", pem).sign(_signed_message())
        assert all(len(line) < 78 for line in dkim_header_lines(message))


def dkim_header_lines(message: bytes) -> list[bytes]:
    """The lines of the first DKIM-Signature header, as sent."""
    lines = _head(message)
    end = next(i for i, line in enumerate(lines[1:], 1) if not line[:1].isspace())
    return lines[:end]


def test_headers_are_oversigned_so_a_prepended_header_breaks_the_signature() -> None:
    message = _signed_message()
    names = _signed_names(message)
    for name in ("from", "to", "subject", "date", "message-id", "reply-to", "list-id"):
        assert names.count(name) == 2, name  # once more than it occurs
    for added in (
        b'From: "Bank" <security@evil.example>\r\n',
        b"Reply-To: <thief@evil.example>\r\n",
        b"Subject: Urgent: your password\r\n",
    ):
        assert not dkim.verify(added + message, dnsfunc=_dns), added


def test_unsubscribe_headers_are_signed() -> None:
    message = _signed_message(first_name="Núria")
    signed = _signed_names(message)
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
