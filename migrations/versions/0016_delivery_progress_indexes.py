"""indexes for a campaign's live progress

- ix_deliveries_campaign_sent_at (campaign_id, sent_at): the recent send rate reads the
  last seconds of a campaign's sent_at, not every sent row;
- ix_deliveries_suspected (campaign_id) WHERE suspected_duplicate: the few suspected
  duplicates, without reading the campaign's other rows.

The status counts themselves come from delivery_tallies.

Revision ID: 0016
Revises: 0015
Create Date: 2026-12-04 18:45:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0016"
down_revision = "0015"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("ix_deliveries_campaign_sent_at", "deliveries", ["campaign_id", "sent_at"])
    op.create_index(
        "ix_deliveries_suspected",
        "deliveries",
        ["campaign_id"],
        postgresql_where=sa.text("suspected_duplicate"),
        sqlite_where=sa.text("suspected_duplicate = 1"),
    )


def downgrade() -> None:
    op.drop_index("ix_deliveries_suspected", table_name="deliveries")
    op.drop_index("ix_deliveries_campaign_sent_at", table_name="deliveries")
