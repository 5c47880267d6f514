"""What happened to a recipient, as conditions over its delivery: the one definition that
rule groups, follow-ups and the recipient lists of a report share.

Opens and clicks are human ones only (Delivery.human_opens, Delivery.clicks: machine opens
and clicks are counted apart). Whether someone did *not* open can only be known when open
tracking was on for that message, so `not_opened` holds only for tracked deliveries (and
`not_clicked` only for click-tracked ones); `untracked=True` drops that requirement, for a
sender who asks for it knowingly.
"""

from __future__ import annotations

import enum

import sqlalchemy as sa

from outreach.delivery.models import Delivery, DeliveryStatus


class Outcome(enum.StrEnum):
    """A recipient's outcome in one campaign."""

    RECEIVED = "received"
    OPENED = "opened"
    CLICKED = "clicked"
    NOT_OPENED = "not_opened"
    NOT_CLICKED = "not_clicked"
    BOUNCED = "bounced"
    FAILED = "failed"
    UNSUBSCRIBED = "unsubscribed"


def outcome_condition(outcome: Outcome, *, untracked: bool = False) -> sa.ColumnElement[bool]:
    """The deliveries with this outcome (`untracked`: count the messages that were not
    tracked among the non-openers and non-clickers)."""
    sent = Delivery.status == DeliveryStatus.SENT
    if outcome is Outcome.RECEIVED:
        return sent
    if outcome is Outcome.OPENED:
        return sa.and_(sent, Delivery.tracking_opens.is_(True), Delivery.human_opens > 0)
    if outcome is Outcome.CLICKED:
        return sa.and_(sent, Delivery.tracking_clicks.is_(True), Delivery.clicks > 0)
    if outcome is Outcome.NOT_OPENED:
        tracked = sa.true() if untracked else Delivery.tracking_opens.is_(True)
        return sa.and_(sent, tracked, Delivery.human_opens == 0)
    if outcome is Outcome.NOT_CLICKED:
        tracked = sa.true() if untracked else Delivery.tracking_clicks.is_(True)
        return sa.and_(sent, tracked, Delivery.clicks == 0)
    if outcome is Outcome.BOUNCED:
        return Delivery.status == DeliveryStatus.BOUNCED
    if outcome is Outcome.FAILED:
        return Delivery.status == DeliveryStatus.FAILED
    return Delivery.unsubscribed_at.is_not(None)
