"""Readers of the HTML pages the app answers."""

from __future__ import annotations

import re
from collections.abc import Callable
from contextlib import AbstractContextManager

from sqlalchemy.orm import Session

# A fixture-made opener of short transactions (tests/admin/conftest.py `db`).
Transaction = Callable[[], AbstractContextManager[Session]]


def rows_of(html: str, table_id: str | None = None) -> list[str]:
    """The body rows of the first table (or of the table with this id), tags stripped."""
    if table_id:
        html = html.split(f'id="{table_id}"', 1)[1]
    body = html.split("<tbody>", 1)[1].split("</tbody>", 1)[0]
    rows = re.findall(r"<tr[^>]*>(.*?)</tr>", body, flags=re.S)
    return [" ".join(re.sub(r"<[^>]+>", " ", r).split()) for r in rows]
