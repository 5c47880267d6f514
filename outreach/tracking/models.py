"""Individual open and click hits, kept for time series until retention removes them, and
the per-link click counts of each delivery, which outlive them."""

from __future__ import annotations

import enum
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from outreach.db import Base, UTCDateTime, str_enum, utcnow


class HitKind(enum.StrEnum):
    """What was hit."""

    OPEN = "open"
    CLICK = "click"


class TrackingHit(Base):
    """One open or click: the verdict and coarse data, never a raw IP address."""

    __tablename__ = "tracking_hits"
    __table_args__ = (sa.Index("ix_tracking_hits_delivery", "delivery_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    delivery_id: Mapped[int] = mapped_column(sa.ForeignKey("deliveries.id", ondelete="CASCADE"))
    campaign_id: Mapped[int] = mapped_column(
        sa.ForeignKey("campaigns.id", ondelete="CASCADE"), index=True
    )
    kind: Mapped[HitKind] = mapped_column(str_enum(HitKind, "hit_kind"))
    machine: Mapped[bool] = mapped_column(default=False)
    reason: Mapped[str | None] = mapped_column(sa.String(100))
    url: Mapped[str | None] = mapped_column(sa.String(2000))
    agent_family: Mapped[str | None] = mapped_column(sa.String(100))
    occurred_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class LinkClick(Base):
    """The clicks of one delivery on one link: the per-link figures' ledger, written with the
    hits and kept when retention removes them. Group and variant are the delivery's, copied
    (as in the tallies) so that a campaign's per-link report reads only its own rows."""

    __tablename__ = "link_clicks"
    __table_args__ = (sa.UniqueConstraint("delivery_id", "url"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    campaign_id: Mapped[int] = mapped_column(
        sa.ForeignKey("campaigns.id", ondelete="CASCADE"), index=True
    )
    delivery_id: Mapped[int] = mapped_column(sa.ForeignKey("deliveries.id", ondelete="CASCADE"))
    group_name: Mapped[str] = mapped_column(sa.String(200))
    variant_id: Mapped[int] = mapped_column()  # 0: the variant was removed
    url: Mapped[str] = mapped_column(sa.String(2000))
    human_clicks: Mapped[int] = mapped_column(default=0)
    machine_clicks: Mapped[int] = mapped_column(default=0)
    first_human_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class DeliveryTally(Base):
    """Status counts of one block of delivery ids, for one group and variant of a campaign.

    Recomputed from the ledger (never incremented) for the blocks a batch touched."""

    __tablename__ = "delivery_tallies"
    __table_args__ = (sa.Index("ix_delivery_tallies_campaign_block", "campaign_id", "block"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    campaign_id: Mapped[int] = mapped_column(sa.ForeignKey("campaigns.id", ondelete="CASCADE"))
    block: Mapped[int] = mapped_column()
    group_name: Mapped[str] = mapped_column(sa.String(200))
    variant_id: Mapped[int] = mapped_column()  # 0: the variant was removed
    recipients: Mapped[int] = mapped_column(default=0)
    sent: Mapped[int] = mapped_column(default=0)
    failed: Mapped[int] = mapped_column(default=0)
    bounced: Mapped[int] = mapped_column(default=0)
    skipped: Mapped[int] = mapped_column(default=0)
    open_tracked: Mapped[int] = mapped_column(default=0)
    click_tracked: Mapped[int] = mapped_column(default=0)


class EngagementTally(Base):
    """Unique openers, machine openers, clickers, machine clickers and unsubscribes of one
    group and variant (outreach.reporting.stats says what each counts)."""

    __tablename__ = "engagement_tallies"
    __table_args__ = (sa.UniqueConstraint("campaign_id", "group_name", "variant_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    campaign_id: Mapped[int] = mapped_column(sa.ForeignKey("campaigns.id", ondelete="CASCADE"))
    group_name: Mapped[str] = mapped_column(sa.String(200))
    variant_id: Mapped[int] = mapped_column()
    human_openers: Mapped[int] = mapped_column(default=0)
    machine_openers: Mapped[int] = mapped_column(default=0)
    clickers: Mapped[int] = mapped_column(default=0)
    unsubscribes: Mapped[int] = mapped_column(default=0)
    machine_clickers: Mapped[int] = mapped_column(default=0, server_default="0")


class HourlyTally(Base):
    """Human opens and clicks of a campaign in one hour (UTC); outlives the individual hits."""

    __tablename__ = "hourly_tallies"
    __table_args__ = (sa.UniqueConstraint("campaign_id", "hour"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    campaign_id: Mapped[int] = mapped_column(sa.ForeignKey("campaigns.id", ondelete="CASCADE"))
    hour: Mapped[datetime] = mapped_column(UTCDateTime)
    opens: Mapped[int] = mapped_column(default=0)
    clicks: Mapped[int] = mapped_column(default=0)


class RecordedBatch(Base):
    """A batch of hits handed to the workers and recorded: a redelivered message is skipped
    (the broker delivers at least once)."""

    __tablename__ = "recorded_hit_batches"

    batch_id: Mapped[str] = mapped_column(sa.String(32), primary_key=True)
    recorded_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, index=True)
