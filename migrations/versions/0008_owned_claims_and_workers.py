"""owned claims and workers

Claims of deliveries and outbox emails carry their worker and a token; the workers table
lets a dead worker's claims be released without waiting for their lease.

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-02 01:05:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import outreach.db

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "workers",
        sa.Column("id", sa.String(length=100), nullable=False),
        sa.Column("host", sa.String(length=255), nullable=False),
        sa.Column("pid", sa.Integer(), nullable=False),
        sa.Column("origin", sa.String(length=100), nullable=False),
        sa.Column("started_at", outreach.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("beat_at", outreach.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("expires_at", outreach.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("stopped_at", outreach.db.UTCDateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_workers")),
    )
    with op.batch_alter_table("workers", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_workers_expires_at"), ["expires_at"], unique=False)
    with op.batch_alter_table("deliveries", schema=None) as batch_op:
        batch_op.add_column(sa.Column("claimed_by", sa.String(length=100), nullable=True))
        batch_op.add_column(sa.Column("claim_token", sa.String(length=32), nullable=True))
        batch_op.add_column(
            sa.Column(
                "suspected_duplicate", sa.Boolean(), nullable=False, server_default=sa.false()
            )
        )
    with op.batch_alter_table("outbox", schema=None) as batch_op:
        batch_op.add_column(sa.Column("claimed_by", sa.String(length=100), nullable=True))
        batch_op.add_column(sa.Column("claim_token", sa.String(length=32), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("outbox", schema=None) as batch_op:
        batch_op.drop_column("claim_token")
        batch_op.drop_column("claimed_by")
    with op.batch_alter_table("deliveries", schema=None) as batch_op:
        batch_op.drop_column("suspected_duplicate")
        batch_op.drop_column("claim_token")
        batch_op.drop_column("claimed_by")
    with op.batch_alter_table("workers", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_workers_expires_at"))
    op.drop_table("workers")
