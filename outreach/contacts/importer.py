"""CSV import: stream rows, validate each, merge into the database chunk by chunk."""

from __future__ import annotations

import csv
import ipaddress
import json
import queue
import re
import sqlite3
import threading
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Protocol

import sqlalchemy as sa
from sqlalchemy.orm import Session

from outreach.consent.models import ConsentAction, ConsentEvent, Purpose, Suppression
from outreach.consent.notice import current_notice
from outreach.contacts.fields import (
    MAX_ATTRIBUTE_VALUE,
    MAX_ATTRIBUTES,
    MAX_IMPORT_COLUMNS,
    PROFILE_FIELDS,
    check_attribute_count,
    clean_attribute_value,
    clean_profile,
)
from outreach.contacts.identity import email_hmac, normalize_email
from outreach.contacts.models import Contact, ContactStatus
from outreach.contacts.presets import Preset, RowsAre, detect, named
from outreach.contacts.sectors import SectorRules, load_rules
from outreach.contacts.table import (
    ByteLines,
    Sample,
    TextLines,
    detect_layout,
    header_key,
)
from outreach.contacts.workbook import Record, Workbook, is_workbook
from outreach.db import utcnow
from outreach.db_bulk import (
    among,
    insert_returning_ids,
    insert_rows,
    refresh_statistics,
    table_of,
)
from outreach.errors import ImportFileError, ValidationError
from outreach.groups.models import Group, GroupKind, GroupMembership
from outreach.groups.service import affinity_group_ids, group_key, sector_group_ids
from outreach.spreadsheet import FORMULA_START

FORMULA_STARTS = set(FORMULA_START)
CHUNK = 2000
PARSED_AHEAD = 2  # chunks parsed while the one before them is written
MAX_REPORTED = 1000
# Bytes: more than any row within the limits (every cell at its cap, 4 bytes a character).
# A longer line is refused as a row without being read whole; so is a quoted cell that
# spans lines beyond it (csv's field limit). Shorter oversize cells are read, then refused
# naming their column.
MAX_LINE = MAX_IMPORT_COLUMNS * (4 * MAX_ATTRIBUTE_VALUE + 3)
_ATTRIBUTE = re.compile(r"[^a-z0-9_]+")
_FIELD_LIMIT = "field larger than field limit"

csv.field_size_limit(max(MAX_LINE, csv.field_size_limit()))


@dataclass
class ImportReport:
    """What an import did, row by row where something went wrong."""

    rows: int = 0
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    skipped: int = 0
    invalid: int = 0
    duplicates: int = 0  # later rows of an address already in the file: not imported
    groups_created: list[str] = field(default_factory=list)
    problems: list[dict[str, Any]] = field(default_factory=list)
    tag_groups_created: list[str] = field(default_factory=list)
    layout: str = ""  # how the file was read: encoding, delimiter, lines skipped
    columns: dict[str, str] = field(default_factory=dict)  # header → what it became
    preset: str = ""  # the tool whose export this is, when its header says it
    status: str = ""  # what the rows were imported as
    hint: str = ""  # what the import means for the contacts' consent, in one sentence
    suppressed: int = 0  # addresses the file says bounced or were blocklisted
    withdrawn: int = 0  # contacts the file says unsubscribed
    sectors_from_rules: dict[str, int] = field(default_factory=dict)  # sector → contacts
    notes: list[dict[str, Any]] = field(default_factory=list)  # imported, with a remark

    def problem(self, kind: str, row: int, column: str | None, reason: str) -> None:
        """Count a skipped, invalid or duplicate row and keep its details (the first
        MAX_REPORTED)."""
        counter = "duplicates" if kind == "duplicate" else kind
        setattr(self, counter, getattr(self, counter) + 1)
        if len(self.problems) < MAX_REPORTED:
            self.problems.append({"row": row, "kind": kind, "column": column, "reason": reason})

    def unlisted(self) -> int:
        """Rows with a problem beyond the MAX_REPORTED listed."""
        return self.skipped + self.invalid + self.duplicates - len(self.problems)

    def to_dict(self) -> dict[str, Any]:
        """The summary document printed by --json and returned by the API."""
        return {
            "rows": self.rows,
            "created": self.created,
            "updated": self.updated,
            "unchanged": self.unchanged,
            "skipped": self.skipped,
            "invalid": self.invalid,
            "duplicates": self.duplicates,
            "groups_created": self.groups_created,
            "tag_groups_created": self.tag_groups_created,
            "problems": self.problems,
            "layout": self.layout,
            "columns": self.columns,
            "preset": self.preset,
            "status": self.status,
            "hint": self.hint,
            "suppressed": self.suppressed,
            "withdrawn": self.withdrawn,
            "sectors_from_rules": self.sectors_from_rules,
            "notes": self.notes,
        }

    def note(self, row: int, column: str | None, remark: str) -> None:
        """Something to know about a row that was imported (the first MAX_REPORTED)."""
        if len(self.notes) < MAX_REPORTED:
            self.notes.append({"row": row, "column": column, "note": remark})


@dataclass(frozen=True)
class ImportOptions:
    """How to read the file and what the rows mean."""

    source: str
    # None: subscribed for a tool's export that records each opt-in (Mailchimp), else
    # pending; a file of unsubscribed or cleaned addresses imports as what it holds.
    status: ContactStatus | None = None
    sector_column: str = "sector"
    file_name: str = "upload.csv"
    encoding: str | None = None  # None: detected
    delimiter: str | None = None  # None: detected (comma, semicolon or tab)
    # Header → field (`email`, a profile field, `attributes.NAME` or `ignore`), over aliases.
    mapping: dict[str, str] = field(default_factory=dict)
    preset: str | None = None  # None: detected from the header; "none": no preset
    sheet: str | None = None  # the sheet of an .xlsx workbook (None: the first)
    # Columns whose words give a contact with no sector its sector by the sector rules
    # (None: the preset's job-title and company columns; (): none).
    sector_from: tuple[str, ...] | None = None


