"""Read-only statements over the consent ledger."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from outreach.consent.models import ConsentEvent, NoticeVersion


def consent_history_stmt(contact_id: int) -> sa.Select[*tuple[Any, ...]]:
    """The ledger of one contact, oldest first, with the hash of each cited notice."""
    return (
        sa.select(
            ConsentEvent.id,
            ConsentEvent.occurred_at,
            ConsentEvent.purpose,
            ConsentEvent.action,
            ConsentEvent.source,
            ConsentEvent.ip,
            ConsentEvent.user_agent,
            NoticeVersion.hash.label("notice_hash"),
            ConsentEvent.confirmed_at,
            ConsentEvent.confirmation_ip,
        )
        .outerjoin(NoticeVersion, NoticeVersion.id == ConsentEvent.notice_version_id)
        .where(ConsentEvent.contact_id == contact_id)
        .order_by(ConsentEvent.occurred_at, ConsentEvent.id)
    )


def consent_history(session: Session, contact_id: int) -> Sequence[sa.Row[*tuple[Any, ...]]]:
    """Every consent event of a contact, oldest first (rows named like the columns)."""
    return session.execute(consent_history_stmt(contact_id)).all()
