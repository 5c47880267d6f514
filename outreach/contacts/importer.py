"""CSV import: stream rows, validate each, merge into the database chunk by chunk."""

from __future__ import annotations

import csv
import ipaddress
import re
import sqlite3
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

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
from outreach.contacts.table import (
    ByteLines,
    Sample,
    TextLines,
    detect_layout,
    header_key,
)
from outreach.db import utcnow
from outreach.db_bulk import insert_returning_ids, insert_rows, refresh_statistics, table_of
from outreach.errors import ImportFileError, ValidationError
from outreach.groups.models import Group, GroupKind, GroupMembership
from outreach.groups.service import affinity_group_ids, group_key, sector_group_ids
from outreach.spreadsheet import FORMULA_START

FORMULA_STARTS = set(FORMULA_START)
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
        }


@dataclass(frozen=True)
class ImportOptions:
    """How to read the file and what the rows mean."""

    source: str
    status: ContactStatus = ContactStatus.PENDING
    sector_column: str = "sector"
    file_name: str = "upload.csv"
    encoding: str | None = None  # None: detected
    delimiter: str | None = None  # None: detected (comma, semicolon or tab)
    # Header → field (`email`, a profile field, `attributes.NAME` or `ignore`), over aliases.
    mapping: dict[str, str] = field(default_factory=dict)


@dataclass
class _Row:
    number: int
    email: str
    key: str
    profile: dict[str, Any]
    attributes: dict[str, Any]
    evidence: dict[str, Any] = field(default_factory=dict)  # the tool's consent record
    tags: list[str] = field(default_factory=list)


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