@dataclass
class _Row:
    number: int
    email: str
    key: str
    profile: dict[str, Any]
    attributes: dict[str, Any]
    evidence: dict[str, Any] = field(default_factory=dict)  # the tool's consent record
    tags: list[str] = field(default_factory=list)
    sector_rule: bool = False  # the sector comes from a sector rule, not the file
    blocklisted: bool = False  # the exporting tool never mails this address
    hmac: str = ""  # email_hmac of the key, once a chunk needs it


# Header names of the profile fields in the tools people export from (compared by
# table.header_key: no case, accents or punctuation).
ALIASES = {
    "email": (
        "email",
        "e mail",
        "email address",
        "e mail address",
        "mail",
        "e mail 1 value",
        "email 1 value",
        "correo",
        "correo electronico",
        "courriel",
        "adresse e mail",
    ),
    "first_name": ("first name", "firstname", "given name", "vorname", "nombre", "prenom"),
    "last_name": (
        "last name",
        "lastname",
        "family name",
        "surname",
        "nachname",
        "apellido",
        "apellidos",
        "nom de famille",
    ),
    "organization": (
        "organization",
        "organisation",
        "company",
        "company name",
        "organization name",
        "empresa",
        "firma",
        "societe",
    ),
    "language": ("language", "idioma", "sprache", "langue"),
}
# Another tool's record of the opt-in (Mailchimp's audience export): kept as consent events.
EVIDENCE = {
    "optin time": "evidence.given_at",
    "optin ip": "evidence.given_ip",
    "confirm time": "evidence.confirmed_at",
    "confirm ip": "evidence.confirmed_ip",
}
# Tags (Mailchimp: `"Conference 2023","VIP"`) and labels (Google: `* myContacts ::: Friends`):
# private affinity groups.
TAG_COLUMNS = {"tags": "tags", "labels": "tags"}
# Columns of Outreach's own export that are not profile data: never attributes.
KNOWN_IGNORED = {"status": "ignored (the status comes from --status)", "groups": "ignored"}
ALIAS_OF = {alias: target for target, names in ALIASES.items() for alias in names}
TARGETS = ("email", *PROFILE_FIELDS)


def is_email_header(cell: str) -> bool:
    """Whether a header cell names the email column."""
    return ALIAS_OF.get(header_key(cell)) == "email"


def email_header_test(options: ImportOptions) -> Callable[[str], bool]:
    """Whether a header cell names the email column, counting the person's --map."""
    mapped = {header_key(k) for k, v in options.mapping.items() if v == "email"}
    return lambda cell: header_key(cell) in mapped or is_email_header(cell)


# Fields a column can be read as beyond the profile's (see ColumnMap).
SPECIAL_TARGETS = ("ignore", "tags", "name", "attributes.*", "blocklist")


def parse_mapping(text: str) -> dict[str, str]:
    """A saved column mapping: `COLUMN=FIELD` lines (`#` starts a comment) or a JSON
    object of column → field."""
    if text.lstrip().startswith("{"):
        try:
            document = json.loads(text)
        except ValueError as exc:
            raise ValidationError(f"not a JSON object ({exc})", field="mapping") from exc
        if not isinstance(document, dict) or not all(
            isinstance(k, str) and isinstance(v, str) for k, v in document.items()
        ):
            raise ValidationError("a JSON object of column names to fields", field="mapping")
        return {k.strip(): v.strip() for k, v in document.items()}
    found = {}
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        column, equals, target = line.rpartition("=")
        if not equals or not column.strip() or not target.strip():
            raise ValidationError(f"line {number}: {line.strip()!r} is not COLUMN=FIELD")
        found[column.strip()] = target.strip()
    return found


