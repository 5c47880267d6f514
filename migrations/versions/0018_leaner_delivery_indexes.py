"""a leaner delivery ledger: only the indexes and checks that its queries need

Each of them is written by every row an audience freeze inserts (a million for a million
contacts) and again by every claim and outcome, which change the status and so are never
HOT updates:

- ix_deliveries_campaign_group is dropped: no query reads deliveries by group id;
- ix_deliveries_contact_id is dropped, and the unique (campaign_id, contact_id) becomes
  (contact_id, campaign_id), which serves a contact's deliveries as well;
- ix_deliveries_campaign_sent_at holds the sent rows only (partial);
- the foreign keys of variant_id and group_id are dropped: their per-row checks took a
  fifth of the freeze, and nothing deletes a variant or a group that deliveries name.

Revision ID: 0018
Revises: 0017
Create Date: 2026-12-06 23:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0018"
down_revision = "0017"
branch_labels = None
depends_on = None

_SENT = sa.text("sent_at IS NOT NULL")


def upgrade() -> None:
    op.drop_index("ix_deliveries_campaign_sent_at", table_name="deliveries")
    with op.batch_alter_table("deliveries", schema=None) as batch_op:
        batch_op.drop_constraint("fk_deliveries_variant_id_variants", type_="foreignkey")
        batch_op.drop_constraint("fk_deliveries_group_id_groups", type_="foreignkey")
        batch_op.drop_constraint("uq_deliveries_campaign_id_contact_id", type_="unique")
        batch_op.create_unique_constraint(
            "uq_deliveries_contact_id_campaign_id", ["contact_id", "campaign_id"]
        )
        batch_op.drop_index("ix_deliveries_contact_id")
        batch_op.drop_index("ix_deliveries_campaign_group")
    op.create_index(
        "ix_deliveries_campaign_sent_at",
        "deliveries",
        ["campaign_id", "sent_at"],
        postgresql_where=_SENT,
        sqlite_where=_SENT,
    )


def downgrade() -> None:
    op.drop_index("ix_deliveries_campaign_sent_at", table_name="deliveries")
    with op.batch_alter_table("deliveries", schema=None) as batch_op:
        batch_op.create_index("ix_deliveries_campaign_group", ["campaign_id", "group_id"])
        batch_op.create_index("ix_deliveries_contact_id", ["contact_id"])
        batch_op.drop_constraint("uq_deliveries_contact_id_campaign_id", type_="unique")
        batch_op.create_unique_constraint(
            "uq_deliveries_campaign_id_contact_id", ["campaign_id", "contact_id"]
        )
        batch_op.create_foreign_key(
            "fk_deliveries_group_id_groups", "groups", ["group_id"], ["id"], ondelete="SET NULL"
        )
        batch_op.create_foreign_key(
            "fk_deliveries_variant_id_variants",
            "variants",
            ["variant_id"],
            ["id"],
            ondelete="SET NULL",
        )
    op.create_index("ix_deliveries_campaign_sent_at", "deliveries", ["campaign_id", "sent_at"])
