"""The workers alive: one row per sending process, beating every few seconds."""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from outreach.db import Base, UTCDateTime, utcnow


class Worker(Base):
    """A process that claims and sends (`outreach worker`'s processes, `outreach serve`).

    Its claims are released at once when `expires_at` (three beats after its last beat)
    has passed, or when it stopped: nobody waits for a dead worker's leases.
    """

    __tablename__ = "workers"

    id: Mapped[str] = mapped_column(sa.String(100), primary_key=True)
    host: Mapped[str] = mapped_column(sa.String(255))
    pid: Mapped[int]
    origin: Mapped[str] = mapped_column(sa.String(100))
    started_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    beat_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)
    stopped_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
