"""The append-only consent ledger and the notice versions it cites."""

from __future__ import annotations

import enum
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from outreach.db import Base, UTCDateTime, str_enum, utcnow


class Purpose(enum.StrEnum):
    """What a consent is for."""

    NEWSLETTER = "newsletter"
    OPEN_TRACKING = "open_tracking"
    CLICK_TRACKING = "click_tracking"


class ConsentAction(enum.StrEnum):
    """What happened to a consent."""

    GIVEN = "given"
    CONFIRMED = "confirmed"
    WITHDRAWN = "withdrawn"


class NoticeVersion(Base):
    """An immutable version of the privacy notice, stored once and cited by hash."""

    __tablename__ = "notice_versions"

    id: Mapped[int] = mapped_column(primary_key=True)
    hash: Mapped[str] = mapped_column(sa.String(64), unique=True)
    controller: Mapped[dict[str, Any]] = mapped_column(sa.JSON, default=dict)
    first_layer: Mapped[dict[str, Any]] = mapped_column(sa.JSON, default=dict)
    full_text: Mapped[str] = mapped_column(sa.Text, default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class ConsentEvent(Base):
    """One event of the consent ledger; never updated in place."""

    __tablename__ = "consent_events"
    __table_args__ = (sa.Index("ix_consent_events_contact_purpose", "contact_id", "purpose"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    contact_id: Mapped[int] = mapped_column(sa.ForeignKey("contacts.id", ondelete="CASCADE"))
    purpose: Mapped[Purpose] = mapped_column(str_enum(Purpose, "consent_purpose"))
    action: Mapped[ConsentAction] = mapped_column(str_enum(ConsentAction, "consent_action"))
    occurred_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    ip: Mapped[str | None] = mapped_column(sa.String(64))
    user_agent: Mapped[str | None] = mapped_column(sa.String(500))
    source: Mapped[str] = mapped_column(sa.String(1000))
    notice_version_id: Mapped[int | None] = mapped_column(sa.ForeignKey("notice_versions.id"))
    confirmed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    confirmation_ip: Mapped[str | None] = mapped_column(sa.String(64))
    # How the event is known: None, recorded by Outreach; "declared", an importer's word
    # (a file without evidence imported as subscribed); "imported", another tool's record.
    basis: Mapped[str | None] = mapped_column(sa.String(20))


@sa.event.listens_for(ConsentEvent, "before_update")
def _refuse_update(_mapper: Any, _connection: Any, target: ConsentEvent) -> None:
    raise RuntimeError(f"consent event {target.id} is append-only")


class UsedToken(Base):
    """A single-use token that has been spent (its id, never the token)."""

    __tablename__ = "used_tokens"

    jti: Mapped[str] = mapped_column(sa.String(64), primary_key=True)
    purpose: Mapped[str] = mapped_column(sa.String(40))
    used_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class Suppression(Base):
    """An address never to be mailed, keyed by an HMAC of the normalized address."""

    __tablename__ = "suppressions"

    id: Mapped[int] = mapped_column(primary_key=True)
    email_hmac: Mapped[str] = mapped_column(sa.String(64), unique=True)
    reason: Mapped[str] = mapped_column(sa.String(100))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, index=True)
