"""Every inbound message processed, once, with what was decided."""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from outreach.db import Base, UTCDateTime, utcnow


class InboundMessage(Base):
    """One processed message: recorded once (by its digest; its Message-ID beside it),
    kept for OUTREACH_INBOUND_RETENTION_DAYS with its text, for an admin to look again."""

    __tablename__ = "inbound_messages"

    id: Mapped[int] = mapped_column(primary_key=True)
    digest: Mapped[str] = mapped_column(sa.String(64), unique=True)  # sha256 of the bytes
    message_id: Mapped[str | None] = mapped_column(sa.String(998), index=True)
    source: Mapped[str] = mapped_column(sa.String(50))  # pipe, maildir, imap, pop3, a hook
    received_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, index=True)
    sender: Mapped[str] = mapped_column(sa.String(320), default="")
    subject: Mapped[str] = mapped_column(sa.String(300), default="")
    kind: Mapped[str] = mapped_column(sa.String(20), index=True)  # outreach.inbound.classify.Kind
    status: Mapped[str | None] = mapped_column(sa.String(50))  # DSN status, feedback type
    # The delivery and contact it was matched to (plain ids: the ledger outlives them).
    delivery_id: Mapped[int | None] = mapped_column()
    contact_id: Mapped[int | None] = mapped_column(index=True)
    decision: Mapped[str] = mapped_column(sa.String(500), default="")
    raw: Mapped[str] = mapped_column(sa.Text, default="")
