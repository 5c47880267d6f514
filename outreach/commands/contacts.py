"""`outreach contacts …`"""

from __future__ import annotations

import getpass
import json
import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import IO

import click

from outreach.application.imports import run_import
from outreach.application.sectors import DEFAULT_COLUMNS, classify
from outreach.commands.support import (
    OutreachGroup,
    emit_json,
    json_option,
    progress,
    session_scope,
    settings,
)
from outreach.contacts.importer import (
    ImportOptions,
    ImportReport,
    own_attribute_name,
    parse_mapping,
)
from outreach.contacts.models import ContactStatus
from outreach.contacts.presets import NAMES
from outreach.contacts.sectors import load_rules, parse_rules, save_rules
from outreach.contacts.service import export_csv
from outreach.errors import ValidationError

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
    "--status",
    type=click.Choice(["pending", "subscribed"]),
    help="What the contacts are imported as (default: pending; subscribed for a Mailchimp "
    "export, whose opt-ins are kept).",
)
@click.option("--sector-column", default="sector", show_default=True)
@click.option(
    "--map",
    "mappings",
    multiple=True,
    metavar="COLUMN=FIELD",
    help="Read COLUMN as FIELD: email, a profile field, attributes.NAME, name, tags or ignore "
    "(repeatable; over the preset's).",
)
@click.option(
    "--mapping",
    "mapping_file",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="A saved mapping: a file of COLUMN=FIELD lines, or a JSON object (--map wins).",
)
@click.option(
    "--preset",
    type=click.Choice([*NAMES, "none"]),
    help="Read the file as this tool's export (detected from the header when not given).",
)
@click.option("--encoding", help="The file's encoding (detected when not given), e.g. cp1252.")
@click.option(
    "--delimiter",
    type=click.Choice(["comma", "semicolon", "tab"]),
    help="The cell delimiter (detected when not given).",
)
@click.option("--sheet", help="The sheet of an .xlsx workbook to read (default: the first).")
@click.option(
    "--sector-from",
    metavar="COLUMNS",
    help="Give contacts without a sector one by the sector rules over these columns, "
    "e.g. Position,Company (default: the preset's job title and company; 'none': off).",
)
@json_option
def import_command(
    file: Path,
    source: str,
    status: str | None,
    sector_column: str,
    mappings: tuple[str, ...],
    mapping_file: Path | None,
    preset: str | None,
    encoding: str | None,
    delimiter: str | None,
    sheet: str | None,
    sector_from: str | None,
    as_json: bool,
) -> None:
    """Import contacts from a CSV file or an .xlsx workbook (a header row with an email
    column, under any of its usual names; the tool that exported it, encoding, delimiter
    and lines before the header are detected)."""
    options = ImportOptions(
        source=source,
        status=ContactStatus(status) if status else None,
        sector_column=sector_column,
        file_name=file.name,
        encoding=encoding,
        delimiter={"comma": ",", "semicolon": ";", "tab": "\t"}.get(delimiter or ""),
        mapping={**read_mapping_file(mapping_file), **_mapping(mappings)},
        preset=preset,
        sheet=sheet,
        sector_from=sector_columns(sector_from),
    )
    with (
        session_scope() as session,
        file.open("rb") as raw,
        progress(os.path.getsize(file), f"Importing {file.name}", as_json) as advance,
    ):
        report, _ = run_import(
            session,
            _CountingReader(raw, advance),
            options,
            secret=settings().secret_key,
            actor=f"command line ({getpass.getuser()})",
            surface="cli",
            checkpoint=session.commit,
        )
    if as_json:
        emit_json(report.to_dict())
    else:
        print_report(report)


def read_mapping_file(path: Path | None) -> dict[str, str]:
    """A saved mapping (COLUMN=FIELD lines, `#` comments, or a JSON object)."""
    if path is None:
        return {}
    try:
        return parse_mapping(path.read_text(encoding="utf-8-sig"))
    except ValidationError as exc:
        raise click.BadParameter(f"{path}: {exc.message}", param_hint="--mapping") from exc


def sector_columns(value: str | None) -> tuple[str, ...] | None:
    """--sector-from "Position,Company" as column names (None: the preset's; none: off)."""
    if value is None:
        return None
    if value.strip().lower() == "none":
        return ()
    return tuple(c.strip() for c in value.split(",") if c.strip())


