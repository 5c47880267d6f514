"""Exporting contacts from the command line."""

from __future__ import annotations

import csv
from pathlib import Path

from flask.testing import FlaskCliRunner

from tests.support.contacts import HEADER, run_import, write


def test_export_round_trip_and_formula_neutralized(runner: FlaskCliRunner, tmp_path: Path) -> None:
    run_import(
        runner,
        write(tmp_path, HEADER + 'a@example.org,=HYPERLINK("x"),+1,Thinkers,@corp,en,-Lyon\n'),
    )
    out = tmp_path / "out.csv"
    result = runner.invoke(args=["contacts", "export", str(out)])
    assert result.exit_code == 0, result.output
    with out.open(encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    assert rows[0]["email"] == "a@example.org"
    assert rows[0]["first_name"] == '\'=HYPERLINK("x")'
    assert rows[0]["last_name"] == "'+1"
    assert rows[0]["organization"] == "'@corp"
    assert rows[0]["city"] == "'-Lyon"
    assert rows[0]["groups"] == "Thinkers" and rows[0]["status"] == "pending"
