"""Every export of the catalog (tests/support/exports.py) imported through the command
line: the report, the contacts, their groups and their consent ledger."""

from __future__ import annotations

from pathlib import Path

import pytest
from flask.testing import FlaskCliRunner
from sqlalchemy.orm import Session

from tests.support.contacts import run_import
from tests.support.exports import EXPORTS, Export, check, check_report


@pytest.mark.parametrize("export", EXPORTS, ids=lambda e: e.key)
def test_an_export_imports_through_the_command_line(
    export: Export, runner: FlaskCliRunner, session: Session, tmp_path: Path
) -> None:
    path = tmp_path / export.file_name
    path.write_bytes(export.data)

    report = run_import(runner, path, *export.cli_options())

    check_report(report, export)
    check(session, export)
