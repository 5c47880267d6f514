"""contact confirmation sent at

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-25 18:09:05.248546
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import outreach.db

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("contacts", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("confirmation_sent_at", outreach.db.UTCDateTime(timezone=True), nullable=True)
        )


def downgrade() -> None:
    with op.batch_alter_table("contacts", schema=None) as batch_op:
        batch_op.drop_column("confirmation_sent_at")
