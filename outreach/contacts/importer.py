"""CSV import: stream rows, validate each, merge into the database chunk by chunk."""

from __future__ import annotations

import csv
import re
import sqlite3
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
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
from outreach.db import utcnow
from outreach.db_bulk import insert_returning_ids, insert_rows, refresh_statistics, table_of
from outreach.errors import ImportFileError, ValidationError
from outreach.groups.models import Group, GroupKind, GroupMembership
from outreach.groups.service import group_key, sector_group_ids

CHUNK = 2000
MAX_REPORTED = 1000
# Bytes: more than any row within the limits (every cell at its cap, 4 bytes a character).
# A longer line is refused as a row without being read whole; so is a quoted cell that
# spans lines beyond it (csv's field limit). Shorter oversize cells are read, then refused
# naming their column.
MAX_LINE = MAX_IMPORT_COLUMNS * (4 * MAX_ATTRIBUTE_VALUE + 3)
_ATTRIBUTE = re.compile(r"[^a-z0-9_]+")
_FIELD_LIMIT = "field larger than field limit"

csv.field_size_limit(max(MAX_LINE, csv.field_size_limit()))


class ByteLines(Protocol):
    """What the importer reads: a binary file, or anything with its readline."""

    def readline(self, size: int = -1, /) -> bytes: ...


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
            "problems": self.problems,
        }


@dataclass(frozen=True)
class ImportOptions:
    """How to read the file and what the rows mean."""

    source: str
    status: ContactStatus = ContactStatus.PENDING
    sector_column: str = "sector"
    file_name: str = "upload.csv"


@dataclass
class _Row:
    number: int
    email: str
    key: str
    profile: dict[str, Any]
    attributes: dict[str, Any]


class ColumnMap:
    """Which header column (by position) feeds which contact field."""

    def __init__(self, header: list[str] | None, options: ImportOptions) -> None:
        if not header:
            raise ImportFileError(f"{options.file_name}: the file is empty (no header row)")
        if len(header) > MAX_IMPORT_COLUMNS:
            raise ImportFileError(
                f"{options.file_name}: line 1: {len(header)} columns, more than the "
                f"{MAX_IMPORT_COLUMNS} a file may have (email, {len(PROFILE_FIELDS)} profile "
                f"fields and {MAX_ATTRIBUTES} attributes)"
            )
        self.names = names = [(h or "").strip() for h in header]
        lowered = [n.lower() for n in names]
        if "email" not in lowered:
            found = ", ".join(repr(n) for n in names) or "nothing"
            raise ImportFileError(
                f"{options.file_name}: line 1: no 'email' column in the header (found {found})",
                field="email",
            )
        sector = options.sector_column.strip().lower()
        self.fields: dict[str, int] = {}
        self.attributes: dict[int, str] = {}
        for index, (name, low) in enumerate(zip(names, lowered, strict=True)):
            target = "sector" if low == sector else low
            if target == "email" or target in PROFILE_FIELDS:
                self.fields.setdefault(target, index)
            elif name:
                self.attributes[index] = _attribute_name(name, options.file_name)
        self.email = self.fields.pop("email")

    def column_of(self, field: str | None) -> str | None:
        """The header name of the column a validation error is about (None: the whole row)."""
        if field == "email":
            return self.names[self.email]
        if field == "attributes":
            return None
        index = self.fields.get(field or "")
        return field if index is None else self.names[index]


def _attribute_name(column: str, file_name: str) -> str:
    name = _ATTRIBUTE.sub("_", column.strip().lower()).strip("_")
    if not name or not (name[0].isalpha() or name[0] == "_"):
        raise ImportFileError(
            f"{file_name}: line 1: column {column!r} cannot be used as an attribute name",
            field=column,
        )
    return name[:63]


