"""Who receives which variant, built in SQL: one row per contact, first group wins.

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
from outreach.groups.models import Group, GroupMembership

REASONS = ("not subscribed", "no consent", "suppressed", "restricted", "no variant")


def _assignment(campaign_id: int, ranged: bool = False) -> sa.Subquery:
    """Per contact of the targeted groups: first position, first position with a variant.
    `ranged`: only the contacts low < id <= high, the parameters `low` and `high` (read
    from the membership index: without it, every chunk of the audience freeze aggregated
    every membership of the table)."""
    has_variant = (
        sa.select(Variant.id)
        .where(Variant.campaign_id == campaign_id, Variant.group_id == CampaignGroup.group_id)
        .exists()
    )
    chosen = (
        sa.select(
            GroupMembership.contact_id.label("contact_id"),
            sa.func.min(CampaignGroup.position).label("first_pos"),
            sa.func.min(sa.case((has_variant, CampaignGroup.position))).label("variant_pos"),
        )
        .join(CampaignGroup, CampaignGroup.group_id == GroupMembership.group_id)
        .where(CampaignGroup.campaign_id == campaign_id)
        .group_by(GroupMembership.contact_id)
    )
    if ranged:
        chosen = chosen.where(
            GroupMembership.contact_id > sa.bindparam("low"),
            GroupMembership.contact_id <= sa.bindparam("high"),
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
    assignment = _assignment(campaign.id, ranged)
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
    assignment = _assignment(campaign.id)
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
    _count_higher_priority(session, campaign, assignment, rows, with_variant)
    return [*rows.values(), *([fallback_row] if fallback else [])]


def _count_higher_priority(
    session: Session,
    campaign: Campaign,
    assignment: sa.Subquery,
    rows: dict[int, VariantAudience],
    with_variant: set[int | None],
) -> None:
    """Members of a group who receive an earlier group's variant instead."""
    later = sa.orm.aliased(CampaignGroup)
    counted = session.execute(
        sa.select(later.position, sa.func.count())
        .select_from(GroupMembership)
        .join(
            later,
            sa.and_(later.group_id == GroupMembership.group_id, later.campaign_id == campaign.id),
        )
        .join(assignment, assignment.c.contact_id == GroupMembership.contact_id)
        .join(Contact, Contact.id == GroupMembership.contact_id)
        .where(
            assignment.c.variant_pos < later.position,
            _exclusion(None in with_variant, assignment).is_(None),
        )
        .group_by(later.position)
    ).all()
    for position, count in counted:
        if rows[position].group_id in with_variant:
            rows[position].excluded["in a higher-priority group"] = count
