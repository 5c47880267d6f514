"""Every CSV Outreach writes goes through one writer that defuses spreadsheet formulas.

A cell starting with = + - @ (or a tab or carriage return) is a formula to Excel, LibreOffice
and Google Sheets: a contact's name, a sector from an import or a group name could run one
on the machine of whoever opens the export. Such text cells get a leading quote; numbers
are written as they are (a negative count stays a number).
"""

from __future__ import annotations

import csv
import io
from collections.abc import Callable, Iterable
from typing import IO, Any

from flask import Response

FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def neutralize_cell(value: str) -> str:
    """Defuse a formula: a text cell starting with = + - @ gets a leading quote."""
    return "'" + value if value.startswith(FORMULA_START) else value


class SafeWriter:
    """csv.writer, with every text cell neutralized."""

    def __init__(self, out: IO[str]) -> None:
        self.writer = csv.writer(out)

    def writerow(self, row: Iterable[Any]) -> None:
        """Write one row (None is an empty cell)."""
        self.writer.writerow(
            [
                neutralize_cell(cell) if isinstance(cell, str) else ("" if cell is None else cell)
                for cell in row
            ]
        )


def csv_download(write: Callable[[IO[str]], None], filename: str) -> Response:
    """What `write` writes, as a CSV attachment of this file name (admin pages, API)."""
    out = io.StringIO()
    write(out)
    return Response(
        out.getvalue(),
        mimetype="text/csv",
        headers={"Content-Disposition": f'attachment; filename="{filename}"'},
    )