class ColumnMap:
    """Which header column (by position) feeds which contact field: the person's mapping
    first, then the preset's, then the aliases of the profile fields, then an attribute
    per other column."""

    def __init__(
        self,
        header: list[str] | None,
        options: ImportOptions,
        line: int = 1,
        preset: Preset | None = None,
    ) -> None:
        if not header:
            raise ImportFileError(f"{options.file_name}: the file is empty (no header row)")
        if len(header) > MAX_IMPORT_COLUMNS:
            raise ImportFileError(
                f"{options.file_name}: line {line}: {len(header)} columns, more than the "
                f"{MAX_IMPORT_COLUMNS} a file may have (email, {len(PROFILE_FIELDS)} profile "
                f"fields and {MAX_ATTRIBUTES} attributes)"
            )
        self.names = names = [(h or "").strip() for h in header]
        mapping = {header_key(k): v for k, v in options.mapping.items()}
        known = preset.mapping if preset else {}
        sector = header_key(options.sector_column)
        self.fields: dict[str, int] = {}
        self.attributes: dict[int, str] = {}
        self.evidence: dict[str, int] = {}
        self.tags: list[int] = []
        self.name: int | None = None  # a full name, split into first and last
        self.json_attributes: int | None = None  # a JSON object of attributes (listmonk)
        self.blocklist: int | None = None  # listmonk's status: "blocklisted" is never mailed
        self.described: dict[str, str] = {}
        for index, name in enumerate(names):
            key = header_key(name)
            target = mapping.get(key) or ("sector" if key == sector else "")
            target = target or known.get(key, "") or ALIAS_OF.get(key, "")
            target = target or EVIDENCE.get(key, "") or TAG_COLUMNS.get(key, "")
            if target.startswith("evidence.") and target[9:] not in self.evidence:
                self.evidence[target[9:]] = index
                self.described[name] = "consent evidence"
            elif target == "tags":
                self.tags.append(index)
                self.described[name] = "groups (private)"
            elif target in TARGETS and target not in self.fields:
                self.fields[target] = index
                self.described[name] = target
            elif target == "name" and self.name is None:
                self.name = index
                self.described[name] = "first_name and last_name"
            elif target == "attributes.*" and self.json_attributes is None:
                self.json_attributes = index
                self.described[name] = "attributes (a JSON object)"
            elif target == "blocklist" and self.blocklist is None:
                self.blocklist = index
                self.described[name] = "blocklisted addresses suppressed"
            elif target == "ignore" or (not target and key in KNOWN_IGNORED):
                self.described[name] = KNOWN_IGNORED.get(key, "ignored")
            elif target.startswith("attributes.") and target != "attributes.*":
                self.attributes[index] = _attribute_name(target[11:], options.file_name)
                self.described[name] = f"attributes.{self.attributes[index]}"
            elif name:  # a second column for a field already read is kept as an attribute
                self.attributes[index] = _attribute_name(name, options.file_name)
                self.described[name] = f"attributes.{self.attributes[index]}"
        unknown = sorted(set(mapping.values()) - {*TARGETS, *SPECIAL_TARGETS})
        unknown = [u for u in unknown if not u.startswith("attributes.")]
        if unknown:
            raise ImportFileError(
                f"--map: {unknown[0]!r} is not a field (email, {', '.join(PROFILE_FIELDS)}, "
                "attributes.NAME, name, tags or ignore)",
                field="map",
            )
        if "email" not in self.fields:
            found = ", ".join(repr(n) for n in names) or "nothing"
            raise ImportFileError(
                f"{options.file_name}: line {line}: no email column in the header (found "
                f'{found}); name it with --map "COLUMN=email"',
                field="email",
            )
        self.email = self.fields.pop("email")
        self.sector_from = self._sector_columns(options, preset)

    def _sector_columns(self, options: ImportOptions, preset: Preset | None) -> list[int]:
        """The columns a sector rule reads: those the person named (each must be there),
        else the preset's job title and company when the file has them."""
        keys = [header_key(n) for n in self.names]
        if options.sector_from is None:
            wanted = preset.sector_from if preset else ()
            return [keys.index(k) for k in wanted if k in keys]
        found = []
        for column in options.sector_from:
            if header_key(column) not in keys:
                raise ImportFileError(
                    f"--sector-from: no column {column!r} in the header (found "
                    f"{', '.join(repr(n) for n in self.names)})",
                    field="sector_from",
                )
            found.append(keys.index(header_key(column)))
        return found

    def column_of(self, field: str | None) -> str | None:
        """The header name of the column a validation error is about (None: the whole row)."""
        if field == "email":
            return self.names[self.email]
        if field == "attributes":
            return None
        if field in self.names:
            return field
        index = self.fields.get(field or "")
        return field if index is None else self.names[index]


def own_attribute_name(column: str) -> str:
    """The attribute a column becomes when nothing maps it elsewhere."""
    return _ATTRIBUTE.sub("_", column.strip().lower()).strip("_")[:63]


def _attribute_name(column: str, file_name: str) -> str:
    name = _ATTRIBUTE.sub("_", column.strip().lower()).strip("_")
    if not name or not (name[0].isalpha() or name[0] == "_"):
        raise ImportFileError(
            f"{file_name}: line 1: column {column!r} cannot be used as an attribute name",
            field=column,
        )
    return name[:63]


@dataclass
class Table:
    """A file opened for import: how it is written, whose export it is, what each column
    becomes, and its records after the header."""

    layout: str
    preset: Preset | None
    columns: ColumnMap
    records: Iterator[Record]


def open_table(stream: ByteLines, options: ImportOptions) -> Table:
    """Read a file's layout (a CSV's encoding, delimiter and lines before the header, or
    an .xlsx workbook's sheet) and header; the preset is the one the header shows unless
    the person named one."""
    sample = Sample(stream)
    finds_email = email_header_test(options)
    records: Iterator[Record]
    header: list[str] | None
    if is_workbook(sample.data):
        book = Workbook(sample, options.file_name, options.sheet, finds_email)
        layout, header, line = book.describe(), book.header, book.header_line
        records = book.records()
    else:
        if options.sheet:
            raise ImportFileError(
                f"--sheet: {options.file_name} is a text file, not an Excel workbook",
                field="sheet",
            )
        found = detect_layout(
            sample.data, finds_email, encoding=options.encoding, delimiter=options.delimiter
        )
        lines = TextLines(sample, options.file_name, found.encoding, MAX_LINE)
        for _ in range(found.preamble):
            next(lines, None)
        reader = csv.reader(lines, delimiter=found.delimiter)
        try:
            first = next(reader, None)
        except csv.Error as exc:
            raise ImportFileError(f"{options.file_name}: line {lines.number}: {exc}") from exc
        layout, header, line = found.describe(), first, lines.number
        records = _records(lines, reader)
    keys = {header_key(c) for c in header or []}
    preset = detect(keys) if options.preset is None else named(options.preset)
    return Table(layout, preset, ColumnMap(header, options, line, preset), records)


def _records(lines: TextLines, reader: Iterator[list[str]]) -> Iterator[Record]:
    """A CSV's records numbered by the line each starts on (an unreadable one: its error)."""
    while True:
        number = lines.number + 1  # where the next record starts
        try:
            cells = next(reader, None)
        except csv.Error as exc:
            yield number, _unreadable(exc)
            continue
        if cells is None:
            return
        yield number, cells


