"""Contacts: the people Outreach writes to."""

from __future__ import annotations

import enum
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, Session, mapped_column, relationship

from outreach.contacts.identity import email_hmac
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
    # HMAC of email_key (see contacts.identity): joins the suppression list in SQL.
    email_hmac: Mapped[str | None] = mapped_column(sa.String(64))
    first_name: Mapped[str] = mapped_column(sa.String(200), default="")
    last_name: Mapped[str] = mapped_column(sa.String(200), default="")
    sector: Mapped[str | None] = mapped_column(sa.String(200), index=True)
    # "rule": derived from the job title or company by a sector rule; None: set by hand or
    # by a file's sector column (a rule never overwrites it).
    sector_source: Mapped[str | None] = mapped_column(sa.String(20))
    organization: Mapped[str] = mapped_column(sa.String(300), default="")
    language: Mapped[str] = mapped_column(sa.String(35), default="")
    attributes: Mapped[dict[str, Any]] = mapped_column(sa.JSON, default=dict)
    status: Mapped[ContactStatus] = mapped_column(
        str_enum(ContactStatus, "contact_status"), default=ContactStatus.PENDING, index=True
    )
    source: Mapped[str] = mapped_column(sa.String(500), default="")
    confirmation_sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    # Moves with every change, consent events included (consent.service.record_event):
    # the batches in flight look for the contacts changed since their claim by it.
    updated_at: Mapped[datetime] = mapped_column(
        UTCDateTime, default=utcnow, onupdate=utcnow, index=True
    )

    memberships = relationship(
        "GroupMembership", back_populates="contact", cascade="all, delete-orphan", lazy="raise"
    )

    @property
    def display_name(self) -> str:
        """First and last name, or the address when both are empty."""
        return " ".join(p for p in (self.first_name, self.last_name) if p) or self.email


@sa.event.listens_for(Session, "before_flush")
def _stamp_email_hmac(session: Session, _context: Any, _instances: Any) -> None:
    """Keep email_hmac in step with email_key for every contact the ORM writes."""
    settings = session.info.get("settings")
    if settings is None:
        return
    for obj in list(session.new) + list(session.dirty):
        if isinstance(obj, Contact) and obj.email_key:
            obj.email_hmac = email_hmac(settings.secret_key, obj.email_key)


class ImportRun(Base):
    """One import of a contacts file: who, when, from where, how it was read, what it did."""

    __tablename__ = "import_runs"

    id: Mapped[int] = mapped_column(primary_key=True)
    file_name: Mapped[str] = mapped_column(sa.String(300))
    source: Mapped[str] = mapped_column(sa.String(500))
    actor: Mapped[str] = mapped_column(sa.String(320))  # the admin, the API token, "cli"
    surface: Mapped[str] = mapped_column(sa.String(20))  # cli, api, admin
    status: Mapped[str] = mapped_column(sa.String(20))  # the status imported as
    preset: Mapped[str] = mapped_column(sa.String(60), default="")
    layout: Mapped[str] = mapped_column(sa.String(300), default="")
    summary: Mapped[dict[str, Any]] = mapped_column(sa.JSON, default=dict)  # the counts
    rejected: Mapped[list[dict[str, Any]]] = mapped_column(sa.JSON, default=list)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, index=True)
