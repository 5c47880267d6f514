"""The delivery ledger: one row per (campaign, contact)."""

from __future__ import annotations

import enum
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from outreach.db import Base, UTCDateTime, str_enum, utcnow


class DeliveryStatus(enum.StrEnum):
    """Where one message stands."""

    QUEUED = "queued"
    SENDING = "sending"
    SENT = "sent"
    FAILED = "failed"
    BOUNCED = "bounced"
    SKIPPED = "skipped"


class Delivery(Base):
    """One recipient of one campaign; contact_id becomes NULL when the contact is erased."""

    __tablename__ = "deliveries"
    # Every index is written by each of the million rows an audience freeze inserts and
    # again by each claim and outcome (a status change is never a HOT update): only those
    # that queries read. The unique constraint leads with the contact, so that it also
    # serves a contact's deliveries (erasure, export, its page).
    __table_args__ = (
        sa.UniqueConstraint("contact_id", "campaign_id"),
        sa.Index("ix_deliveries_campaign_status", "campaign_id", "status"),
        # The recent send rate of a campaign's progress (its last seconds of sent_at);
        # partial, so that the rows not sent yet are not in it.
        sa.Index(
            "ix_deliveries_campaign_sent_at",
            "campaign_id",
            "sent_at",
            postgresql_where=sa.text("sent_at IS NOT NULL"),
            sqlite_where=sa.text("sent_at IS NOT NULL"),
        ),
        # The few suspected duplicates of a campaign, without reading its other rows.
        sa.Index(
            "ix_deliveries_suspected",
            "campaign_id",
            postgresql_where=sa.text("suspected_duplicate"),
            sqlite_where=sa.text("suspected_duplicate = 1"),
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    campaign_id: Mapped[int] = mapped_column(sa.ForeignKey("campaigns.id", ondelete="CASCADE"))
    contact_id: Mapped[int | None] = mapped_column(
        sa.ForeignKey("contacts.id", ondelete="SET NULL")
    )
    # The variant and group it was frozen with, as plain ids beside the group's name (the
    # snapshot that reports read): no foreign keys, whose per-row checks were a fifth of
    # the audience freeze; variants and groups are not deleted while deliveries name them
    # (a use case that deletes one clears these first).
    variant_id: Mapped[int | None] = mapped_column()
    group_id: Mapped[int | None] = mapped_column()
    group_name: Mapped[str] = mapped_column(sa.String(200), default="")
    status: Mapped[DeliveryStatus] = mapped_column(
        str_enum(DeliveryStatus, "delivery_status"), default=DeliveryStatus.QUEUED
    )
    skip_reason: Mapped[str | None] = mapped_column(sa.String(100))
    attempts: Mapped[int] = mapped_column(default=0)
    last_error: Mapped[str | None] = mapped_column(sa.String(1000))
    message_id: Mapped[str | None] = mapped_column(sa.String(255))
    # queued: not before (a retry's backoff); sending: the claim's lease, renewed while
    # its worker lives. The claim is the worker's id and a token of the batch.
    lease_until: Mapped[datetime | None] = mapped_column(UTCDateTime)
    claimed_by: Mapped[str | None] = mapped_column(sa.String(100))
    claim_token: Mapped[str | None] = mapped_column(sa.String(32))
    # Claimed again after its message may have reached the SMTP server (a killed worker's
    # message in flight, a DATA answer that never came): a copy may have gone twice.
    suspected_duplicate: Mapped[bool] = mapped_column(default=False)
    tracking_opens: Mapped[bool] = mapped_column(default=False)
    tracking_clicks: Mapped[bool] = mapped_column(default=False)
    queued_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    first_open_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    last_open_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    human_opens: Mapped[int] = mapped_column(default=0)
    machine_opens: Mapped[int] = mapped_column(default=0)
    clicks: Mapped[int] = mapped_column(default=0)
    machine_clicks: Mapped[int] = mapped_column(default=0)
    unsubscribed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
