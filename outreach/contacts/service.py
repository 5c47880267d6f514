"""Contacts: create, read, update, delete, search and export."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import IO, Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from outreach.consent.models import ConsentEvent
from outreach.contacts.fields import PROFILE_FIELDS, clean_attributes, clean_profile
from outreach.contacts.identity import normalize_email
from outreach.contacts.models import Contact, ContactStatus
from outreach.db import as_id
from outreach.errors import Conflict, NotFound, ValidationError
from outreach.groups.models import Group, GroupMembership
from outreach.groups.service import get_group, members_condition, set_sector_membership
from outreach.spreadsheet import SafeWriter

EXPORT_COLUMNS = [
    "email",
    "first_name",
    "last_name",
    "sector",
    "organization",
    "language",
    "status",
    "groups",
]


def get_contact(session: Session, email_or_id: str | int) -> Contact:
    """A contact by id or by address (case-insensitive)."""
    if isinstance(email_or_id, int) or str(email_or_id).isdigit():
        number = as_id(email_or_id)
        contact = session.get(Contact, number) if number else None
        if contact is None:
            raise NotFound(f"no contact with id {email_or_id}", field="id")
    else:
        key = normalize_email(str(email_or_id))[1]
        contact = session.scalar(sa.select(Contact).where(Contact.email_key == key))
    if contact is None:
        raise NotFound("no such contact", field="email")
    return contact


def create_contact(session: Session, data: dict[str, Any], *, source: str) -> Contact:
    """Create a pending contact (subscription needs the opt-in flow or a declared import)."""
    email, key = normalize_email(data.get("email", ""))
    if session.scalar(sa.select(Contact.id).where(Contact.email_key == key)):
        raise Conflict("a contact with this address exists", field="email")
    profile = clean_profile({f: data.get(f) for f in PROFILE_FIELDS if f in data})
    contact = Contact(
        email=email,
        email_key=key,
        status=ContactStatus.PENDING,
        source=source[:500],
        attributes=clean_attributes(data.get("attributes") or {}),
        **profile,
    )
    session.add(contact)
    session.flush()
    set_sector_membership(session, contact.id, contact.sector)
    return contact


def update_contact(session: Session, contact: Contact, data: dict[str, Any]) -> Contact:
    """Change profile fields and attributes (status changes go through consent)."""
    if "email" in data:
        email, key = normalize_email(data["email"])
        if key != contact.email_key and session.scalar(
            sa.select(Contact.id).where(Contact.email_key == key)
        ):
            raise Conflict("another contact has this address", field="email")
        contact.email, contact.email_key = email, key
    profile = clean_profile({f: data[f] for f in PROFILE_FIELDS if f in data})
    for field, value in profile.items():
        setattr(contact, field, value)
    if "attributes" in data:
        contact.attributes = clean_attributes(data["attributes"] or {})
    session.flush()
    if "sector" in profile:
        set_sector_membership(session, contact.id, contact.sector)
    return contact


def delete_contact(session: Session, contact: Contact) -> None:
    """Delete a contact with its memberships and ledger (erasure adds a suppression too)."""
    session.execute(sa.delete(ConsentEvent).where(ConsentEvent.contact_id == contact.id))
    session.execute(sa.delete(GroupMembership).where(GroupMembership.contact_id == contact.id))
    session.delete(contact)
    session.flush()


@dataclass(frozen=True)
class ContactQuery:
    """Search and filter criteria for listing contacts."""

    search: str = ""
    group: str | None = None
    status: str | None = None
    page: int = 1
    per_page: int = 50


def _filtered(session: Session, query: ContactQuery) -> sa.Select[Any]:
    stmt = sa.select(Contact)
    if query.search:
        like = f"%{query.search.strip().lower()}%"
        stmt = stmt.where(
            sa.or_(
                Contact.email_key.like(like),
                sa.func.lower(Contact.first_name).like(like),
                sa.func.lower(Contact.last_name).like(like),
                sa.func.lower(Contact.organization).like(like),
            )
        )
    if query.status:
        try:
            stmt = stmt.where(Contact.status == ContactStatus(query.status))
        except ValueError as exc:
            raise ValidationError(f"unknown status {query.status!r}", field="status") from exc
    if query.group:
        stmt = stmt.where(members_condition(session, get_group(session, query.group)))
    return stmt


def search_contacts(session: Session, query: ContactQuery) -> tuple[list[Contact], int]:
    """One page of matching contacts and the total number of matches."""
    if query.page < 1 or not 1 <= query.per_page <= 500:
        raise ValidationError("page must be ≥ 1 and per_page 1..500", field="page")
    stmt = _filtered(session, query)
    total = session.scalar(sa.select(sa.func.count()).select_from(stmt.subquery())) or 0
    page = session.scalars(
        stmt.order_by(Contact.id).limit(query.per_page).offset((query.page - 1) * query.per_page)
    ).all()
    return list(page), total


def count_by_status(session: Session) -> dict[str, int]:
    """How many contacts are in each status (every status, zeros included)."""
    counts = dict(
        session.execute(sa.select(Contact.status, sa.func.count()).group_by(Contact.status)).all()
    )
    return {status.value: counts.get(status, 0) for status in ContactStatus}


def groups_of(session: Session, contact_ids: list[int]) -> dict[int, list[str]]:
    """Group names of each contact, by name."""
    names: dict[int, list[str]] = {cid: [] for cid in contact_ids}
    rows = session.execute(
        sa.select(GroupMembership.contact_id, Group.name)
        .join(Group, Group.id == GroupMembership.group_id)
        .where(GroupMembership.contact_id.in_(contact_ids))
        .order_by(Group.name)
    )
    for cid, name in rows:
        names[cid].append(name)
    return names


def contact_to_dict(contact: Contact, groups: list[str] | None = None) -> dict[str, Any]:
    """The public representation of a contact."""
    doc = {
        "id": contact.id,
        "email": contact.email,
        "status": str(contact.status),
        **{f: getattr(contact, f) for f in PROFILE_FIELDS},
        "attributes": contact.attributes or {},
        "created_at": contact.created_at.isoformat(),
        "updated_at": contact.updated_at.isoformat(),
    }
    if groups is not None:
        doc["groups"] = groups
    return doc


def _attribute_names(session: Session) -> list[str]:
    names: set[str] = set()
    for attributes in session.scalars(
        sa.select(Contact.attributes).execution_options(yield_per=5000)
    ):
        names.update(attributes or {})
    return sorted(names)


def _export_rows(session: Session, attributes: list[str], batch: int = 2000) -> Iterator[list[str]]:
    last_id = 0
    while True:
        contacts = session.scalars(
            sa.select(Contact).where(Contact.id > last_id).order_by(Contact.id).limit(batch)
        ).all()
        if not contacts:
            return
        groups = groups_of(session, [c.id for c in contacts])
        for c in contacts:
            extra = c.attributes or {}
            yield [
                c.email,
                c.first_name,
                c.last_name,
                c.sector or "",
                c.organization,
                c.language,
                str(c.status),
                ";".join(groups[c.id]),
                *(str(extra.get(name, "")) for name in attributes),
            ]
        last_id = contacts[-1].id
        session.expunge_all()


def export_csv(session: Session, out: IO[str]) -> int:
    """Write every contact as CSV, one column per attribute, formula-safe; return the row count."""
    attributes = _attribute_names(session)
    writer = SafeWriter(out)
    writer.writerow(EXPORT_COLUMNS + attributes)
    count = 0
    for row in _export_rows(session, attributes):
        writer.writerow(row)
        count += 1
    return count
