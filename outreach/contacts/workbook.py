"""Excel workbooks (.xlsx) read as tables: the first sheet or a named one, rows streamed
by openpyxl's read-only mode, each cell as the text a person sees in it."""

from __future__ import annotations

import io
import zipfile
from collections.abc import Callable, Iterator
from datetime import date, datetime, time
from typing import Any

from outreach.contacts.table import MAX_PREAMBLE, Sample
from outreach.errors import ImportFileError

ZIP_MAGIC = b"PK\x03\x04"  # an .xlsx workbook is a zip archive
Record = tuple[int, list[str] | str]  # a row's number and its cells (or why it is unreadable)


def is_workbook(sample: bytes) -> bool:
    """Whether the file is a zip archive, as every .xlsx workbook is."""
    return sample.startswith(ZIP_MAGIC)


def cell_text(value: Any) -> str:
    """A cell as text: whole numbers without `.0`, dates as ISO 8601, empty as ""."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, datetime):
        return value.date().isoformat() if value.time() == time() else value.isoformat(" ")
    if isinstance(value, date | time):
        return value.isoformat()
    return str(value)


def _cells(values: tuple[Any, ...]) -> list[str]:
    cells = [cell_text(v) for v in values]
    while cells and not cells[-1]:  # a sheet's used range runs past the data
        cells.pop()
    return cells


class Workbook:
    """The rows of one sheet, from the header on (found among the first rows)."""

    def __init__(
        self,
        sample: Sample,
        file_name: str,
        sheet: str | None,
        is_email_header: Callable[[str], bool],
    ) -> None:
        from openpyxl import load_workbook
        from openpyxl.utils.exceptions import InvalidFileException

        try:
            self.book = load_workbook(io.BytesIO(sample.whole()), read_only=True, data_only=True)
        except (zipfile.BadZipFile, InvalidFileException, KeyError, OSError, ValueError) as exc:
            raise ImportFileError(
                f"{file_name}: not an Excel workbook (.xlsx) that can be read ({exc})"
            ) from exc
        names = self.book.sheetnames
        if sheet is not None and sheet not in names:
            raise ImportFileError(
                f"--sheet: {file_name} has no sheet {sheet!r} (its sheets: "
                f"{', '.join(repr(n) for n in names)})",
                field="sheet",
            )
        self.sheet = sheet or names[0]
        self.rows = self.book[self.sheet].iter_rows(values_only=True)
        self.number = 0
        before: list[list[str]] = []
        self.header: list[str] = []
        for values in self.rows:
            self.number += 1
            cells = _cells(values)
            if any(is_email_header(c) for c in cells):
                self.header, self.preamble, self.waiting = cells, self.number - 1, []
                break
            before.append(cells)
            if self.number >= MAX_PREAMBLE:
                break
        if not self.header:  # no email column found: the first row is the header
            self.preamble = 0
            self.header = before[0] if before else []
            self.waiting = [(n, c) for n, c in enumerate(before[1:], start=2)]
        self.header_line = self.preamble + 1

    def describe(self) -> str:
        """For the summary: `Excel workbook, sheet 'Contacts'`."""
        said = f"Excel workbook, sheet {self.sheet!r}"
        if self.preamble:
            rows = "row" if self.preamble == 1 else "rows"
            said += f", {self.preamble} {rows} before the header skipped"
        return said

    def records(self) -> Iterator[Record]:
        """The rows after the header, numbered as the sheet numbers them."""
        try:
            yield from self.waiting
            for values in self.rows:
                self.number += 1
                yield self.number, _cells(values)
        finally:
            self.book.close()
