"""Groups: sector groups on demand, affinity membership, visibility, counts.

A group is private (admins only) unless an admin publishes it: public sector groups are
the curated sector list of the sign-up form, public affinity groups are the topics a
subscriber chooses on the sign-up and preferences pages. A sector first met in an import
or an admin edit is created private.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, replace

import sqlalchemy as sa
from sqlalchemy.orm import Session

from outreach.contacts.identity import normalize_email
from outreach.contacts.models import Contact, ContactStatus
from outreach.db import as_id, utcnow
from outreach.errors import Conflict, NotFound, ValidationError
from outreach.groups.models import Group, GroupKind, GroupMembership, group_key
from outreach.groups.rules import Compiler, Rule, describe, parse, to_doc


def sector_group_ids(session: Session, sectors: Iterable[str]) -> dict[str, int]:
    """Ids of the sector groups for these sector names (by group_key), created on demand."""
    wanted = {group_key(s): " ".join(s.split()) for s in sectors if s and s.strip()}
    if not wanted:
        return {}
    found = dict(
        session.execute(sa.select(Group.name_key, Group.id).where(Group.name_key.in_(wanted))).all()
    )
    for key in wanted.keys() - found.keys():
        group = Group(name=wanted[key], name_key=key, kind=GroupKind.SECTOR)
        session.add(group)
        session.flush()
        found[key] = group.id
    return found


def affinity_group_ids(session: Session, names: Iterable[str]) -> tuple[dict[str, int], list[str]]:
    """Ids of the affinity groups for these names (by group_key), created private on
    demand, and the names created; a name that is a sector group's is left out."""
    wanted = {group_key(n): " ".join(n.split()) for n in names if n and n.strip()}
    if not wanted:
        return {}, []
    found = {
        key: (gid, kind)
        for key, gid, kind in session.execute(
            sa.select(Group.name_key, Group.id, Group.kind).where(Group.name_key.in_(wanted))
        )
    }
    ids = {key: gid for key, (gid, kind) in found.items() if kind is GroupKind.AFFINITY}
    created = []
    for key in sorted(wanted.keys() - found.keys()):
        group = Group(name=wanted[key], name_key=key, kind=GroupKind.AFFINITY)
        session.add(group)
        session.flush()
        ids[key] = group.id
        created.append(wanted[key])
    return ids, created


MAX_DESCRIPTION = 1000


def _description(text: str) -> str:
    clean = (text or "").strip()
    if len(clean) > MAX_DESCRIPTION:
        raise ValidationError(
            f"a description is at most {MAX_DESCRIPTION} characters", field="description"
        )
    return clean


def create_group(
    session: Session,
    name: str,
    description: str = "",
    *,
    kind: GroupKind = GroupKind.AFFINITY,
    public: bool = False,
) -> Group:
    """Create a group (affinity by default, private by default); the name must be new.

    A sector group made by hand adds a sector to the list before any contact has it."""
    clean = " ".join((name or "").split())
    if not clean or len(clean) > 200:
        raise ValidationError("group name must be 1 to 200 characters", field="name")
    if clean.isdigit():
        # Numbers address groups by id everywhere (CLI, API, admin).
        raise ValidationError("a group name cannot be only digits", field="name")
    if session.scalar(sa.select(Group.id).where(Group.name_key == group_key(clean))):
        raise Conflict(f"group {clean!r} already exists", field="name")
    group = Group(
        name=clean,
        name_key=group_key(clean),
        kind=kind,
        description=_description(description),
        is_public=public,
    )
    session.add(group)
    session.flush()
    return group


def set_rule(
    session: Session, name: str, rule: Rule, *, description: str | None = None
) -> tuple[Group, bool]:
    """Create the rule group `name` with this rule, or replace the rule of the rule group
    of that name; also whether it was created. The rule is checked against the database
    (the groups and campaigns it names exist, it does not include itself) before it is
    stored."""
    try:
        group = get_group(session, name)
    except NotFound:
        group = create_group(session, name, description or "", kind=GroupKind.RULE)
        created = True
    else:
        if group.kind is not GroupKind.RULE:
            raise Conflict(
                f"{group.name!r} is not a rule group ({group.kind}): a rule goes on a rule "
                "group of its own name",
                field="name",
            )
        created = False
        if description is not None:
            group.description = _description(description)
    doc = to_doc(rule)
    session.flush()
    Compiler(session).group_condition(group.id, doc)  # names resolve, no cycle
    group.rule = doc
    session.flush()
    return group, created


def members_condition(
    session: Session, group: Group, compiler: Compiler | None = None
) -> sa.ColumnElement[bool]:
    """The condition on `contacts` that a group's members meet: its rule, evaluated now,
    for a rule group; its memberships for the others."""
    return (compiler or Compiler(session)).group_condition(group.id, group.rule)


def _counts() -> sa.Select[int, int]:
    """Contacts and subscribed contacts (a condition on contacts to be added)."""
    subscribed = sa.func.count().filter(Contact.status == ContactStatus.SUBSCRIBED)
    return sa.select(sa.func.count(), subscribed).select_from(Contact)


