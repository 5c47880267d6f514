"""Who receives which variant, built in SQL: one row per contact, first group wins.

The members of the targeted groups are their stored memberships, a rule group's rule
evaluated at that moment, or a follow-up's chosen recipients of the first campaign.

A contact receives the variant of the first targeted group (in the campaign's priority
order) that has a variant of its own; when none of its targeted groups has one, the
fallback variant, if the campaign has one.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from outreach.campaigns.models import Campaign, CampaignGroup, Variant
from outreach.consent.service import unmailable_reason
from outreach.contacts.models import Contact
from outreach.delivery.models import Delivery
from outreach.delivery.outcomes import Outcome, outcome_condition
from outreach.groups.models import Group, GroupKind, GroupMembership
from outreach.groups.rules import Compiler

REASONS = ("not subscribed", "no consent", "suppressed", "restricted", "no variant")


# A follow-up's audiences: the recipients of the first campaign with this outcome.
FOLLOWUP_AUDIENCES = {
    "non-openers": Outcome.NOT_OPENED,
    "non-clickers": Outcome.NOT_CLICKED,
    "failed": Outcome.FAILED,
    "openers": Outcome.OPENED,
    "clickers": Outcome.CLICKED,
}


def followup_members(campaign: Campaign) -> sa.Select[*tuple[Any, ...]]:
    """contact_id, group_id: the recipients of the campaign a follow-up follows, chosen by
    its audience, each with the group it was sent as (the follow-up reaches those of its
    own target groups); erased contacts are gone from the ledger and so from here."""
    audience = campaign.followup_audience or {}
    outcome = FOLLOWUP_AUDIENCES[audience.get("audience", "non-openers")]
    chosen = sa.select(
        Delivery.contact_id.label("contact_id"), Delivery.group_id.label("group_id")
    ).where(
        Delivery.campaign_id == (campaign.followup_of or 0),
        Delivery.contact_id.is_not(None),
        outcome_condition(outcome, untracked=bool(audience.get("include_untracked"))),
    )
    return chosen


@dataclass(frozen=True)
class FollowupChoice:
    """What a follow-up's audience is, from whom, and whom it leaves out as untracked."""

    followup_of: int
    audience: str
    include_untracked: bool
    chosen: int  # the original's recipients with that outcome in the targeted groups
    untracked: int  # left out: no tracking on their message, so not known (0 if included)


def followup_choice(session: Session, campaign: Campaign) -> FollowupChoice | None:
    """A follow-up's audience, counted now in the original's ledger (None: not one)."""
    if campaign.followup_audience is None or campaign.followup_of is None:
        return None
    audience = campaign.followup_audience
    targeted = sa.select(CampaignGroup.group_id).where(CampaignGroup.campaign_id == campaign.id)
    chosen = followup_members(campaign).where(Delivery.group_id.in_(targeted)).subquery()
    count = session.scalar(sa.select(sa.func.count()).select_from(chosen)) or 0
    outcome = FOLLOWUP_AUDIENCES[audience["audience"]]
    untracked = 0
    if outcome in (Outcome.NOT_OPENED, Outcome.NOT_CLICKED) and not audience.get(
        "include_untracked"
    ):
        both = outcome_condition(outcome, untracked=True)
        known = outcome_condition(outcome)
        untracked = (
            session.scalar(
                sa.select(sa.func.count()).where(
                    Delivery.campaign_id == campaign.followup_of,
                    Delivery.contact_id.is_not(None),
                    Delivery.group_id.in_(targeted),
                    both,
                    sa.not_(known),
                )
            )
            or 0
        )
    return FollowupChoice(
        campaign.followup_of,
        audience["audience"],
        bool(audience.get("include_untracked")),
        int(count),
        int(untracked),
    )


def _range(column: Any) -> sa.ColumnElement[bool]:
    return sa.and_(column > sa.bindparam("low"), column <= sa.bindparam("high"))


def members(session: Session, campaign: Campaign, ranged: bool = False) -> sa.Subquery:
    """contact_id, group_id: each member of each group the campaign targets — the stored
    memberships of sector and affinity groups, the contacts a rule group's rule matches
    now, or, for a follow-up, the chosen recipients of the first campaign with the group
    they were sent as. `ranged`: only the contacts low < id <= high (the parameters `low`
    and `high`)."""
    if campaign.followup_audience is not None:
        chosen = followup_members(campaign)
        if ranged:
            chosen = chosen.where(_range(Delivery.contact_id))
        return chosen.subquery("members")
    targets = session.execute(
        sa.select(Group.id, Group.kind, Group.rule)
        .join(CampaignGroup, CampaignGroup.group_id == Group.id)
        .where(CampaignGroup.campaign_id == campaign.id)
    ).all()
    stored = [gid for gid, kind, _ in targets if kind is not GroupKind.RULE]
    parts: list[sa.Select[*tuple[Any, ...]]] = []
    if stored or not targets:
        part = sa.select(
            GroupMembership.contact_id.label("contact_id"),
            GroupMembership.group_id.label("group_id"),
        ).where(GroupMembership.group_id.in_(stored))
        parts.append(part.where(_range(GroupMembership.contact_id)) if ranged else part)
    compiler = Compiler(session, excluded_campaign=campaign.id, ranged=ranged)
    for gid, kind, rule in targets:
        if kind is GroupKind.RULE:
            part = sa.select(
                Contact.id.label("contact_id"), sa.literal(gid, sa.Integer).label("group_id")
            ).where(compiler.group_condition(gid, rule or {"any": []}))
            parts.append(part.where(_range(Contact.id)) if ranged else part)
    if len(parts) == 1:
        return parts[0].subquery("members")
    return sa.union_all(*parts).subquery("members")


