"""Campaigns and their per-group variants."""

from __future__ import annotations

import enum
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from outreach.db import Base, UTCDateTime, str_enum, utcnow


class CampaignStatus(enum.StrEnum):
    """The life of a campaign."""

    DRAFT = "draft"
    SCHEDULED = "scheduled"
    SENDING = "sending"
    PAUSED = "paused"
    SENT = "sent"
    CANCELLED = "cancelled"


class Campaign(Base):
    """One mailing, with a variant per targeted group."""

    __tablename__ = "campaigns"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(sa.String(200))
    from_name: Mapped[str] = mapped_column(sa.String(200), default="")
    from_email: Mapped[str] = mapped_column(sa.String(320))
    reply_to: Mapped[str | None] = mapped_column(sa.String(320))
    status: Mapped[CampaignStatus] = mapped_column(
        str_enum(CampaignStatus, "campaign_status"), default=CampaignStatus.DRAFT, index=True
    )
    scheduled_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    started_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    progress_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    consecutive_failures: Mapped[int] = mapped_column(default=0, server_default="0")
    pause_reason: Mapped[str | None] = mapped_column(sa.String(500))
    # A follow-up: its audience is the recipients of `followup_of` chosen by
    # `followup_audience` (outreach.campaigns.followups), not the members of its groups.
    followup_of: Mapped[int | None] = mapped_column(
        sa.ForeignKey("campaigns.id", ondelete="SET NULL")
    )
    followup_audience: Mapped[dict[str, Any] | None] = mapped_column(sa.JSON)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)


class CampaignGroup(Base):
    """A targeted group and its priority (lower position wins)."""

    __tablename__ = "campaign_groups"
    __table_args__ = (sa.UniqueConstraint("campaign_id", "position"),)

    campaign_id: Mapped[int] = mapped_column(
        sa.ForeignKey("campaigns.id", ondelete="CASCADE"), primary_key=True
    )
    group_id: Mapped[int] = mapped_column(
        sa.ForeignKey("groups.id", ondelete="RESTRICT"), primary_key=True
    )
    position: Mapped[int] = mapped_column()


class Variant(Base):
    """The message one group receives (group_id NULL: the fallback variant)."""

    __tablename__ = "variants"
    __table_args__ = (
        sa.UniqueConstraint("campaign_id", "group_id"),
        sa.Index(
            "uq_variants_one_fallback",
            "campaign_id",
            unique=True,
            sqlite_where=sa.text("group_id IS NULL"),
            postgresql_where=sa.text("group_id IS NULL"),
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    campaign_id: Mapped[int] = mapped_column(sa.ForeignKey("campaigns.id", ondelete="CASCADE"))
    group_id: Mapped[int | None] = mapped_column(sa.ForeignKey("groups.id", ondelete="RESTRICT"))
    subject: Mapped[str] = mapped_column(sa.String(998))
    preheader: Mapped[str] = mapped_column(sa.String(500), default="")
    mjml: Mapped[str] = mapped_column(sa.Text)
    text_source: Mapped[str | None] = mapped_column(sa.Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)