class ColumnMap:
    """Which header column (by position) feeds which contact field: the person's mapping
    first, then the aliases of the profile fields, then an attribute per other column."""

    def __init__(self, header: list[str] | None, options: ImportOptions, line: int = 1) -> None:
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
        sector = header_key(options.sector_column)
        self.fields: dict[str, int] = {}
        self.attributes: dict[int, str] = {}
        self.evidence: dict[str, int] = {}
        self.tags: int | None = None
        self.described: dict[str, str] = {}
        for index, name in enumerate(names):
            key = header_key(name)
            target = mapping.get(key) or ("sector" if key == sector else ALIAS_OF.get(key, ""))
            target = target or EVIDENCE.get(key, "") or TAG_COLUMNS.get(key, "")
            if target.startswith("evidence.") and target[9:] not in self.evidence:
                self.evidence[target[9:]] = index
                self.described[name] = "consent evidence"
            elif target == "tags" and self.tags is None:
                self.tags = index
                self.described[name] = "groups (private)"
            elif target in TARGETS and target not in self.fields:
                self.fields[target] = index
                self.described[name] = target
            elif target == "ignore" or (not target and key in KNOWN_IGNORED):
                self.described[name] = KNOWN_IGNORED.get(key, "ignored")
            elif target.startswith("attributes."):
                self.attributes[index] = _attribute_name(target[11:], options.file_name)
                self.described[name] = target
            elif name:
                self.attributes[index] = _attribute_name(name, options.file_name)
                self.described[name] = f"attributes.{self.attributes[index]}"
        unknown = sorted(set(mapping.values()) - {*TARGETS, "ignore", "tags"})
        unknown = [u for u in unknown if not u.startswith("attributes.")]
        if unknown:
            raise ImportFileError(
                f"--map: {unknown[0]!r} is not a field (email, {', '.join(PROFILE_FIELDS)}, "
                "attributes.NAME, tags or ignore)",
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


def read_rows(stream: ByteLines, options: ImportOptions, report: ImportReport) -> Iterator[_Row]:
    """Valid rows of a table's byte stream, read in its encoding and delimiter (detected
    or given); invalid ones (numbered by line) go into the report."""
    sample = Sample(stream)
    layout = detect_layout(
        sample.data, is_email_header, encoding=options.encoding, delimiter=options.delimiter
    )
    report.layout = layout.describe()
    lines = TextLines(sample, options.file_name, layout.encoding, MAX_LINE)
    for _ in range(layout.preamble):
        next(lines, None)
    reader = csv.reader(lines, delimiter=layout.delimiter)
    try:
        header = next(reader, None)
    except csv.Error as exc:
        raise ImportFileError(f"{options.file_name}: line {lines.number}: {exc}") from exc
    columns = ColumnMap(header, options, lines.number)
    report.columns = columns.described
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
        if any(cells):  # a blank line is no row
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


def _unguarded(cell: str) -> str:
    """A cell as it was before a spreadsheet formula guard (Outreach's own export and
    Excel write `'+34 600…` for `+34 600…`)."""
    return cell[1:] if cell[:1] == "'" and cell[1:2] in FORMULA_STARTS else cell


def _parse(number: int, cells: list[str], columns: ColumnMap, report: ImportReport) -> _Row | None:
    if len(cells) > len(columns.names):
        report.problem("invalid", number, None, "more cells than header columns")
        return None
    cells += [""] * (len(columns.names) - len(cells))
    cells = [_unguarded(c) for c in cells]
    try:
        email, key = normalize_email(cells[columns.email])
        profile = clean_profile({f: cells[i] for f, i in columns.fields.items()})
        attributes = {}
        for index, name in columns.attributes.items():
            if cells[index]:
                attributes[name] = clean_attribute_value(columns.names[index], cells[index])
        check_attribute_count(len(attributes))
        evidence = _evidence(cells, columns)
    except ValidationError as exc:
        report.problem("invalid", number, columns.column_of(exc.field), exc.message)
        return None
    tags = _tags(cells[columns.tags]) if columns.tags is not None else []
    return _Row(number, email, key, profile, attributes, evidence, tags)


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
    """Group names of a tags cell: Mailchimp's quoted list, or Google's `a ::: b` labels
    (its own `* myContacts`-style labels left out)."""
    if ":::" in cell:
        names = [n.strip() for n in cell.split(":::")]
    else:
        names = [n.strip() for n in next(csv.reader([cell]), [])]
    return [n[:200] for n in names if n and not n.startswith("* ")]


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
        self.not_imported: set[int] = set()  # existing contacts a row could not update

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
        ids = {**{k: row.id for k, row in existing.items()}, **created}
        imported = [r for r in rows if r.key in ids and ids[r.key] not in self.not_imported]
        self._record_consent(confirmed, {ids[r.key]: r for r in imported if r.evidence})
        self._join_tags({ids[r.key]: r.tags for r in imported if r.tags})

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
                self.not_imported.add(current.id)
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

    def _record_consent(self, contact_ids: list[int], evidence: dict[int, _Row]) -> None:
        """The import's confirmed event for each contact it subscribes; before it, the
        opt-in and confirmation another tool recorded (its own times and IPs)."""
        if not contact_ids:
            return
        now = utcnow()
        notice = current_notice(self.session).id  # the version in force, as for every event
        source = f"{self.options.file_name}: the opt-in recorded by the tool that exported it"
        events = []
        for cid in contact_ids:
            found = evidence[cid].evidence if cid in evidence else {}
            if found.get("given_at"):
                events.append(
                    _event(cid, ConsentAction.GIVEN, found["given_at"], found.get("given_ip"))
                    | {"source": source[:1000]}
                )
            if found.get("confirmed_at"):
                at, ip = found["confirmed_at"], found.get("confirmed_ip")
                events.append(
                    _event(cid, ConsentAction.CONFIRMED, at, ip)
                    | {"source": source[:1000], "confirmed_at": at, "confirmation_ip": ip}
                )
            events.append(
                _event(cid, ConsentAction.CONFIRMED, now, None)
                | {"source": self.source[:1000], "notice_version_id": notice, "confirmed_at": now}
            )
        insert_rows(self.session, table_of(ConsentEvent), events)

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
                    GroupMembership.contact_id.in_(tags)
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
    }


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