def _assignment(members: sa.Subquery, campaign_id: int) -> sa.Subquery:
    """Per contact of the targeted groups: first position, first position with a variant."""
    has_variant = (
        sa.select(Variant.id)
        .where(Variant.campaign_id == campaign_id, Variant.group_id == CampaignGroup.group_id)
        .exists()
    )
    chosen = (
        sa.select(
            members.c.contact_id.label("contact_id"),
            sa.func.min(CampaignGroup.position).label("first_pos"),
            sa.func.min(sa.case((has_variant, CampaignGroup.position))).label("variant_pos"),
        )
        .join(CampaignGroup, CampaignGroup.group_id == members.c.group_id)
        .where(CampaignGroup.campaign_id == campaign_id)
        .group_by(members.c.contact_id)
    )
    return chosen.subquery("assignment")


def _exclusion(has_fallback: bool, assignment: sa.Subquery) -> sa.ColumnElement[Any]:
    no_variant = sa.false() if has_fallback else assignment.c.variant_pos.is_(None)
    return sa.func.coalesce(unmailable_reason(), sa.case((no_variant, "no variant")))


def _has_fallback(session: Session, campaign_id: int) -> bool:
    return (
        session.scalar(
            sa.select(Variant.id).where(
                Variant.campaign_id == campaign_id, Variant.group_id.is_(None)
            )
        )
        is not None
    )


def recipients(
    session: Session, campaign: Campaign, *, ranged: bool = False
) -> sa.Select[int, int, int, str]:
    """contact_id, variant_id, group_id, group_name of every eligible recipient (`ranged`:
    of the contacts low < id <= high only, given as the parameters `low` and `high`)."""
    assignment = _assignment(members(session, campaign, ranged), campaign.id)
    slot = sa.func.coalesce(assignment.c.variant_pos, assignment.c.first_pos)
    slot_group = sa.orm.aliased(CampaignGroup)
    variant = sa.orm.aliased(Variant)
    return (
        sa.select(
            Contact.id.label("contact_id"),
            variant.id.label("variant_id"),
            Group.id.label("group_id"),
            Group.name.label("group_name"),
        )
        .join(assignment, assignment.c.contact_id == Contact.id)
        .join(
            slot_group, sa.and_(slot_group.campaign_id == campaign.id, slot_group.position == slot)
        )
        .join(Group, Group.id == slot_group.group_id)
        .join(
            variant,
            sa.and_(
                variant.campaign_id == campaign.id,
                sa.case(
                    (assignment.c.variant_pos.is_(None), variant.group_id.is_(None)),
                    else_=variant.group_id == slot_group.group_id,
                ),
            ),
        )
        .where(_exclusion(_has_fallback(session, campaign.id), assignment).is_(None))
    )


@dataclass
class VariantAudience:
    """How many contacts one variant reaches, and who was left out and why."""

    label: str
    group_id: int | None
    has_variant: bool
    recipients: int = 0
    excluded: dict[str, int] = field(default_factory=dict)


def audience_report(session: Session, campaign: Campaign) -> list[VariantAudience]:
    """Per targeted group (and the fallback): recipients and exclusions by reason."""
    targets = session.execute(
        sa.select(CampaignGroup.position, Group.id, Group.name)
        .join(Group, Group.id == CampaignGroup.group_id)
        .where(CampaignGroup.campaign_id == campaign.id)
        .order_by(CampaignGroup.position)
    ).all()
    with_variant = set(
        session.scalars(sa.select(Variant.group_id).where(Variant.campaign_id == campaign.id))
    )
    fallback = None in with_variant
    rows = {pos: VariantAudience(name, gid, gid in with_variant) for pos, gid, name in targets}
    fallback_row = VariantAudience("fallback", None, fallback)
    chosen = members(session, campaign)
    assignment = _assignment(chosen, campaign.id)
    reason = _exclusion(fallback, assignment).label("reason")
    counted = session.execute(
        sa.select(assignment.c.variant_pos, assignment.c.first_pos, reason, sa.func.count())
        .select_from(Contact)
        .join(assignment, assignment.c.contact_id == Contact.id)
        .group_by(assignment.c.variant_pos, assignment.c.first_pos, reason)
    ).all()
    for variant_pos, first_pos, why, count in counted:
        row = (
            rows[variant_pos]
            if variant_pos is not None
            else (fallback_row if fallback else rows[first_pos])
        )
        if why is None:
            row.recipients += count
        else:
            row.excluded[why] = row.excluded.get(why, 0) + count
    _count_higher_priority(session, campaign, chosen, assignment, rows, with_variant)
    return [*rows.values(), *([fallback_row] if fallback else [])]


def _count_higher_priority(
    session: Session,
    campaign: Campaign,
    chosen: sa.Subquery,
    assignment: sa.Subquery,
    rows: dict[int, VariantAudience],
    with_variant: set[int | None],
) -> None:
    """Members of a group who receive an earlier group's variant instead."""
    later = sa.orm.aliased(CampaignGroup)
    counted = session.execute(
        sa.select(later.position, sa.func.count())
        .select_from(chosen)
        .join(
            later,
            sa.and_(later.group_id == chosen.c.group_id, later.campaign_id == campaign.id),
        )
        .join(assignment, assignment.c.contact_id == chosen.c.contact_id)
        .join(Contact, Contact.id == chosen.c.contact_id)
        .where(
            assignment.c.variant_pos < later.position,
            _exclusion(None in with_variant, assignment).is_(None),
        )
        .group_by(later.position)
    ).all()
    for position, count in counted:
        if rows[position].group_id in with_variant:
            rows[position].excluded["in a higher-priority group"] = count
