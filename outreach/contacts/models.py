"""Contacts: the people Outreach writes to."""

from __future__ import annotations

import enum
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column, relationship

from outreach.db import Base, UTCDateTime, str_enum, utcnow


class ContactStatus(enum.StrEnum):
    """Where a contact stands with the newsletter."""

    PENDING = "pending"
    SUBSCRIBED = "subscribed"
    UNSUBSCRIBED = "unsubscribed"
    BOUNCED = "bounced"
    COMPLAINED = "complained"
    RESTRICTED = "restricted"


class Contact(Base):
    """A person; identity is the case-insensitive address (`email_key`)."""

    __tablename__ = "contacts"

    id: Mapped[int] = mapped_column(primary_key=True)
    email: Mapped[str] = mapped_column(sa.String(320))
    email_key: Mapped[str] = mapped_column(sa.String(320), unique=True)
    first_name: Mapped[str] = mapped_column(sa.String(200), default="")
    last_name: Mapped[str] = mapped_column(sa.String(200), default="")
    sector: Mapped[str | None] = mapped_column(sa.String(200), index=True)
    organization: Mapped[str] = mapped_column(sa.String(300), default="")
    language: Mapped[str] = mapped_column(sa.String(35), default="")
    attributes: Mapped[dict[str, Any]] = mapped_column(sa.JSON, default=dict)
    status: Mapped[ContactStatus] = mapped_column(
        str_enum(ContactStatus, "contact_status"), default=ContactStatus.PENDING, index=True
    )
    source: Mapped[str] = mapped_column(sa.String(500), default="")
    confirmation_sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)

    memberships = relationship(
        "GroupMembership", back_populates="contact", cascade="all, delete-orphan", lazy="raise"
    )

    @property
    def display_name(self) -> str:
        """First and last name, or the address when both are empty."""
        return " ".join(p for p in (self.first_name, self.last_name) if p) or self.email