class RowReport(Protocol):
    """What parsing rows tells a report: rows counted, problems and notes."""

    rows: int

    def problem(self, kind: str, row: int, column: str | None, reason: str) -> None: ...

    def note(self, row: int, column: str | None, remark: str) -> None: ...


def read_rows(table: Table, report: RowReport, rules: SectorRules | None = None) -> Iterator[_Row]:
    """Valid rows of a table; invalid ones (numbered by line) go into the report."""
    for number, cells in table.records:
        if isinstance(cells, str):
            report.rows += 1
            report.problem("invalid", number, None, cells)
        elif any(cells):  # a blank line is no row
            report.rows += 1
            row = _parse(number, cells, table.columns, report, rules)
            if row is not None:
                yield row


def _unreadable(exc: csv.Error) -> str:
    """Why csv could not read a row, in the words of the limits."""
    if str(exc).startswith(_FIELD_LIMIT):
        # No line is longer than the field limit: only a quoted cell spanning lines gets
        # there. Reading goes on at the next line, which may be the middle of that cell.
        return (
            f"a quoted cell runs on over lines, longer than {MAX_ATTRIBUTE_VALUE} characters "
            "(a quote left open?)"
        )
    return str(exc)


def _unguarded(cell: str) -> str:
    """A cell as it was before a spreadsheet formula guard (Outreach's own export and
    Excel write `'+34 600…` for `+34 600…`)."""
    return cell[1:] if cell[:1] == "'" and cell[1:2] in FORMULA_STARTS else cell


def _parse(
    number: int,
    cells: list[str],
    columns: ColumnMap,
    report: RowReport,
    rules: SectorRules | None = None,
) -> _Row | None:
    width = len(columns.names)
    if len(cells) > width and any(cells[width:]):
        report.problem("invalid", number, None, "more cells than header columns")
        return None
    cells = [_unguarded(c) for c in cells[:width]] + [""] * (width - len(cells))
    try:
        address = _first_address(number, cells[columns.email], columns, report)
        email, key = normalize_email(address)
        profile = clean_profile({f: cells[i] for f, i in columns.fields.items()})
        if columns.name is not None:
            _split_name(cells[columns.name], profile)
        attributes = _json_attributes(cells, columns)
        for index, name in columns.attributes.items():
            if cells[index]:
                attributes[name] = clean_attribute_value(columns.names[index], cells[index])
        check_attribute_count(len(attributes))
        evidence = _evidence(cells, columns)
    except ValidationError as exc:
        report.problem("invalid", number, columns.column_of(exc.field), exc.message)
        return None
    tags = [t for index in columns.tags for t in _tags(cells[index])]
    row = _Row(number, email, key, profile, attributes, evidence, tags)
    if columns.blocklist is not None:
        row.blocklisted = cells[columns.blocklist].strip().lower() in ("blocklisted", "blacklisted")
    if rules is not None and columns.sector_from and not profile.get("sector"):
        found = rules.match(cells[i] for i in columns.sector_from)
        if found:
            profile["sector"], row.sector_rule = found[0], True
    return row


_SEPARATORS = re.compile(r"\s*(?::::|[,;\s])\s*")


def _first_address(number: int, cell: str, columns: ColumnMap, report: RowReport) -> str:
    """The cell's address; of a cell with several (Google's `a ::: b`), the first, the
    others named in the report."""
    if ":::" not in cell and cell.count("@") < 2:
        return cell
    found = [a for a in _SEPARATORS.split(cell.strip()) if a]
    if len(found) > 1:
        report.note(
            number,
            columns.names[columns.email],
            f"the cell holds {len(found)} addresses: {found[0]} imported, "
            f"{', '.join(found[1:])} not",
        )
    return found[0] if found else ""


def _split_name(cell: str, profile: dict[str, Any]) -> None:
    """A full name's first word as the first name, the rest as the last name (where no
    column gives them)."""
    first, _, last = " ".join(cell.split()).partition(" ")
    names = clean_profile({"first_name": first, "last_name": last})
    for field_name, value in names.items():
        if not profile.get(field_name):
            profile[field_name] = value


def _json_attributes(cells: list[str], columns: ColumnMap) -> dict[str, Any]:
    """The attributes of a column holding a JSON object (listmonk's `attributes`)."""
    if columns.json_attributes is None or not cells[columns.json_attributes].strip():
        return {}
    column = columns.names[columns.json_attributes]
    try:
        document = json.loads(cells[columns.json_attributes])
    except ValueError as exc:
        raise ValidationError(f"not a JSON object ({exc})", field=column) from exc
    if not isinstance(document, dict):
        raise ValidationError("not a JSON object", field=column)
    found = {}
    for name, value in document.items():
        text = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)
        attribute = _ATTRIBUTE.sub("_", str(name).strip().lower()).strip("_")[:63]
        if attribute and (attribute[0].isalpha() or attribute[0] == "_") and value is not None:
            found[attribute] = clean_attribute_value(column, text)
    return found


def _evidence(cells: list[str], columns: ColumnMap) -> dict[str, Any]:
    """The opt-in another tool recorded: times (UTC unless they say otherwise) and IPs."""
    found: dict[str, Any] = {}
    for name, index in columns.evidence.items():
        value = cells[index].strip()
        if not value:
            continue
        column = columns.names[index]
        if name.endswith("_at"):
            try:
                moment = datetime.fromisoformat(value)
            except ValueError as exc:
                raise ValidationError(f"{value!r} is not a date and time", field=column) from exc
            found[name] = moment if moment.tzinfo else moment.replace(tzinfo=UTC)
        else:
            try:
                found[name] = str(ipaddress.ip_address(value))
            except ValueError as exc:
                raise ValidationError(f"{value!r} is not an IP address", field=column) from exc
    return found


