"""Reading a contacts table as people have it: the encoding (UTF-8 with or without BOM,
UTF-16 with BOM, Windows-1252 and the like, detected with charset-normalizer), the
delimiter (comma, semicolon or tab), and lines before the header (LinkedIn's "Notes:").

Detection reads a sample of the first lines; the importer then reads the whole file as
lines of text decoded incrementally, so a file of any size keeps memory flat.
"""

from __future__ import annotations

import codecs
import csv
import re
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

from outreach.errors import ImportFileError

SAMPLE_BYTES = 64 * 1024
MAX_PREAMBLE = 20  # lines searched for the header
DELIMITERS = (",", ";", "\t")
DELIMITER_NAMES = {",": "comma", ";": "semicolon", "\t": "tab"}
ENCODING_NAMES = {"utf-8": "UTF-8", "utf-8-sig": "UTF-8 with BOM", "utf-16": "UTF-16"}
_WORDS = re.compile(r"[^a-z0-9]+")
# The single-byte encodings spreadsheets write (Excel's "CSV" is the system's ANSI code page).
LEGACY_ENCODINGS = (
    "cp1252",
    "cp1250",
    "cp1251",
    "cp1253",
    "cp1254",
    "cp1257",
    "iso8859_15",
    "mac_roman",
)


class ByteLines(Protocol):
    """What the importer reads: a binary file, or anything with its readline."""

    def readline(self, size: int = -1, /) -> bytes: ...


@dataclass(frozen=True)
class Layout:
    """How a file is written: its encoding, its delimiter, and how many lines come before
    the header."""

    encoding: str
    delimiter: str
    preamble: int = 0

    def describe(self) -> str:
        """For the summary: `UTF-8, comma`, `cp1252, semicolon, 3 lines before the header`."""
        said = f"{ENCODING_NAMES.get(self.encoding, self.encoding)}, "
        said += DELIMITER_NAMES.get(self.delimiter, repr(self.delimiter))
        if self.preamble:
            lines = "line" if self.preamble == 1 else "lines"
            said += f", {self.preamble} {lines} before the header skipped"
        return said


def header_key(name: str) -> str:
    """A header cell compared without case, accents or punctuation (`E-mail 1 - Value` →
    `e mail 1 value`, `Correo electrónico` → `correo electronico`)."""
    plain = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode()
    return _WORDS.sub(" ", plain.lower()).strip()


class Sample:
    """The first lines of a stream, read once for detection and then given back."""

    def __init__(self, stream: ByteLines, limit: int = SAMPLE_BYTES) -> None:
        self.stream = stream
        self.chunks: list[bytes] = []
        size = 0
        while size < limit:
            chunk = stream.readline(limit)
            if not chunk:
                break
            self.chunks.append(chunk)
            size += len(chunk)
        self.data = b"".join(self.chunks)

    def whole(self) -> bytes:
        """Every byte of the stream, the sample included (a workbook is read at once)."""
        parts, self.chunks = self.chunks, []
        while chunk := self.stream.readline(1 << 20):
            parts.append(chunk)
        return b"".join(parts)

    def readline(self, size: int = -1, /) -> bytes:
        """The sampled chunks first, then the rest of the stream."""
        if self.chunks:
            return self.chunks.pop(0)
        return self.stream.readline(size)


def detect_encoding(sample: bytes) -> str:
    """The sample's encoding: a BOM says it; else UTF-8 if it decodes; else what
    charset-normalizer finds most likely (Windows-1252 when it cannot tell)."""
    if sample.startswith(codecs.BOM_UTF8):
        return "utf-8-sig"
    if sample.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        return "utf-16"
    try:
        codecs.getincrementaldecoder("utf-8")().decode(sample, final=False)
    except UnicodeDecodeError:
        pass
    else:
        return "utf-8"
    from charset_normalizer import from_bytes

    found = from_bytes(sample, cp_isolation=list(LEGACY_ENCODINGS))
    best = found.best()
    if best is None:
        return "cp1252"
    # A short sample fits several code pages alike (é and ü are the same bytes in 1250 and
    # 1252): Windows-1252, what Excel writes in Western Europe and the Americas, wins ties.
    for match in found:
        fits = match.encoding == "cp1252" or "cp1252" in match.could_be_from_charset
        if fits and match.percent_chaos <= best.percent_chaos + 1:
            return "cp1252"
    return codecs.lookup(best.encoding).name


def detect_layout(
    sample: bytes,
    is_email_header: Callable[[str], bool],
    *,
    encoding: str | None = None,
    delimiter: str | None = None,
) -> Layout:
    """The file's layout: the header is the first of the first lines that has an email
    column under one of the delimiters (`encoding`, `delimiter`: given by the person)."""
    encoding = encoding or detect_encoding(sample)
    try:
        codecs.lookup(encoding)
    except LookupError as exc:
        raise ImportFileError(f"--encoding: {encoding!r} is not an encoding") from exc
    text = codecs.getincrementaldecoder(encoding)(errors="replace").decode(sample)
    lines = text.removeprefix("\ufeff").splitlines()[:MAX_PREAMBLE]
    choices = (delimiter,) if delimiter else DELIMITERS
    for number, line in enumerate(lines):
        for candidate in choices:
            cells = next(csv.reader([line], delimiter=candidate), [])
            if any(is_email_header(cell) for cell in cells):
                return Layout(encoding, candidate, number)
    first = lines[0] if lines else ""
    counts = {d: first.count(d) for d in choices}
    return Layout(encoding, max(counts, key=lambda d: counts[d]) if first else ",", 0)


class TextLines:
    """Text lines of a byte stream in one encoding, each read up to `limit` bytes.

    An iterator object rather than a generator: a line refused with csv.Error leaves it
    usable, so the reader goes on at the next line.
    """

    def __init__(self, stream: ByteLines, file_name: str, encoding: str, limit: int) -> None:
        self.stream = stream
        self.file_name = file_name
        self.encoding = encoding
        self.limit = limit
        self.decoder = codecs.getincrementaldecoder(encoding)()
        self.pending = ""
        self.number = 0  # the last line given

    def __iter__(self) -> TextLines:
        return self

    def __next__(self) -> str:
        while True:
            at = self.pending.find("\n")
            if at >= 0:
                line, self.pending = self.pending[: at + 1], self.pending[at + 1 :]
                return self._give(line)
            raw = self.stream.readline(self.limit + 1)
            if not raw:
                line, self.pending = self.pending + self._decode(b"", final=True), ""
                if not line:
                    raise StopIteration
                return self._give(line)
            if len(raw) > self.limit:
                while raw and not raw.endswith(b"\n"):
                    raw = self.stream.readline(self.limit)
                self.number += 1
                self.pending = ""
                raise csv.Error(f"the line is longer than {self.limit} bytes")
            self.pending += self._decode(raw)

    def _give(self, line: str) -> str:
        self.number += 1
        return line.removeprefix("\ufeff") if self.number == 1 else line

    def _decode(self, raw: bytes, final: bool = False) -> str:
        try:
            return self.decoder.decode(raw, final=final)
        except UnicodeDecodeError as exc:
            shown = ENCODING_NAMES.get(self.encoding, self.encoding)
            raise ImportFileError(
                f"{self.file_name}: line {self.number + 1}: not {shown} text ({exc.reason}); "
                "give the file's encoding with --encoding (for example cp1252)"
            ) from exc
