"""rule groups and follow-up campaigns

- groups.kind accepts "rule", and groups.rule holds a rule group's rule document;
- campaigns.followup_of and campaigns.followup_audience: a follow-up's audience is chosen
  from the recipients of an earlier campaign.

Revision ID: 0019
Revises: 0018
Create Date: 2026-12-08 00:10:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0019"
down_revision = "0018"
branch_labels = None
depends_on = None


def _kinds(*kinds: str) -> str:
    return "kind IN (" + ", ".join(f"'{k}'" for k in kinds) + ")"


def upgrade() -> None:
    with op.batch_alter_table("groups", schema=None) as batch_op:
        batch_op.drop_constraint(op.f("ck_groups_group_kind"), type_="check")
        batch_op.create_check_constraint("group_kind", _kinds("sector", "affinity", "rule"))
        batch_op.add_column(sa.Column("rule", sa.JSON(), nullable=True))
    with op.batch_alter_table("campaigns", schema=None) as batch_op:
        batch_op.add_column(sa.Column("followup_of", sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column("followup_audience", sa.JSON(), nullable=True))
        batch_op.create_foreign_key(
            "fk_campaigns_followup_of_campaigns",
            "campaigns",
            ["followup_of"],
            ["id"],
            ondelete="SET NULL",
        )


def downgrade() -> None:
    with op.batch_alter_table("campaigns", schema=None) as batch_op:
        batch_op.drop_constraint("fk_campaigns_followup_of_campaigns", type_="foreignkey")
        batch_op.drop_column("followup_audience")
        batch_op.drop_column("followup_of")
    rule_groups = "(SELECT id FROM groups WHERE kind = 'rule')"
    for table in ("variants", "campaign_groups", "group_memberships"):
        op.execute(f"DELETE FROM {table} WHERE group_id IN {rule_groups}")  # noqa: S608
    op.execute("DELETE FROM groups WHERE kind = 'rule'")
    with op.batch_alter_table("groups", schema=None) as batch_op:
        batch_op.drop_column("rule")
        batch_op.drop_constraint(op.f("ck_groups_group_kind"), type_="check")
        batch_op.create_check_constraint("group_kind", _kinds("sector", "affinity"))
