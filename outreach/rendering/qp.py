"""Quoted-printable bodies fast: static template text is encoded once per variant.

`binascii.b2a_qp` costs ~100 µs for a 15 KB newsletter, more than the render itself.
A compiled Jinja template yields its static text as the same chunks every time, so those
are encoded once (per variant) and only the personalized chunks per message; a final pass
keeps every line within the 76 characters of RFC 2045.

No line of the output begins with a dot: a dot there is written `=2E` (the same text
once decoded), so the SMTP transport never has to double dots (RFC 5321 4.5.2) and hands
the message to the socket as it is.
"""

from __future__ import annotations

import binascii
import re
from typing import Any

from jinja2 import Environment, Template, nodes

from outreach.rendering.bounds import MAX_OUTPUT, LimitExceeded

MAX_LINE = 76
# Searches (C speed, ~5 µs for 15 KB; a line-length pattern such as [^\n]{77} takes
# 2.5 ms) for what `_tidy` mends: a line that begins with a dot, and the one case in
# which b2a_qp writes a line over 76 characters, an escaped space or tab ending a line.
_LINE_DOT = re.compile(rb"\n\.")
_WIDE_END = re.compile(rb"=(?:20|09)\r\n")


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
        static = self.static  # each chunk's last line leaves room for a soft break
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
            if not column and encoded[:1] == b".":  # this chunk begins a line
                encoded = _tidy(encoded, first=True)
            parts.append(encoded)
            last = encoded.rfind(b"\n")
            column = column + len(encoded) if last < 0 else len(encoded) - last - 1
        return b"".join(parts)


def encode(text: str) -> bytes:
    """Quoted-printable bytes of a whole text (CRLF, lines within 76 characters, none
    beginning with a dot)."""
    encoded = _encode(text)
    return _tidy(encoded, first=True) if encoded[:1] == b"." else encoded


def _encode(text: str) -> bytes:
    """One chunk as quoted-printable with CRLF line ends, wrapped at 76 by b2a_qp, then
    tidied (`_tidy`) where a search finds the need: no line after the first begins with a
    dot, none is longer than 76 (b2a_qp lets a line that ends in an escaped space or tab
    reach 78), and the last leaves room for the soft break that may follow it."""
    if (
        len(text) < MAX_LINE
        and text.isascii()
        and text.isprintable()
        and "=" not in text
        and not text.endswith(" ")
    ):
        return text.encode()  # a short plain value (a name, a city) is its own encoding
    data = text.replace("\r\n", "\n").replace("\r", "\n").encode()
    encoded = binascii.b2a_qp(data, istext=True).replace(b"\n", b"\r\n")
    if (
        len(encoded) - encoded.rfind(b"\n") > MAX_LINE
        or _LINE_DOT.search(encoded)
        or _WIDE_END.search(encoded)
        or encoded.endswith((b"=20", b"=09"))
    ):
        return _tidy(encoded)
    return encoded


def _tidy(encoded: bytes, *, first: bool = False) -> bytes:
    """Each line that begins with a dot (after a line break; the first line too when
    `first`) begun `=2E` instead; each line over 76 characters, and a last line over 75,
    split by soft line breaks, never inside an =XX escape."""
    lines = encoded.split(b"\r\n")
    last = len(lines) - 1
    tidy: list[bytes] = []
    for number, line in enumerate(lines):
        if line[:1] == b"." and (number or first):
            line = b"=2E" + line[1:]
        limit = MAX_LINE - 1 if number == last else MAX_LINE
        while len(line) > limit:
            cut = MAX_LINE - 1  # and the soft break's "=" makes 76
            while line[cut - 2 : cut - 1] == b"=" or line[cut - 1 : cut] == b"=":
                cut -= 1  # not inside an escape
            tidy.append(line[:cut] + b"=")
            line = line[cut:]
            if line[:1] == b".":
                line = b"=2E" + line[1:]
        tidy.append(line)
    return b"\r\n".join(tidy)
