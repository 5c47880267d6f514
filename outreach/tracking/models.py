"""Individual open and click hits, kept for time series until retention removes them."""

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