def _mapping(pairs: tuple[str, ...]) -> dict[str, str]:
    """--map "Email Address=email" pairs as header → field."""
    found = {}
    for pair in pairs:
        column, equals, target = pair.rpartition("=")
        if not equals or not column.strip() or not target.strip():
            raise click.BadParameter(f"{pair!r} is not COLUMN=FIELD", param_hint="--map")
        found[column.strip()] = target.strip()
    return found


def print_report(report: ImportReport) -> None:
    """The import summary for a person."""
    if report.preset:
        click.echo(f"preset: {report.preset}")
    if report.layout:
        click.echo(f"read as {report.layout}")
    renamed = {  # what a column became, unless it is the field or attribute of its name
        c: t
        for c, t in report.columns.items()
        if t not in (c, f"attributes.{own_attribute_name(c)}")
    }
    if renamed:
        click.echo("columns: " + ", ".join(f"{c} → {t}" for c, t in renamed.items()))
    click.echo(
        f"{report.rows} {'row' if report.rows == 1 else 'rows'}: {report.created} created, "
        f"{report.updated} updated, "
        f"{report.unchanged} unchanged, {report.skipped} skipped, {report.invalid} invalid, "
        f"{report.duplicates} duplicates"
    )
    if report.groups_created:
        click.echo("new sector groups: " + ", ".join(report.groups_created))
    if report.tag_groups_created:
        click.echo("new private groups from tags: " + ", ".join(report.tag_groups_created))
    if report.sectors_from_rules:
        said = ", ".join(f"{n} {s}" for s, n in sorted(report.sectors_from_rules.items()))
        click.echo(f"sectors from job titles (sector rules): {said}")
    if report.withdrawn or report.suppressed:
        click.echo(f"{report.withdrawn} unsubscribed, {report.suppressed} addresses suppressed")
    if report.hint:
        click.echo(report.hint)
    for n in report.notes:
        column = f" [{n['column']}]" if n["column"] else ""
        click.echo(f"  row {n['row']}{column}: note: {n['note']}", err=True)
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


@contacts_cli.command("classify")
@click.option("--dry-run", is_flag=True, help="Show what the rules would do; change nothing.")
@click.option(
    "--from",
    "columns",
    default=",".join(DEFAULT_COLUMNS),
    show_default=True,
    help="The profile fields or attributes the rules read, in order.",
)
@click.option(
    "--rules",
    "rules_file",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="Use and save these rules ('Sector: keyword, keyword' lines, or a JSON list); "
    "with --dry-run only tried, not saved.",
)
@click.option("--show-rules", is_flag=True, help="Print the rules in force and stop.")
@json_option
def classify_command(
    dry_run: bool, columns: str, rules_file: Path | None, show_rules: bool, as_json: bool
) -> None:
    """Give contacts without a sector one from their job title or company by the sector
    rules (a sector set by hand is never changed)."""
    with session_scope() as session:
        if rules_file is not None:
            text = rules_file.read_text(encoding="utf-8-sig")
            try:
                document = json.loads(text) if text.lstrip().startswith("[") else text
            except ValueError as exc:
                raise click.BadParameter(f"{rules_file}: {exc}", param_hint="--rules") from exc
            given = parse_rules(document)
            if not dry_run:  # a dry run shows what these rules would do, saving nothing
                save_rules(session, given)
        rules = given if rules_file is not None else load_rules(session)
        if show_rules:
            click.echo(rules.to_text())
            return
        wanted = tuple(c.strip() for c in columns.split(",") if c.strip())
        result = classify(session, rules, columns=wanted, apply=not dry_run)
    if as_json:
        emit_json(result.to_dict())
        return
    for sector, count in sorted(result.sectors.items()):
        found = result.keywords[sector]
        said = ", ".join(f"{k} {n}" for k, n in sorted(found.items(), key=lambda i: -i[1]))
        click.echo(f"{sector}: {count} ({said})")
    click.echo(f"left alone (sector set by hand): {result.hand_set}")
    if result.kept:
        click.echo(
            f"kept (a sector an earlier rule gave, from columns not read now): {result.kept}"
        )
    sample = ", ".join(result.unclassified_sample[:10])
    more = " …" if result.unclassified > 10 else ""
    click.echo(f"unclassified: {result.unclassified}" + (f" ({sample}{more})" if sample else ""))
    if dry_run:
        click.echo(f"dry run: {result.changed} contacts would get a sector; nothing changed")
    else:
        click.echo(f"{result.changed} contacts given a sector by the rules")
