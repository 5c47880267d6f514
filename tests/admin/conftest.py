"""Helpers for the admin page tests: arrange data in short transactions of their own.

SQLite transactions here begin IMMEDIATE (they take the write lock), so a test never keeps a
transaction open while the client or the browser talks to the application.
"""

from __future__ import annotations

import io
from collections.abc import Callable

import pytest

from outreach.contacts.importer import ImportOptions, ImportReport, import_csv
from outreach.contacts.models import ContactStatus
from tests.conftest import SECRET
from tests.support.pages import Transaction


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
