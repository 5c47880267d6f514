"""Groups: sectors (derived from contacts), hand-made affinity groups and rule groups
(members computed from a rule, outreach.groups.rules)."""

from __future__ import annotations

import enum
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column, relationship

from outreach.db import Base, UTCDateTime, str_enum, utcnow


def group_key(name: str) -> str:
    """The case-insensitive identity of a group name."""
    return " ".join(name.split()).casefold()


class GroupKind(enum.StrEnum):
    """How membership is decided."""

    SECTOR = "sector"
    AFFINITY = "affinity"
    RULE = "rule"


class Group(Base):
    """A named audience segment."""

    __tablename__ = "groups"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(sa.String(200))
    name_key: Mapped[str] = mapped_column(sa.String(200), unique=True)
    kind: Mapped[GroupKind] = mapped_column(str_enum(GroupKind, "group_kind"))
    description: Mapped[str] = mapped_column(sa.Text, default="")
    # Public: a topic (affinity) or sector offered to subscribers on /subscribe and
    # /preferences. Private (the default): seen and changed by admins only.
    is_public: Mapped[bool] = mapped_column(default=False, server_default=sa.false())
    # A rule group's rule document (outreach.groups.rules), as validated on save; its
    # members are computed from it and never stored in group_memberships.
    rule: Mapped[dict[str, Any] | None] = mapped_column(sa.JSON)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class GroupMembership(Base):
    """A contact in a group (sector memberships are maintained from the sector field)."""

    __tablename__ = "group_memberships"

    group_id: Mapped[int] = mapped_column(
        sa.ForeignKey("groups.id", ondelete="CASCADE"), primary_key=True
    )
    contact_id: Mapped[int] = mapped_column(
        sa.ForeignKey("contacts.id", ondelete="CASCADE"), primary_key=True, index=True
    )
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    contact = relationship("Contact", back_populates="memberships", lazy="raise")
    group = relationship("Group", lazy="joined")
