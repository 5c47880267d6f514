"""Sector rules applied to the contacts already here: how many each rule would put in
each sector, who stays unclassified, and applying it.

A contact whose sector was set by hand (or by a file's sector column) is never changed;
one with no sector, or a sector a rule gave, is classified again by the rules in force.
Never commits: the page, the API resource or the command that called it does.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from outreach.contacts.models import Contact
from outreach.contacts.sectors import SectorRules
from outreach.db import utcnow
from outreach.groups.models import Group, GroupKind, GroupMembership
from outreach.groups.service import group_key, sector_group_ids

DEFAULT_COLUMNS = ("position", "job_title", "title", "organization")
SAMPLE = 50  # unclassified addresses listed


@dataclass
class Classification:
    """What the rules do (or would do) to the contacts."""

    sectors: dict[str, int] = field(default_factory=dict)  # contacts each sector gets
    keywords: dict[str, dict[str, int]] = field(default_factory=dict)  # sector → keyword → n
    changed: int = 0  # contacts whose sector the rules set or change
    hand_set: int = 0  # contacts with a sector set by hand: left alone
    # Contacts an earlier rule gave a sector (at import, from columns read then) that no
    # rule matches from the columns read now: their sector is kept, never cleared.
    kept: int = 0
    unclassified: int = 0
    unclassified_sample: list[str] = field(default_factory=list)
    applied: bool = False

    def to_dict(self) -> dict[str, Any]:
        return {
            "sectors": dict(sorted(self.sectors.items())),
            "keywords": {s: dict(sorted(k.items())) for s, k in sorted(self.keywords.items())},
            "changed": self.changed,
            "hand_set": self.hand_set,
            "kept": self.kept,
            "unclassified": self.unclassified,
            "unclassified_sample": self.unclassified_sample,
            "applied": self.applied,
        }


def _texts(contact: Any, columns: tuple[str, ...]) -> list[str]:
    """The contact's values for these columns: a profile field or an attribute."""
    values = []
    attributes = contact.attributes or {}
    for column in columns:
        value = getattr(contact, column, None) if column == "organization" else None
        value = value or attributes.get(column)
        if isinstance(value, str) and value:
            values.append(value)
    return values


def classify(
    session: Session,
    rules: SectorRules,
    *,
    columns: tuple[str, ...] = DEFAULT_COLUMNS,
    apply: bool = False,
) -> Classification:
    """Classify every contact without a hand-set sector; change them only with `apply`."""
    result = Classification(applied=apply)
    moves: dict[int, str] = {}
    rows = session.execute(
        sa.select(
            Contact.id,
            Contact.email,
            Contact.sector,
            Contact.sector_source,
            Contact.organization,
            Contact.attributes,
        ).order_by(Contact.id)
    )
    for contact in rows:
        if contact.sector and contact.sector_source != "rule":
            result.hand_set += 1
            continue
        found = rules.match(_texts(contact, columns))
        if found is None and contact.sector:
            result.kept += 1
            continue
        if found is None:
            result.unclassified += 1
            if len(result.unclassified_sample) < SAMPLE:
                result.unclassified_sample.append(contact.email)
            continue
        sector, keyword = found
        result.sectors[sector] = result.sectors.get(sector, 0) + 1
        counts = result.keywords.setdefault(sector, {})
        counts[keyword] = counts.get(keyword, 0) + 1
        if sector != contact.sector or contact.sector_source != "rule":
            moves[contact.id] = sector
    result.changed = len(moves)
    if apply and moves:
        _move(session, moves)
    return result


def _move(session: Session, moves: dict[int, str]) -> None:
    """Set these contacts' sectors (by rule) and their sector group memberships."""
    ids = sector_group_ids(session, set(moves.values()))
    now = utcnow()
    items = list(moves.items())
    for start in range(0, len(items), 1000):
        part = dict(items[start : start + 1000])
        session.execute(
            sa.update(Contact),
            [
                {"id": cid, "sector": s, "sector_source": "rule", "updated_at": now}
                for cid, s in part.items()
            ],
        )
        session.execute(
            sa.delete(GroupMembership).where(
                GroupMembership.contact_id.in_(part),
                GroupMembership.group_id.in_(
                    sa.select(Group.id).where(Group.kind == GroupKind.SECTOR)
                ),
            )
        )
        session.execute(
            sa.insert(GroupMembership),
            [
                {"group_id": ids[group_key(s)], "contact_id": cid, "created_at": now}
                for cid, s in part.items()
            ],
        )
    session.flush()
