"""Helpers for the admin page tests: arrange data in short transactions of their own.

SQLite transactions here begin IMMEDIATE (they take the write lock), so a test never keeps a
transaction open while the client or the browser talks to the application.
"""

from __future__ import annotations

import io
import re
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager

import pytest
from flask import Flask
from sqlalchemy.orm import Session

from outreach.contacts.importer import ImportOptions, ImportReport, import_csv
from outreach.contacts.models import ContactStatus
from outreach.db import get_db
from tests.conftest import SECRET

Transaction = Callable[[], AbstractContextManager[Session]]


@pytest.fixture
def db(app: Flask) -> Transaction:
    """Open a session whose transaction commits when the `with` block ends."""

    @contextmanager
    def transaction() -> Iterator[Session]:
        with app.app_context(), get_db(app).session() as session:
            yield session

    return transaction


@pytest.fixture
def seed(db: Transaction) -> Callable[..., ImportReport]:
    """Import CSV text through the real importer."""

    def run(text: str, status: str = "pending", source: str = "test fair") -> ImportReport:
        with db() as session:
            return import_csv(
                session,
                io.BytesIO(text.encode()),
                ImportOptions(source=source, status=ContactStatus(status)),
                secret=SECRET,
            )

    return run


def rows_of(html: str, table_id: str | None = None) -> list[str]:
    """The body rows of the first table (or of the table with this id), tags stripped."""
    if table_id:
        html = html.split(f'id="{table_id}"', 1)[1]
    body = html.split("<tbody>", 1)[1].split("</tbody>", 1)[0]
    rows = re.findall(r"<tr[^>]*>(.*?)</tr>", body, flags=re.S)
    return [" ".join(re.sub(r"<[^>]+>", " ", r).split()) for r in rows]