def _tags(cell: str) -> list[str]:
    """Group names of a tags cell: Mailchimp's quoted list, Google's `a ::: b` labels (its
    own `* myContacts`-style labels left out) or Outlook's `a;b` categories."""
    if ":::" in cell:
        names = [n.strip() for n in cell.split(":::")]
    elif ";" in cell and "," not in cell and '"' not in cell:
        names = [n.strip() for n in cell.split(";")]
    else:
        names = [n.strip() for n in next(csv.reader([cell]), [])]
    return [n[:200] for n in names if n and not n.startswith("* ")]


@dataclass
class _Found:
    """What parsing one chunk's rows reported, in the order it was reported."""

    rows: int = 0
    told: list[tuple[str, tuple[Any, ...]]] = field(default_factory=list)

    def problem(self, *details: Any) -> None:
        self.told.append(("problem", details))

    def note(self, *details: Any) -> None:
        self.told.append(("note", details))

    def tell(self, report: ImportReport) -> None:
        """Pass it on to the import's report."""
        report.rows += self.rows
        for kind, details in self.told:
            getattr(report, kind)(*details)


_DONE = object()


def parsed_chunks(
    table: Table, report: ImportReport, secret: str, rules: SectorRules | None = None
) -> Iterator[list[_Row]]:
    """The table's valid rows in chunks of CHUNK, one row per address (the first in the
    file, `first_rows`), each with its address's HMAC: parsed by a thread of their own up
    to PARSED_AHEAD chunks ahead, so that parsing the next chunk overlaps the database's
    work on this one (the database's waits release the GIL to it). What parsing reported
    reaches `report` just before its chunk is yielded: the report reads as if each chunk
    were parsed, then merged."""
    found = _Found()
    ahead: queue.Queue[Any] = queue.Queue(maxsize=PARSED_AHEAD)
    stop = threading.Event()

    def hand_over(item: Any) -> bool:
        while not stop.is_set():
            try:
                ahead.put(item, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False  # the import ended: nobody takes it

    def parse() -> None:
        nonlocal found
        seen = FirstLines()  # its SQLite connection belongs to this thread

        def finished(chunk: list[_Row]) -> tuple[list[_Row], _Found]:
            nonlocal found
            done, found = found, _Found()
            chunk = first_rows(chunk, seen, done)
            for row in chunk:
                row.hmac = email_hmac(secret, row.key)
            return chunk, done

        try:
            chunk: list[_Row] = []
            for row in read_rows(table, found, rules):
                chunk.append(row)
                if len(chunk) >= CHUNK:
                    if not hand_over(finished(chunk)):
                        return
                    chunk = []
            if hand_over(finished(chunk)):
                hand_over(_DONE)
        except BaseException as exc:  # noqa: BLE001 - raised again by the importing thread
            hand_over(exc)
        finally:
            seen.close()

    parser = threading.Thread(target=parse, name="import-parser", daemon=True)
    parser.start()
    try:
        while (item := ahead.get()) is not _DONE:
            if isinstance(item, BaseException):
                raise item
            chunk, told = item
            told.tell(report)
            if chunk:
                yield chunk
    finally:
        stop.set()
        parser.join()


class FirstLines:
    """The line where each address of the file first appeared, across chunks.

    Kept in a private temporary SQLite database, keyed by the address's hash (Python's,
    keyed per process: no address is written, and two addresses of one file share a hash
    with odds of about 1 in 30 million for a million rows): SQLite holds it in its bounded
    page cache and spills to a file it deletes on close, so a file of a million rows keeps
    the importer's memory flat (a dict of a million addresses: ~150 MB). ~2 µs a row."""

    def __init__(self) -> None:
        self.db = sqlite3.connect("")  # "": a temporary database of this connection only
        self.db.execute("CREATE TABLE seen (digest INTEGER PRIMARY KEY, line INTEGER)")

    def earlier(self, keys: set[str]) -> dict[str, int]:
        """The first line of each of these addresses met in an earlier chunk."""
        digests = {hash(k): k for k in keys}
        found: dict[str, int] = {}
        chunk = list(digests)
        for start in range(0, len(chunk), 500):
            part = chunk[start : start + 500]
            marks = ",".join("?" * len(part))
            for digest, line in self.db.execute(
                f"SELECT digest, line FROM seen WHERE digest IN ({marks})",  # noqa: S608 - marks
                part,
            ):
                found[digests[digest]] = line
        return found

    def add(self, rows: list[_Row]) -> None:
        """Remember where these (first) rows of their addresses are."""
        self.db.executemany(
            "INSERT OR IGNORE INTO seen VALUES (?, ?)", [(hash(r.key), r.number) for r in rows]
        )

    def close(self) -> None:
        """Drop the temporary database."""
        self.db.close()


def first_rows(rows: list[_Row], seen: FirstLines, report: RowReport) -> list[_Row]:
    """One row per address, the first in the file: a later row of an address is not
    imported at all (it never overwrites a value of the first) and is reported as a
    duplicate naming the line that was kept."""
    earlier = seen.earlier({r.key for r in rows})
    kept: dict[str, _Row] = {}
    for row in rows:
        first = kept.get(row.key)
        line = first.number if first else earlier.get(row.key)
        if line is None:
            kept[row.key] = row
            continue
        reason = f"same address as line {line}; kept line {line}'s values"
        report.problem("duplicate", row.number, "email", reason + _not_imported(first, row))
    seen.add(list(kept.values()))
    return list(kept.values())


def _not_imported(first: _Row | None, row: _Row) -> str:
    """Which values of a later row of the address differ from the first row's, as the
    report says it (nothing to say when the first row is in an earlier chunk)."""
    if first is None:
        return ""
    names = [f for f, v in row.profile.items() if v and v != first.profile.get(f)]
    names += [a for a, v in row.attributes.items() if v != first.attributes.get(a)]
    if not names:
        return ""
    more = f" and {len(names) - 5} more" if len(names) > 5 else ""
    return f" (this line's {', '.join(names[:5])}{more} not imported)"


def _too_many_attributes(
    kept: dict[str, Any], row: _Row, report: ImportReport, together: str
) -> bool:
    """Report a row whose attributes, added to those kept, pass MAX_ATTRIBUTES (the API's)."""
    count = len(kept.keys() | row.attributes.keys())
    if count <= max(len(kept), MAX_ATTRIBUTES):  # adds nothing new, or stays within
        return False
    report.problem(
        "invalid",
        row.number,
        None,
        f"{count} attributes {together}, more than the {MAX_ATTRIBUTES} a contact may have",
    )
    return True


class ContactImporter:
    """Merges validated rows into the database, a chunk at a time."""

    def __init__(
        self,
        session: Session,
        options: ImportOptions,
        report: ImportReport,
        preset: Preset | None = None,
    ) -> None:
        self.session = session
        self.options = options
        self.report = report
        self.rows_are = preset.rows_are if preset else RowsAre.CONTACTS
        self.status = effective_status(options, preset)
        # "Mailchimp export Connections.csv": the source of the events another tool recorded.
        tool = preset.label.split()[0] if preset else "the exporting tool's"
        self.evidence_source = f"{tool} export {options.file_name}"[:1000]
        self.sector_ids: dict[str, int] = {}
        self.source = f"import:{options.file_name} ({options.source})"
        self.not_imported: set[int] = set()  # existing contacts a row could not update

    def run(self, chunks: Iterable[list[_Row]], checkpoint: Callable[[], None]) -> None:
        """Import every chunk of rows (one per address, hashed: `parsed_chunks`), calling
        `checkpoint` after each."""
        for chunk in chunks:
            self.merge(chunk)
            checkpoint()

    def merge(self, rows: list[_Row]) -> None:
        """Create or update the contacts of one chunk."""
        blocklisted = [r for r in rows if r.blocklisted]
        if blocklisted:
            self._suppress(blocklisted, "blocklisted in the tool that exported it")
            for row in blocklisted:
                self.report.problem(
                    "skipped", row.number, "email", "blocklisted there: suppressed, not imported"
                )
            rows = [r for r in rows if not r.blocklisted]
        if self.rows_are is RowsAre.CLEANED:
            self.report.suppressed += self._suppress(rows, "bounced (cleaned by the tool)")
            return
        rows = self._drop_suppressed(rows)
        self._ensure_sectors(rows)
        existing = self._existing({r.key for r in rows})
        new = [r for r in rows if r.key not in existing]
        created = self._create(new)
        changed = [created[r.key] for r in new] if self._changing_consent else []
        changed += self._update([r for r in rows if r.key in existing], existing)
        ids = {**{k: row.id for k, row in existing.items()}, **created}
        imported = [r for r in rows if r.key in ids and ids[r.key] not in self.not_imported]
        by_id = {ids[r.key]: r for r in imported}
        if self.rows_are is RowsAre.UNSUBSCRIBED:
            self._record_withdrawals(changed, by_id)
        else:
            self._record_consent(changed, by_id)
        self._join_tags({ids[r.key]: r.tags for r in imported if r.tags})

    @property
    def _changing_consent(self) -> bool:
        """Whether the rows' contacts get consent events: subscribed, or unsubscribed."""
        return self.status is not ContactStatus.PENDING

    def _suppress(self, rows: list[_Row], reason: str) -> int:
        """Suppress these addresses (a contact among them becomes bounced when they
        bounced); returns how many were not suppressed already."""
        hashes = {r.hmac for r in rows}
        have = set(
            self.session.scalars(
                sa.select(Suppression.email_hmac).where(
                    among(self.session, Suppression.email_hmac, hashes)
                )
            )
        )
        now = utcnow()
        insert_rows(
            self.session,
            table_of(Suppression),
            [{"email_hmac": h, "reason": reason[:100], "created_at": now} for h in hashes - have],
        )
        if self.rows_are is RowsAre.CLEANED:
            self.session.execute(
                sa.update(Contact)
                .where(
                    among(self.session, Contact.email_key, {r.key for r in rows}),
                    Contact.status.in_((ContactStatus.PENDING, ContactStatus.SUBSCRIBED)),
                )
                .values(status=ContactStatus.BOUNCED, updated_at=now)
            )
            self.report.unchanged += len(have)
        return len(hashes - have)

    def _drop_suppressed(self, rows: list[_Row]) -> list[_Row]:
        hashes = {r.hmac: r for r in rows}
        found = self.session.execute(
            sa.select(Suppression.email_hmac, Suppression.reason).where(
                among(self.session, Suppression.email_hmac, hashes)
            )
        ).all()
        dropped = set()
        for digest, reason in found:
            row = hashes[digest]
            dropped.add(row.key)
            self.report.problem(
                "skipped",
                row.number,
                "email",
                f"address is suppressed ({reason}); only a fresh double opt-in lifts it",
            )
        return [r for r in rows if r.key not in dropped]

    def _ensure_sectors(self, rows: list[_Row]) -> None:
        names = {r.profile["sector"] for r in rows if r.profile.get("sector")}
        missing = {n for n in names if group_key(n) not in self.sector_ids}
        if not missing:
            return
        before = set(
            self.session.scalars(sa.select(Group.name_key).where(Group.kind == GroupKind.SECTOR))
        )
        self.sector_ids.update(sector_group_ids(self.session, missing))
        self.report.groups_created += sorted(
            " ".join(n.split()) for n in missing if group_key(n) not in before
        )

    def _existing(self, keys: set[str]) -> dict[str, sa.Row[Any]]:
        columns = [
            Contact.id,
            Contact.email_key,
            Contact.email,
            Contact.status,
            Contact.attributes,
            Contact.sector_source,
            *(getattr(Contact, f) for f in PROFILE_FIELDS),
        ]
        result = self.session.execute(
            sa.select(*columns).where(among(self.session, Contact.email_key, keys))
        )
        return {row.email_key: row for row in result}

    def _create(self, rows: list[_Row]) -> dict[str, int]:
        if not rows:
            return {}
        now = utcnow()
        values = [
            {
                "email": r.email,
                "email_key": r.key,
                "email_hmac": r.hmac,
                "first_name": "",
                "last_name": "",
                "organization": "",
                "language": "",
                "sector": None,
                **r.profile,
                "sector_source": "rule" if r.sector_rule else None,
                "attributes": r.attributes,
                "status": self.status,
                "source": self.source[:500],
                "created_at": now,
                "updated_at": now,
            }
            for r in rows
        ]
        new_ids = insert_returning_ids(self.session, table_of(Contact), values)
        ids = {r.key: cid for r, cid in zip(rows, new_ids, strict=True)}
        self._add_sector_memberships({ids[r.key]: r.profile.get("sector") for r in rows})
        self._count_rule_sectors(r.profile["sector"] for r in rows if r.sector_rule)
        self.report.created += len(rows)
        return ids

    def _count_rule_sectors(self, sectors: Iterable[str]) -> None:
        counts = self.report.sectors_from_rules
        for sector in sectors:
            counts[sector] = counts.get(sector, 0) + 1

    def _update(self, rows: list[_Row], existing: dict[str, sa.Row[Any]]) -> list[int]:
        changes: list[dict[str, Any]] = []
        moved: dict[int, str | None] = {}
        confirmed: list[int] = []
        for row in rows:
            current = existing[row.key]
            stored = current.attributes or {}
            if _too_many_attributes(stored, row, self.report, "with those stored"):
                self.not_imported.add(current.id)
                continue
            change = _changes(current, row)
            if self._moves(current.status):
                change["status"] = self.status
                confirmed.append(current.id)
            if "sector" in change:
                moved[current.id] = change["sector"]
                if row.sector_rule:
                    self._count_rule_sectors([change["sector"]])
            if change:
                changes.append({"id": current.id, **change, "updated_at": utcnow()})
            else:
                self.report.unchanged += 1
        if changes:
            self.session.execute(sa.update(Contact), changes)
        self.report.updated += len(changes)
        if moved:
            self.session.execute(
                sa.delete(GroupMembership).where(
                    among(self.session, GroupMembership.contact_id, moved),
                    GroupMembership.group_id.in_(
                        sa.select(Group.id).where(Group.kind == GroupKind.SECTOR)
                    ),
                )
            )
            self._add_sector_memberships(moved)
        return confirmed

    def _moves(self, status: ContactStatus) -> bool:
        """Whether the import changes an existing contact's status: a pending one it
        subscribes, a pending or subscribed one the file says unsubscribed."""
        if self.status is ContactStatus.SUBSCRIBED:
            return status is ContactStatus.PENDING
        if self.status is ContactStatus.UNSUBSCRIBED:
            return status in (ContactStatus.PENDING, ContactStatus.SUBSCRIBED)
        return False

    def _add_sector_memberships(self, sectors: dict[int, str | None]) -> None:
        values = [
            {"group_id": self.sector_ids[group_key(s)], "contact_id": cid, "created_at": utcnow()}
            for cid, s in sectors.items()
            if s
        ]
        insert_rows(self.session, table_of(GroupMembership), values)

    def _record_consent(self, contact_ids: list[int], evidence: dict[int, _Row]) -> None:
        """The import's confirmed event for each contact it subscribes; before it, the
        opt-in and confirmation another tool recorded (its own times and IPs)."""
        if not contact_ids:
            return
        now = utcnow()
        notice = current_notice(self.session).id  # the version in force, as for every event
        events = []
        for cid in contact_ids:
            events += self._recorded_opt_in(cid, evidence)
            events.append(
                _event(cid, ConsentAction.CONFIRMED, now, None)
                | {
                    "source": self.source[:1000],
                    "notice_version_id": notice,
                    "confirmed_at": now,
                    "basis": "declared",
                }
            )
        insert_rows(self.session, table_of(ConsentEvent), events)

    def _recorded_opt_in(self, cid: int, rows: dict[int, _Row]) -> list[dict[str, Any]]:
        """The opt-in and confirmation another tool recorded, with its times and IPs."""
        found = rows[cid].evidence if cid in rows else {}
        imported = {"source": self.evidence_source, "basis": "imported"}
        events = []
        if found.get("given_at"):
            at, ip = found["given_at"], found.get("given_ip")
            events.append(_event(cid, ConsentAction.GIVEN, at, ip) | imported)
        if found.get("confirmed_at"):
            at, ip = found["confirmed_at"], found.get("confirmed_ip")
            events.append(
                _event(cid, ConsentAction.CONFIRMED, at, ip)
                | imported
                | {"confirmed_at": at, "confirmation_ip": ip}
            )
        return events

    def _record_withdrawals(self, contact_ids: list[int], rows: dict[int, _Row]) -> None:
        """For each contact the file says unsubscribed: the opt-in the tool recorded, then
        the withdrawal at its time (the import's, when the file does not say)."""
        if not contact_ids:
            return
        now = utcnow()
        notice = current_notice(self.session).id
        events = []
        for cid in contact_ids:
            events += self._recorded_opt_in(cid, rows)
            at = rows[cid].evidence.get("withdrawn_at") if cid in rows else None
            basis = (
                {"source": self.evidence_source, "basis": "imported"}
                if at
                else {
                    "source": self.source[:1000],
                    "basis": "declared",
                }
            )
            events.append(
                _event(cid, ConsentAction.WITHDRAWN, at or now, None)
                | basis
                | {"notice_version_id": notice}
            )
        insert_rows(self.session, table_of(ConsentEvent), events)
        self.report.withdrawn += len(contact_ids)

    def _join_tags(self, tags: dict[int, list[str]]) -> None:
        """Memberships of the private groups the rows' tags name (created on demand; a tag
        that names a sector group is left to the contact's sector)."""
        if not tags:
            return
        names = {t for found in tags.values() for t in found}
        groups, created = affinity_group_ids(self.session, names)
        self.report.tag_groups_created += created
        wanted = {
            (groups[group_key(t)], cid)
            for cid, found in tags.items()
            for t in found
            if group_key(t) in groups
        }
        have = set(
            self.session.execute(
                sa.select(GroupMembership.group_id, GroupMembership.contact_id).where(
                    among(self.session, GroupMembership.contact_id, tags)
                )
            ).all()
        )
        insert_rows(
            self.session,
            table_of(GroupMembership),
            [
                {"group_id": gid, "contact_id": cid, "created_at": utcnow()}
                for gid, cid in sorted(wanted - have)
            ],
        )


def _event(contact_id: int, action: ConsentAction, at: datetime, ip: str | None) -> dict[str, Any]:
    return {
        "contact_id": contact_id,
        "purpose": Purpose.NEWSLETTER,
        "action": action,
        "occurred_at": at,
        "ip": ip,
        "user_agent": None,
        "notice_version_id": None,
        "confirmed_at": None,
        "confirmation_ip": None,
        "source": "",
        "basis": None,
    }


def _changes(current: sa.Row[Any], row: _Row) -> dict[str, Any]:
    """Fields whose imported value differs; empty cells never erase stored values, and a
    sector from a rule never replaces one set by hand."""
    change = {f: v for f, v in row.profile.items() if v and v != getattr(current, f)}
    if row.sector_rule and current.sector and current.sector_source != "rule":
        change.pop("sector", None)
    if "sector" in change:
        change["sector_source"] = "rule" if row.sector_rule else None
    if row.email != current.email and row.email.lower() == current.email_key:
        change["email"] = row.email
    attributes = {**(current.attributes or {}), **row.attributes}
    if attributes != (current.attributes or {}):
        change["attributes"] = attributes
    return change


def effective_status(options: ImportOptions, preset: Preset | None) -> ContactStatus:
    """What the rows are imported as: a file of unsubscribed or cleaned addresses as what
    it holds; else as asked, or subscribed for a tool's export recording each opt-in,
    else pending."""
    rows_are = preset.rows_are if preset else RowsAre.CONTACTS
    if rows_are is not RowsAre.CONTACTS:
        if options.status is ContactStatus.SUBSCRIBED:
            raise ValidationError(
                f"{preset.label if preset else 'this file'} holds {rows_are} addresses: it "
                "cannot be imported as subscribed",
                field="status",
            )
        if rows_are is RowsAre.CLEANED:
            return ContactStatus.BOUNCED
        return ContactStatus.UNSUBSCRIBED
    if options.status is None:
        return ContactStatus.SUBSCRIBED if preset and preset.subscribed else ContactStatus.PENDING
    if options.status not in (ContactStatus.PENDING, ContactStatus.SUBSCRIBED):
        raise ValidationError("status must be pending or subscribed", field="status")
    return options.status


def consent_hint(status: ContactStatus, preset: Preset | None) -> str:
    """What the import means for the contacts' consent, in one sentence."""
    if preset and preset.hint and (status is not ContactStatus.SUBSCRIBED or preset.subscribed):
        return preset.hint
    if status is ContactStatus.SUBSCRIBED:
        return (
            "imported as subscribed on the importer's word (the source given): consent proof "
            "shows it as declared by the importer"
        )
    return (
        "imported as pending: nobody is mailed until they confirm; `outreach consent invite "
        "--group NAME` (or Invite to opt in on the group's page) asks them"
    )


def import_csv(
    session: Session,
    stream: ByteLines,
    options: ImportOptions,
    *,
    secret: str,
    checkpoint: Callable[[], None] | None = None,
    rules: SectorRules | None = None,
) -> ImportReport:
    """Import a CSV file or an .xlsx workbook; the caller owns the transaction
    (`checkpoint` per chunk). `rules`: the sector rules (None: those in force)."""
    if not options.source.strip():
        raise ValidationError(
            "the source is required: say where these contacts came from", field="source"
        )
    report = ImportReport()
    table = open_table(stream, options)
    status = effective_status(options, table.preset)
    report.layout, report.columns = table.layout, table.columns.described
    report.preset = table.preset.label if table.preset else ""
    report.status, report.hint = str(status), consent_hint(status, table.preset)
    if rules is None and table.columns.sector_from:
        rules = load_rules(session)
    importer = ContactImporter(session, options, report, table.preset)
    importer.run(parsed_chunks(table, report, secret, rules), checkpoint or session.flush)
    if report.created + report.updated >= 1000:
        refresh_statistics(
            session, table_of(Contact), table_of(GroupMembership), table_of(ConsentEvent)
        )
    return report
