"""CSV files of contacts, and `contacts import` run through the command line."""

from __future__ import annotations

import json
from pathlib import Path

from flask.testing import FlaskCliRunner

HEADER = "email,first_name,last_name,sector,organization,language,city\n"


def write(tmp_path: Path, text: str, name: str = "contacts.csv", bom: bool = False) -> Path:
    """A UTF-8 file of `text` (with a byte-order mark if asked) in tmp_path."""
    path = tmp_path / name
    path.write_bytes((b"\xef\xbb\xbf" if bom else b"") + text.encode("utf-8"))
    return path


def run_import(runner: FlaskCliRunner, path: Path, *extra: str) -> dict:
    """`contacts import PATH --json`, checked to succeed; its report."""
    result = runner.invoke(
        args=["contacts", "import", str(path), "--source", "test fair", "--json", *extra]
    )
    assert result.exit_code == 0, result.output
    assert result.stderr == ""  # --json mode: one document, no progress bar
    return json.loads(result.stdout)
