"""machine clickers

The engagement tallies count the recipients with a machine click (a link scanner) beside
those with a machine open, so every surface shows both; existing campaigns are counted
from their deliveries.

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-02 07:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("engagement_tallies", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("machine_clickers", sa.Integer(), nullable=False, server_default="0")
        )
    # The same figure outreach.reporting.tallies.recount computes (machine_clicked).
    op.execute(
        "UPDATE engagement_tallies SET machine_clickers = ("
        "SELECT COUNT(*) FROM deliveries "
        "WHERE deliveries.campaign_id = engagement_tallies.campaign_id "
        "AND deliveries.group_name = engagement_tallies.group_name "
        "AND COALESCE(deliveries.variant_id, 0) = engagement_tallies.variant_id "
        "AND deliveries.machine_clicks > 0)"
    )


def downgrade() -> None:
    with op.batch_alter_table("engagement_tallies", schema=None) as batch_op:
        batch_op.drop_column("machine_clickers")
