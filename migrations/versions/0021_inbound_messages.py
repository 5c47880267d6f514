"""inbound messages: every processed bounce, complaint, auto-reply and mailed unsubscribe

Revision ID: 0021
Revises: 0020
Create Date: 2026-12-08 01:30:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import outreach.db

revision = "0021"
down_revision = "0020"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "inbound_messages",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("digest", sa.String(length=64), nullable=False),
        sa.Column("message_id", sa.String(length=998), nullable=True),
        sa.Column("source", sa.String(length=50), nullable=False),
        sa.Column("received_at", outreach.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("sender", sa.String(length=320), nullable=False),
        sa.Column("subject", sa.String(length=300), nullable=False),
        sa.Column("kind", sa.String(length=20), nullable=False),
        sa.Column("status", sa.String(length=50), nullable=True),
        sa.Column("delivery_id", sa.Integer(), nullable=True),
        sa.Column("contact_id", sa.Integer(), nullable=True),
        sa.Column("decision", sa.String(length=500), nullable=False),
        sa.Column("raw", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_inbound_messages")),
        sa.UniqueConstraint("digest", name=op.f("uq_inbound_messages_digest")),
    )
    for column in ("message_id", "received_at", "kind", "contact_id"):
        op.create_index(
            op.f(f"ix_inbound_messages_{column}"), "inbound_messages", [column], unique=False
        )


def downgrade() -> None:
    op.drop_table("inbound_messages")
