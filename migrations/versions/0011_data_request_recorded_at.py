"""data request recorded_at

A request received by letter or email is recorded later than it was received: received_at
is its date of receipt (the legal month runs from it), recorded_at when it was entered
(an unverified request expires from then). Existing requests were recorded on receipt.

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-02 07:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import outreach.db

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("data_requests", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("recorded_at", outreach.db.UTCDateTime(timezone=True), nullable=True)
        )
    op.execute("UPDATE data_requests SET recorded_at = received_at")
    with op.batch_alter_table("data_requests", schema=None) as batch_op:
        batch_op.alter_column(
            "recorded_at",
            existing_type=outreach.db.UTCDateTime(timezone=True),
            nullable=False,
        )


def downgrade() -> None:
    with op.batch_alter_table("data_requests", schema=None) as batch_op:
        batch_op.drop_column("recorded_at")
