"""Campaign use cases: send or schedule, pause, resume, cancel, retry, test sends, and what
the composer needs to know (the actions a state allows, who receives the fallback).

Each takes a session and plain values and never commits: the surface (admin, API, command
line) commits, then calls `enqueue` with the outcome, so batches are enqueued only once
the state that makes them claimable is in the database.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from flask import Flask
from sqlalchemy.orm import Session

from outreach.campaigns.models import Campaign, CampaignStatus, Variant
from outreach.campaigns.service import (
    create_followup,
    delete_draft,
    duplicate_campaign,
    get_campaign,
    queue_test_messages,
    target_groups,
    variants,
)
from outreach.db import get_db, utcnow
from outreach.delivery import service as delivery
from outreach.errors import NotFound, ValidationError
from outreach.groups.models import Group

FALLBACK = "fallback"
# What an operator may do in each status (the delivery service refuses the rest).
ACTIONS: dict[CampaignStatus, tuple[str, ...]] = {
    CampaignStatus.DRAFT: ("send", "schedule"),
    CampaignStatus.SCHEDULED: ("send", "schedule", "pause", "cancel"),
    CampaignStatus.SENDING: ("pause", "retry", "cancel"),
    CampaignStatus.PAUSED: ("resume", "retry", "cancel"),
    CampaignStatus.SENT: ("retry",),
    CampaignStatus.CANCELLED: (),
}


@dataclass(frozen=True)
class Outcome:
    """Where a campaign stands after a use case, and whether batches wait to be enqueued
    once the caller has committed (`enqueue`)."""

    campaign_id: int
    name: str
    status: CampaignStatus
    frozen: int = 0  # deliveries frozen by this start
    retried: int = 0  # failed recipients queued again
    skipped: int = 0  # deliveries a cancel skipped
    scheduled_at: datetime | None = None
    continued: bool = False  # `send` of a campaign still sending: it goes on from its ledger
    needs_enqueue: bool = False


def allowed_actions(status: CampaignStatus) -> tuple[str, ...]:
    """The controls a campaign in this status offers."""
    return ACTIONS[status]


def send_time(at: datetime | None, now: datetime | None = None) -> datetime | None:
    """The one rule for when to send, on every surface: None is now; a time must carry its
    zone and lie in the future (a time already past is refused, never sent at once)."""
    if at is None:
        return None
    if at.tzinfo is None:
        raise ValidationError(
            "give the time with its zone, e.g. 2026-12-01T09:00+01:00", field="at"
        )
    moment = at.astimezone(UTC)
    if moment <= (now or utcnow()):
        shown = moment.strftime("%Y-%m-%d %H:%M UTC")
        raise ValidationError(
            f"{shown} has passed: choose a time in the future, or send now", field="at"
        )
    return moment


def _outcome(campaign: Campaign, **values: object) -> Outcome:
    return Outcome(
        campaign.id,
        campaign.name,
        campaign.status,
        scheduled_at=campaign.scheduled_at if campaign.status is CampaignStatus.SCHEDULED else None,
        **values,  # type: ignore[arg-type]
    )


def send(session: Session, ref: int | str, at: datetime | None = None) -> Outcome:
    """Check, then send now or at `at` (see send_time). A campaign still sending, whose
    workers went away, goes on from its ledger when sent again without a time."""
    campaign = get_campaign(session, ref)
    if at is None and campaign.status is CampaignStatus.SENDING:
        delivery.resume(session, campaign)
        return _outcome(campaign, continued=True, needs_enqueue=True)
    frozen = delivery.start(session, campaign, send_time(at))
    scheduled = campaign.status is CampaignStatus.SCHEDULED
    return _outcome(campaign, frozen=frozen, needs_enqueue=not scheduled)


def pause(session: Session, ref: int | str) -> Outcome:
    """Workers stop claiming; batches in flight stop within half a second."""
    campaign = get_campaign(session, ref)
    delivery.pause(session, campaign)
    return _outcome(campaign)


def resume(session: Session, ref: int | str) -> Outcome:
    """Go on from the ledger (one never started starts now)."""
    campaign = get_campaign(session, ref)
    delivery.resume(session, campaign)
    return _outcome(campaign, needs_enqueue=True)


def cancel(session: Session, ref: int | str) -> Outcome:
    """Stop for good: deliveries not yet sent become skipped."""
    campaign = get_campaign(session, ref)
    return _outcome(campaign, skipped=delivery.cancel(session, campaign))


def retry(session: Session, ref: int | str, reason: str | None, actor: str) -> Outcome:
    """Queue the failed recipients again (bounced and no longer mailable ones stay); a
    paused campaign sends them once resumed."""
    campaign = get_campaign(session, ref)
    count = delivery.retry_failed(session, campaign, reason, actor=actor)
    paused = campaign.status is CampaignStatus.PAUSED
    return _outcome(campaign, retried=count, needs_enqueue=bool(count) and not paused)


def enqueue(
    app: Flask, outcome: Outcome, origin: str = "web server", *, start_workers: bool = True
) -> int:
    """After the commit: make sure workers run (the embedded broker has them in this
    process; `start_workers` False leaves that to `serve` or `worker`), then enqueue the
    pending batches; how many (0 when nothing waits)."""
    from outreach.embedded import start_embedded

    if not outcome.needs_enqueue:
        return 0
    if start_workers:
        # Worker threads keep the app: the object itself, never Flask's current_app proxy.
        real = app._get_current_object() if hasattr(app, "_get_current_object") else app
        start_embedded(real, origin=origin)
    from outreach import tasks  # actors exist only once the broker is configured

    with get_db(app).reader() as session:
        return tasks.enqueue_pending(session, outcome.campaign_id)


def queue_tests(session: Session, ref: int | str, to: str, group: str | None) -> list[int]:
    """Test messages (marked [TEST], counted nowhere) into the outbox: one per variant, or
    the one `group` receives; their outbox ids, for `send_tests` after the commit."""
    return queue_test_messages(session, get_campaign(session, ref), to, group)


def send_tests(app: Flask, ids: list[int]) -> int:
    """After the commit: send the queued test messages now (stored, signed, sent once)."""
    from outreach.outbox.sender import deliver_now

    return deliver_now(get_db(app), ids)


def fallback_receiver(targets: list[Group], own: dict[int | None, Variant]) -> Group | None:
    """The first targeted group whose members receive the fallback (no variant of its own)."""
    return next((g for g in targets if g.id not in own), None)


def preview_group(session: Session, campaign: Campaign, key: str) -> Group:
    """The targeted group to preview for: by id, or (`fallback`) the first one that
    receives the fallback variant."""
    targets = target_groups(session, campaign)
    if key == FALLBACK:
        own = {v.group_id: v for _, v in variants(session, campaign)}
        group = fallback_receiver(targets, own)
        if group is None:
            raise NotFound("every targeted group has its own variant: nobody gets the fallback")
        return group
    group = next((g for g in targets if str(g.id) == key), None)
    if group is None:
        raise NotFound(f"group {key!r} is not targeted by this campaign", field="group")
    return group


def duplicate(session: Session, ref: int | str, name: str | None, actor: str) -> Campaign:
    """A new draft from a campaign (its sender, target groups and variants, to edit)."""
    model = get_campaign(session, ref)
    copy = duplicate_campaign(session, model, name)
    _audit(session, actor, "campaign_duplicated", copy.id, {"from": model.id})
    return copy


def followup(
    session: Session,
    ref: int | str,
    audience: str,
    actor: str,
    *,
    groups: list[str] | None = None,
    name: str | None = None,
    include_untracked: bool = False,
) -> Campaign:
    """A draft follow-up of a sent campaign for its non-openers, non-clickers, failed
    recipients (or openers, clickers), with its per-group variants copied to edit."""
    original = get_campaign(session, ref)
    draft = create_followup(
        session,
        original,
        audience,
        groups=groups,
        name=name,
        include_untracked=include_untracked,
    )
    _audit(
        session,
        actor,
        "campaign_followup_created",
        draft.id,
        {"of": original.id, "audience": audience, "include_untracked": include_untracked},
    )
    return draft


def group_from_outcome(
    session: Session,
    ref: int | str,
    outcome: str,
    group: str | None,
    name: str,
    actor: str,
) -> tuple[Group, int]:
    """A new affinity group of the campaign's recipients with this outcome (of one group);
    restricted contacts are not added. The group and how many it holds."""
    from outreach.groups.service import group_of
    from outreach.reporting.recipients import unrestricted_ids

    campaign = get_campaign(session, ref)
    where = f" in {group}" if group else ""
    made, count = group_of(
        session,
        name,
        unrestricted_ids(session, campaign.id, outcome, group),
        f"{outcome.replace('_', ' ')} {campaign.name}{where}"[:1000],
    )
    _audit(
        session,
        actor,
        "group_from_outcome",
        campaign.id,
        {"group": made.id, "outcome": outcome, "of_group": group, "members": count},
    )
    return made, count


def delete(session: Session, ref: int | str, actor: str) -> str:
    """Delete a draft (any other status is refused); returns its name."""
    campaign = get_campaign(session, ref)
    name, number = campaign.name, campaign.id
    delete_draft(session, campaign)
    _audit(session, actor, "campaign_deleted", number, {"name": name})
    return name


def _audit(
    session: Session, actor: str, action: str, campaign_id: int, details: dict[str, object]
) -> None:
    """One audit-log entry about a campaign."""
    from outreach.privacy.models import AuditEntry

    session.add(
        AuditEntry(
            actor=actor[:320],
            action=action,
            subject_type="campaign",
            subject_id=campaign_id,
            details=details,
        )
    )
