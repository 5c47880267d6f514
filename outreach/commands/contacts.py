"""`outreach contacts …`"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import IO

import click

from outreach.commands.support import (
    OutreachGroup,
    emit_json,
    json_option,
    progress,
    session_scope,
    settings,
)
from outreach.contacts.importer import ImportOptions, ImportReport, import_csv
from outreach.contacts.models import ContactStatus
from outreach.contacts.service import export_csv

contacts_cli = OutreachGroup("contacts", help="Import, export and list contacts.")


class _CountingReader:
    """Wraps a binary file and reports how many bytes were read."""

    def __init__(self, raw: IO[bytes], report: Callable[[int], None]) -> None:
        self.raw = raw
        self.report = report
        self.read_bytes = 0
        self.reported = 0

    def readline(self, size: int = -1) -> bytes:
        line = self.raw.readline(size)
        self.read_bytes += len(line)
        if self.read_bytes - self.reported > 256 * 1024 or not line:
            self.report(self.read_bytes)
            self.reported = self.read_bytes
        return line


@contacts_cli.command("import")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--source", required=True, help="Where these contacts came from (kept as evidence).")
@click.option(
    "--status", type=click.Choice(["pending", "subscribed"]), default="pending", show_default=True
)
@click.option("--sector-column", default="sector", show_default=True)
@json_option
def import_command(file: Path, source: str, status: str, sector_column: str, as_json: bool) -> None:
    """Import contacts from a CSV file (header row required, `email` column required)."""
    options = ImportOptions(
        source=source,
        status=ContactStatus(status),
        sector_column=sector_column,
        file_name=file.name,
    )
    with (
        session_scope() as session,
        file.open("rb") as raw,
        progress(os.path.getsize(file), f"Importing {file.name}", as_json) as advance,
    ):
        report = import_csv(
            session,
            _CountingReader(raw, advance),
            options,
            secret=settings().secret_key,
            checkpoint=session.commit,
        )
    if as_json:
        emit_json(report.to_dict())
    else:
        print_report(report)


def print_report(report: ImportReport) -> None:
    """The import summary for a person."""
    click.echo(
        f"{report.rows} rows: {report.created} created, {report.updated} updated, "
        f"{report.unchanged} unchanged, {report.skipped} skipped, {report.invalid} invalid, "
        f"{report.duplicates} duplicates"
    )
    if report.groups_created:
        click.echo("new sector groups: " + ", ".join(report.groups_created))
    for p in report.problems:
        if p["kind"] == "duplicate":  # its reason names both lines
            click.echo(f"  line {p['row']}: {p['reason']}", err=True)
            continue
        column = f" [{p['column']}]" if p["column"] else ""
        click.echo(f"  row {p['row']}{column}: {p['kind']}: {p['reason']}", err=True)
    if report.unlisted() > 0:
        click.echo(f"  … and {report.unlisted()} more", err=True)


@contacts_cli.command("export")
@click.argument("file", type=click.Path(dir_okay=False, writable=True, path_type=Path))
def export_command(file: Path) -> None:
    """Export every contact to a CSV file ('-' for stdout)."""
    with session_scope() as session:
        if str(file) == "-":
            count = export_csv(session, sys.stdout)
        else:
            with file.open("w", newline="", encoding="utf-8") as out:
                count = export_csv(session, out)
    click.echo(f"{count} contacts exported to {file}", err=str(file) == "-")