class _Lines:
    """Text lines of a UTF-8 byte stream (BOM dropped), each read up to MAX_LINE bytes.

    An iterator object rather than a generator: a line refused with csv.Error leaves it
    usable, so the reader goes on at the next line.
    """

    def __init__(self, stream: ByteLines, file_name: str) -> None:
        self.stream = stream
        self.file_name = file_name
        self.number = 0  # the last line read

    def __iter__(self) -> _Lines:
        return self

    def __next__(self) -> str:
        raw = self.stream.readline(MAX_LINE + 1)
        if not raw:
            raise StopIteration
        self.number += 1
        if len(raw) > MAX_LINE:
            while raw and not raw.endswith(b"\n"):
                raw = self.stream.readline(MAX_LINE)
            raise csv.Error(f"the line is longer than {MAX_LINE} bytes")
        try:
            line = raw.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise ImportFileError(
                f"{self.file_name}: line {self.number}: not UTF-8 text "
                f"({exc.reason} at byte {exc.start})"
            ) from exc
        return line.removeprefix("\ufeff") if self.number == 1 else line


def read_rows(stream: ByteLines, options: ImportOptions, report: ImportReport) -> Iterator[_Row]:
    """Valid rows of a CSV byte stream; invalid ones (numbered by line) go into the report."""
    lines = _Lines(stream, options.file_name)
    reader = csv.reader(lines)
    try:
        header = next(reader, None)
    except csv.Error as exc:
        raise ImportFileError(f"{options.file_name}: line {lines.number}: {exc}") from exc
    columns = ColumnMap(header, options)
    while True:
        number = lines.number + 1  # where the next record starts
        try:
            cells = next(reader, None)
        except csv.Error as exc:
            report.rows += 1
            report.problem("invalid", number, None, _unreadable(exc))
            continue
        if cells is None:
            return
        if cells:  # a blank line is no row
            report.rows += 1
            row = _parse(number, cells, columns, report)
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


def _parse(number: int, cells: list[str], columns: ColumnMap, report: ImportReport) -> _Row | None:
    if len(cells) > len(columns.names):
        report.problem("invalid", number, None, "more cells than header columns")
        return None
    cells += [""] * (len(columns.names) - len(cells))
    try:
        email, key = normalize_email(cells[columns.email])
        profile = clean_profile({f: cells[i] for f, i in columns.fields.items()})
        attributes = {}
        for index, name in columns.attributes.items():
            if cells[index]:
                attributes[name] = clean_attribute_value(columns.names[index], cells[index])
        check_attribute_count(len(attributes))
    except ValidationError as exc:
        report.problem("invalid", number, columns.column_of(exc.field), exc.message)
        return None
    return _Row(number, email, key, profile, attributes)


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