@dataclass(frozen=True)
class RulePreview:
    """What a rule matches now: how many contacts, how many of them subscribed, a sample."""

    matching: int
    subscribed: int
    sample: list[dict[str, object]]


def preview_rule(session: Session, rule: Rule, *, sample: int = 10) -> RulePreview:
    """The live count and a sample (first by id) of the contacts a rule matches (a
    restricted contact is counted but never shown)."""
    matching, subscribed = session.execute(_counts().where(Compiler(session).condition(rule))).one()
    # The first few matches by id: a lookup per contact stops at the tenth one.
    first = Compiler(session, per_contact=True).condition(rule)
    rows = session.execute(
        sa.select(Contact.id, Contact.email, Contact.first_name, Contact.last_name, Contact.status)
        .where(first, Contact.status != ContactStatus.RESTRICTED)
        .order_by(Contact.id)
        .limit(sample)
    )
    shown = [
        {"id": i, "email": e, "name": " ".join(p for p in (f, la) if p), "status": str(st)}
        for i, e, f, la, st in rows
    ]
    return RulePreview(int(matching), int(subscribed), shown)


def member_rows(
    session: Session, group: Group, *, limit: int | None = None
) -> list[dict[str, object]]:
    """The current members of a group, by id: id, email, name, status and sector (a
    restricted contact's data is withheld: only its id and status)."""
    query = (
        sa.select(
            Contact.id,
            Contact.email,
            Contact.first_name,
            Contact.last_name,
            Contact.status,
            Contact.sector,
        )
        .where(members_condition(session, group))
        .order_by(Contact.id)
        .limit(limit)
    )
    rows = []
    for cid, email, first, last, status, sector in session.execute(query):
        withheld = status is ContactStatus.RESTRICTED
        rows.append(
            {
                "id": cid,
                "email": "" if withheld else email,
                "name": "" if withheld else " ".join(p for p in (first, last) if p),
                "status": str(status),
                "sector": None if withheld else sector,
            }
        )
    return rows


def get_group(session: Session, name_or_id: str | int) -> Group:
    """A group by id or (case-insensitive) name."""
    if isinstance(name_or_id, int) or str(name_or_id).isdigit():
        number = as_id(name_or_id)
        group = session.get(Group, number) if number else None
    else:
        group = session.scalar(sa.select(Group).where(Group.name_key == group_key(name_or_id)))
    if group is None:
        raise NotFound(f"no group named {name_or_id!r}", field="group")
    return group


def update_group(
    session: Session,
    name_or_id: str | int,
    *,
    public: bool | None = None,
    description: str | None = None,
) -> Group:
    """Publish or unpublish a group and/or change its description (None: unchanged).

    Unpublishing keeps every membership: it only stops offering the group to subscribers."""
    group = get_group(session, name_or_id)
    if description is not None:
        group.description = _description(description)
    if public is not None:
        group.is_public = public
    session.flush()
    return group


def public_sectors(session: Session) -> list[str]:
    """The curated sector list of the sign-up form: the public sector groups, by name."""
    return list(
        session.scalars(
            sa.select(Group.name)
            .where(Group.kind == GroupKind.SECTOR, Group.is_public.is_(True))
            .order_by(Group.name)
        )
    )


def public_topics(session: Session) -> list[Group]:
    """The topics a subscriber may choose: the public affinity groups, by name."""
    return list(
        session.scalars(
            sa.select(Group)
            .where(Group.kind == GroupKind.AFFINITY, Group.is_public.is_(True))
            .order_by(Group.name)
        )
    )


@dataclass(frozen=True)
class GroupCount:
    """A group with its member and subscribed counts."""

    id: int
    name: str
    kind: str
    members: int
    subscribed: int
    public: bool = False
    description: str = ""
    # A rule group's rule document and its one-line description (outreach.groups.rules).
    rule: dict[str, object] | None = None
    rule_text: str | None = None


def list_groups(session: Session, *, only: int | None = None) -> list[GroupCount]:
    """Every group (or only the one with this id) with its counts and visibility, sectors
    first, by name."""
    subscribed = sa.func.count(Contact.id).filter(Contact.status == ContactStatus.SUBSCRIBED)
    query = (
        sa.select(
            Group.id,
            Group.name,
            Group.kind,
            sa.func.count(Contact.id),
            subscribed,
            Group.is_public,
            Group.description,
        )
        .outerjoin(GroupMembership, GroupMembership.group_id == Group.id)
        .outerjoin(Contact, Contact.id == GroupMembership.contact_id)
        .group_by(Group.id, Group.name, Group.kind, Group.is_public, Group.description)
        .order_by(Group.kind.desc(), Group.name)
    )
    if only is not None:
        query = query.where(Group.id == only)
    counted = [
        GroupCount(i, n, str(k), m, s, bool(p), d) for i, n, k, m, s, p, d in session.execute(query)
    ]
    return [_rule_counted(session, g) if g.kind == GroupKind.RULE else g for g in counted]


def _rule_counted(session: Session, counted: GroupCount) -> GroupCount:
    """A rule group's counts, from its rule evaluated now."""
    group = session.get_one(Group, counted.id)
    members, subscribed = session.execute(_counts().where(members_condition(session, group))).one()
    return replace(
        counted,
        members=int(members),
        subscribed=int(subscribed),
        rule=group.rule,
        rule_text=describe(parse(group.rule)) if group.rule else None,
    )


