"""Who, not only how many: the recipients behind each figure of a campaign's report.

For a group (or every group) and an outcome — opened, clicked, bounced, failed,
unsubscribed, not opened — the recipients, from the delivery ledger with the same
definitions as the figures (outreach.delivery.outcomes: human opens and clicks only; "not
opened" among those whose message was open-tracked). An erased contact is gone from the
ledger and never appears; a restricted one appears without its data, as a number.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import IO

import sqlalchemy as sa
from sqlalchemy.orm import Session

from outreach.contacts.models import Contact, ContactStatus
from outreach.delivery.models import Delivery
from outreach.delivery.outcomes import Outcome, outcome_condition
from outreach.errors import ValidationError
from outreach.spreadsheet import SafeWriter

# The outcomes a report lists, and the follow-up audience each one is (if any).
LISTED = {
    "opened": (Outcome.OPENED, "openers"),
    "clicked": (Outcome.CLICKED, "clickers"),
    "not_opened": (Outcome.NOT_OPENED, "non-openers"),
    "bounced": (Outcome.BOUNCED, None),
    "failed": (Outcome.FAILED, "failed"),
    "unsubscribed": (Outcome.UNSUBSCRIBED, None),
}
MAX_PAGE = 500


@dataclass(frozen=True)
class Recipient:
    """One recipient with this outcome (a restricted contact: its id and status only)."""

    contact_id: int
    email: str
    name: str
    status: str
    group: str
    sent_at: datetime | None
    human_opens: int
    clicks: int


def outcome_of(name: str) -> Outcome:
    """The outcome of a report's name for it, or a clear refusal."""
    if name not in LISTED:
        raise ValidationError(
            f"unknown outcome {name!r}: use one of {', '.join(LISTED)}", field="outcome"
        )
    return LISTED[name][0]


def _chosen(campaign_id: int, outcome: str, group: str | None) -> list[sa.ColumnElement[bool]]:
    where = [
        Delivery.campaign_id == campaign_id,
        Delivery.contact_id.is_not(None),
        outcome_condition(outcome_of(outcome)),
    ]
    if group:
        where.append(Delivery.group_name == group)
    return where


def count_recipients(session: Session, campaign_id: int, outcome: str, group: str | None) -> int:
    """How many recipients of the campaign (of one group) have this outcome."""
    return int(
        session.scalar(sa.select(sa.func.count()).where(*_chosen(campaign_id, outcome, group))) or 0
    )


def recipients(
    session: Session,
    campaign_id: int,
    outcome: str,
    group: str | None = None,
    *,
    limit: int | None = None,
    offset: int = 0,
) -> list[Recipient]:
    """The recipients with this outcome, in delivery order (a page, with `limit`)."""
    rows = session.execute(
        sa.select(
            Contact.id,
            Contact.email,
            Contact.first_name,
            Contact.last_name,
            Contact.status,
            Delivery.group_name,
            Delivery.sent_at,
            Delivery.human_opens,
            Delivery.clicks,
        )
        .join(Contact, Contact.id == Delivery.contact_id)
        .where(*_chosen(campaign_id, outcome, group))
        .order_by(Delivery.id)
        .limit(limit)
        .offset(offset)
    )
    found = []
    for cid, email, first, last, status, group_name, sent_at, opens, clicks in rows:
        withheld = status is ContactStatus.RESTRICTED
        found.append(
            Recipient(
                contact_id=cid,
                email="" if withheld else email,
                name="" if withheld else " ".join(p for p in (first, last) if p),
                status=str(status),
                group=group_name,
                sent_at=sent_at,
                human_opens=opens,
                clicks=clicks,
            )
        )
    return found


def unrestricted_ids(
    session: Session, campaign_id: int, outcome: str, group: str | None
) -> sa.Select[int]:
    """The contact ids with this outcome whose processing is not restricted (a new group
    may be made of them)."""
    return (
        sa.select(Contact.id)
        .join(Delivery, Delivery.contact_id == Contact.id)
        .where(*_chosen(campaign_id, outcome, group), Contact.status != ContactStatus.RESTRICTED)
    )


COLUMNS = ("contact_id", "email", "name", "status", "group", "sent_at", "human_opens", "clicks")


def write_recipients_csv(found: list[Recipient], out: IO[str]) -> None:
    """The recipients as CSV, one a line (spreadsheet-safe)."""
    writer = SafeWriter(out)
    writer.writerow(COLUMNS)
    for r in found:
        writer.writerow(
            [
                r.contact_id,
                r.email,
                r.name,
                r.status,
                r.group,
                r.sent_at.isoformat() if r.sent_at else None,
                r.human_opens,
                r.clicks,
            ]
        )


@dataclass(frozen=True)
class CombinedReach:
    """A group across a campaign and its follow-up: the people reached by either, and
    the people who opened or clicked either (human opens and clicks)."""

    group: str
    reached: int
    openers: int
    clickers: int
    first_reached: int  # by the first campaign alone, for comparison
    first_openers: int
    first_clickers: int


def combined_reach(session: Session, first_id: int, followup_id: int) -> list[CombinedReach]:
    """Per group (by the group each was sent as): distinct contacts over both campaigns'
    deliveries. Read from the ledger (a follow-up's report only)."""
    both = Delivery.campaign_id.in_((first_id, followup_id))
    first = Delivery.campaign_id == first_id
    sent = outcome_condition(Outcome.RECEIVED)
    opened = outcome_condition(Outcome.OPENED)
    clicked = outcome_condition(Outcome.CLICKED)

    def distinct(condition: sa.ColumnElement[bool]) -> sa.ColumnElement[int]:
        return sa.func.count(sa.distinct(sa.case((condition, Delivery.contact_id))))

    rows = session.execute(
        sa.select(
            Delivery.group_name,
            distinct(sent),
            distinct(opened),
            distinct(clicked),
            distinct(sa.and_(first, sent)),
            distinct(sa.and_(first, opened)),
            distinct(sa.and_(first, clicked)),
        )
        .where(both, Delivery.contact_id.is_not(None))
        .group_by(Delivery.group_name)
        .order_by(Delivery.group_name)
    )
    return [CombinedReach(*row) for row in rows]