def first_rows(rows: list[_Row], seen: FirstLines, report: ImportReport) -> list[_Row]:
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
        self, session: Session, options: ImportOptions, report: ImportReport, secret: str
    ) -> None:
        self.session = session
        self.options = options
        self.report = report
        self.secret = secret
        self.sector_ids: dict[str, int] = {}
        self.source = f"import:{options.file_name} ({options.source})"
        self.seen = FirstLines()

    def run(self, rows: Iterator[_Row], checkpoint: Callable[[], None]) -> None:
        """Import every row, calling `checkpoint` after each chunk."""
        chunk: list[_Row] = []
        try:
            for row in rows:
                chunk.append(row)
                if len(chunk) >= CHUNK:
                    self.merge(chunk)
                    checkpoint()
                    chunk = []
            if chunk:
                self.merge(chunk)
                checkpoint()
        finally:
            self.seen.close()

    def merge(self, rows: list[_Row]) -> None:
        """Create or update the contacts of one chunk."""
        rows = self._drop_suppressed(first_rows(rows, self.seen, self.report))
        self._ensure_sectors(rows)
        existing = self._existing({r.key for r in rows})
        new = [r for r in rows if r.key not in existing]
        created = self._create(new)
        confirmed = [created[r.key] for r in new] if self._subscribing else []
        confirmed += self._update([r for r in rows if r.key in existing], existing)
        self._record_consent(confirmed)

    @property
    def _subscribing(self) -> bool:
        return self.options.status is ContactStatus.SUBSCRIBED

    def _drop_suppressed(self, rows: list[_Row]) -> list[_Row]:
        hashes = {email_hmac(self.secret, r.key): r for r in rows}
        found = self.session.execute(
            sa.select(Suppression.email_hmac, Suppression.reason).where(
                Suppression.email_hmac.in_(hashes)
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
            *(getattr(Contact, f) for f in PROFILE_FIELDS),
        ]
        result = self.session.execute(sa.select(*columns).where(Contact.email_key.in_(keys)))
        return {row.email_key: row for row in result}

    def _create(self, rows: list[_Row]) -> dict[str, int]:
        if not rows:
            return {}
        now = utcnow()
        values = [
            {
                "email": r.email,
                "email_key": r.key,
                "email_hmac": email_hmac(self.secret, r.key),
                "first_name": "",
                "last_name": "",
                "organization": "",
                "language": "",
                "sector": None,
                **r.profile,
                "attributes": r.attributes,
                "status": self.options.status,
                "source": self.source[:500],
                "created_at": now,
                "updated_at": now,
            }
            for r in rows
        ]
        new_ids = insert_returning_ids(self.session, table_of(Contact), values)
        ids = {r.key: cid for r, cid in zip(rows, new_ids, strict=True)}
        self._add_sector_memberships({ids[r.key]: r.profile.get("sector") for r in rows})
        self.report.created += len(rows)
        return ids

    def _update(self, rows: list[_Row], existing: dict[str, sa.Row[Any]]) -> list[int]:
        changes: list[dict[str, Any]] = []
        moved: dict[int, str | None] = {}
        confirmed: list[int] = []
        for row in rows:
            current = existing[row.key]
            stored = current.attributes or {}
            if _too_many_attributes(stored, row, self.report, "with those stored"):
                continue
            change = _changes(current, row)
            if self._subscribing and current.status is ContactStatus.PENDING:
                change["status"] = ContactStatus.SUBSCRIBED
                confirmed.append(current.id)
            if "sector" in change:
                moved[current.id] = change["sector"]
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
                    GroupMembership.contact_id.in_(moved),
                    GroupMembership.group_id.in_(
                        sa.select(Group.id).where(Group.kind == GroupKind.SECTOR)
                    ),
                )
            )
            self._add_sector_memberships(moved)
        return confirmed

    def _add_sector_memberships(self, sectors: dict[int, str | None]) -> None:
        values = [
            {"group_id": self.sector_ids[group_key(s)], "contact_id": cid, "created_at": utcnow()}
            for cid, s in sectors.items()
            if s
        ]
        insert_rows(self.session, table_of(GroupMembership), values)

    def _record_consent(self, contact_ids: list[int]) -> None:
        if not contact_ids:
            return
        now = utcnow()
        notice = current_notice(self.session).id  # the version in force, as for every event
        insert_rows(
            self.session,
            table_of(ConsentEvent),
            [
                {
                    "contact_id": cid,
                    "purpose": Purpose.NEWSLETTER,
                    "action": ConsentAction.CONFIRMED,
                    "occurred_at": now,
                    "ip": None,
                    "user_agent": None,
                    "source": self.source[:1000],
                    "notice_version_id": notice,
                    "confirmed_at": now,
                    "confirmation_ip": None,
                }
                for cid in contact_ids
            ],
        )


def _changes(current: sa.Row[Any], row: _Row) -> dict[str, Any]:
    """Fields whose imported value differs; empty cells never erase stored values."""
    change = {f: v for f, v in row.profile.items() if v and v != getattr(current, f)}
    if row.email != current.email and row.email.lower() == current.email_key:
        change["email"] = row.email
    attributes = {**(current.attributes or {}), **row.attributes}
    if attributes != (current.attributes or {}):
        change["attributes"] = attributes
    return change


def import_csv(
    session: Session,
    stream: ByteLines,
    options: ImportOptions,
    *,
    secret: str,
    checkpoint: Callable[[], None] | None = None,
) -> ImportReport:
    """Import a CSV byte stream; the caller owns the transaction (`checkpoint` per chunk)."""
    if not options.source.strip():
        raise ValidationError(
            "the source is required: say where these contacts came from", field="source"
        )
    if options.status not in (ContactStatus.PENDING, ContactStatus.SUBSCRIBED):
        raise ValidationError("status must be pending or subscribed", field="status")
    report = ImportReport()
    importer = ContactImporter(session, options, report, secret)
    importer.run(read_rows(stream, options, report), checkpoint or session.flush)
    if report.created + report.updated >= 1000:
        refresh_statistics(
            session, table_of(Contact), table_of(GroupMembership), table_of(ConsentEvent)
        )
    return report