def group_count(session: Session, group: Group) -> GroupCount:
    """One group with its counts and visibility."""
    return list_groups(session, only=group.id)[0]


def _affinity_group(session: Session, name: str, create: bool) -> Group:
    try:
        group = get_group(session, name)
    except NotFound:
        if not create:
            raise
        return create_group(session, name)
    if group.kind is GroupKind.RULE:
        raise ValidationError(
            f"{group.name!r} is a rule group: its members are the contacts its rule matches",
            field="group",
        )
    if group.kind is not GroupKind.AFFINITY:
        raise ValidationError(
            f"{group.name!r} is a sector group: membership follows the contact's sector",
            field="group",
        )
    return group


def _contact_ids(session: Session, emails: Iterable[str]) -> dict[str, int]:
    keys = {normalize_email(e)[1]: e for e in emails}
    found = dict(
        session.execute(
            sa.select(Contact.email_key, Contact.id).where(Contact.email_key.in_(keys))
        ).all()
    )
    missing = [keys[k] for k in keys.keys() - found.keys()]
    if missing:
        raise NotFound(f"no contact with address {', '.join(sorted(missing))}", field="email")
    return found


def add_members(session: Session, group_name: str, emails: Iterable[str]) -> int:
    """Add contacts to an affinity group (created if new); return how many were added."""
    group = _affinity_group(session, group_name, create=True)
    ids = set(_contact_ids(session, emails).values())
    present = set(
        session.scalars(
            sa.select(GroupMembership.contact_id).where(
                GroupMembership.group_id == group.id, GroupMembership.contact_id.in_(ids)
            )
        )
    )
    new = ids - present
    session.add_all(GroupMembership(group_id=group.id, contact_id=i) for i in sorted(new))
    session.flush()
    return len(new)


def group_of(
    session: Session, name: str, contact_ids: sa.Select[int], description: str = ""
) -> tuple[Group, int]:
    """A new private affinity group made of these contacts (a select of their ids);
    the group and how many it holds."""
    group = create_group(session, name, description)
    chosen = contact_ids.subquery()
    session.execute(
        sa.insert(GroupMembership).from_select(
            ["group_id", "contact_id", "created_at"],
            sa.select(sa.literal(group.id), chosen.c[0], sa.literal(utcnow())).distinct(),
        )
    )
    count = session.scalar(sa.select(sa.func.count()).where(GroupMembership.group_id == group.id))
    return group, int(count or 0)


def remove_members(session: Session, group_name: str, emails: Iterable[str]) -> int:
    """Remove contacts from an affinity group; return how many were removed."""
    group = _affinity_group(session, group_name, create=False)
    ids = list(_contact_ids(session, emails).values())
    result = session.execute(
        sa.delete(GroupMembership).where(
            GroupMembership.group_id == group.id, GroupMembership.contact_id.in_(ids)
        )
    )
    return int(result.rowcount or 0)  # type: ignore[attr-defined]


def set_sector_membership(session: Session, contact_id: int, sector: str | None) -> None:
    """Make the contact a member of exactly the sector group of `sector`."""
    session.execute(
        sa.delete(GroupMembership).where(
            GroupMembership.contact_id == contact_id,
            GroupMembership.group_id.in_(sa.select(Group.id).where(Group.kind == GroupKind.SECTOR)),
        )
    )
    if sector:
        group_id = sector_group_ids(session, [sector])[group_key(sector)]
        session.add(GroupMembership(group_id=group_id, contact_id=contact_id))
    session.flush()


def join_topics(session: Session, contact_id: int, group_ids: Iterable[int]) -> None:
    """Add the contact to those of these groups that are public topics (sign-up form);
    any other id is ignored and no membership is removed."""
    topics = {g.id for g in public_topics(session)}
    current = set(
        session.scalars(
            sa.select(GroupMembership.group_id).where(GroupMembership.contact_id == contact_id)
        )
    )
    new = (set(group_ids) & topics) - current
    session.add_all(GroupMembership(group_id=g, contact_id=contact_id) for g in sorted(new))
    session.flush()


def set_topics(session: Session, contact_id: int, group_ids: Iterable[int]) -> None:
    """Make the contact a member of exactly these public topics (preferences page).

    Only public affinity groups change: an id of any other group is ignored, and the
    contact's sector and private groups (VIP, imported lists) are kept as they are."""
    topics = {g.id for g in public_topics(session)}
    wanted = set(group_ids) & topics
    member_of = session.scalars(
        sa.select(GroupMembership.group_id).where(GroupMembership.contact_id == contact_id)
    )
    current = set(member_of) & topics
    if current - wanted:
        session.execute(
            sa.delete(GroupMembership).where(
                GroupMembership.contact_id == contact_id,
                GroupMembership.group_id.in_(current - wanted),
            )
        )
    session.add_all(
        GroupMembership(group_id=g, contact_id=contact_id) for g in sorted(wanted - current)
    )
    session.flush()
