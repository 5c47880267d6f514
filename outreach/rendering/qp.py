"""Quoted-printable bodies fast: static template text is encoded once per variant.

`binascii.b2a_qp` costs ~100 µs for a 15 KB newsletter, more than the render itself.
A compiled Jinja template yields its static text as the same chunks every time, so those
are encoded once (per variant) and only the personalized chunks per message; a final pass
keeps every line within the 76 characters of RFC 2045.
"""

from __future__ import annotations

import binascii
from typing import Any

from jinja2 import Environment, Template, nodes

from outreach.rendering.bounds import MAX_OUTPUT, LimitExceeded

MAX_LINE = 76


class QuotedPrintableTemplate:
    """A Jinja template whose output is produced directly as quoted-printable bytes."""

    def __init__(self, environment: Environment, source: str, template: Template) -> None:
        self.template = template
        self.static = {
            node.data: _encode(node.data)
            for node in environment.parse(source).find_all(nodes.TemplateData)
        }

    def render(self, context: dict[str, Any]) -> bytes:
        """The rendered template as CRLF quoted-printable bytes, lines within 76 characters.

        Each encoded chunk keeps its own lines short; where two chunks meet, a soft line
        break goes between them (a chunk boundary never splits an =XX escape).
        """
        static = self.static
        parts: list[bytes] = []
        column = size = 0
        for chunk in self.template.generate(context):
            size += len(chunk)
            if size > MAX_OUTPUT:
                raise LimitExceeded(f"the rendered message is over {MAX_OUTPUT:,} characters")
            encoded = static.get(chunk)
            if encoded is None:
                encoded = _encode(chunk)
            if not encoded:
                continue
            newline = encoded.find(b"\r\n")
            head = len(encoded) if newline < 0 else newline
            if column and column + head > MAX_LINE - 1:
                parts.append(b"=\r\n")
                column = 0
            parts.append(encoded)
            last = encoded.rfind(b"\n")
            column = column + len(encoded) if last < 0 else len(encoded) - last - 1
        return b"".join(parts)


def encode(text: str) -> bytes:
    """Quoted-printable bytes of a whole text (CRLF, lines within 76 characters)."""
    return _encode(text)


def _encode(text: str) -> bytes:
    """One chunk as quoted-printable with CRLF line ends (b2a_qp wraps it at 76)."""
    if (
        len(text) < MAX_LINE
        and text.isascii()
        and text.isprintable()
        and "=" not in text
        and not text.endswith(" ")
    ):
        return text.encode()  # a short plain value (a name, a city) is its own encoding
    data = text.replace("\r\n", "\n").replace("\r", "\n").encode()
    return binascii.b2a_qp(data, istext=True).replace(b"\n", b"\r\n")
