"""per-link clicks

link_clicks: each delivery's human and machine clicks on each link, with the delivery's
group and variant, written with the hits and kept when retention removes them (the
per-link statistics and the rule condition "clicked a given link" read it). Filled from
the click hits still kept, so campaigns sent before this revision show what remains of
their per-link figures.

Revision ID: 0020
Revises: 0019
Create Date: 2026-12-08 09:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import outreach.db

revision = "0020"
down_revision = "0019"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "link_clicks",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("campaign_id", sa.Integer(), nullable=False),
        sa.Column("delivery_id", sa.Integer(), nullable=False),
        sa.Column("group_name", sa.String(length=200), nullable=False),
        sa.Column("variant_id", sa.Integer(), nullable=False),
        sa.Column("url", sa.String(length=2000), nullable=False),
        sa.Column("human_clicks", sa.Integer(), nullable=False),
        sa.Column("machine_clicks", sa.Integer(), nullable=False),
        sa.Column("first_human_at", outreach.db.UTCDateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["campaign_id"],
            ["campaigns.id"],
            name=op.f("fk_link_clicks_campaign_id_campaigns"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["delivery_id"],
            ["deliveries.id"],
            name=op.f("fk_link_clicks_delivery_id_deliveries"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_link_clicks")),
        sa.UniqueConstraint("delivery_id", "url", name=op.f("uq_link_clicks_delivery_id_url")),
    )
    with op.batch_alter_table("link_clicks", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_link_clicks_campaign_id"), ["campaign_id"], unique=False
        )
    _backfill()


def downgrade() -> None:
    with op.batch_alter_table("link_clicks", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_link_clicks_campaign_id"))
    op.drop_table("link_clicks")


def _backfill() -> None:
    """What outreach.tracking.service.record_hits writes, from the click hits still kept
    (an erased contact's hits have lost their URL: they count in no link)."""
    human = "CASE WHEN NOT h.machine THEN 1 ELSE 0 END"
    op.execute(
        "INSERT INTO link_clicks (campaign_id, delivery_id, group_name, variant_id, url, "
        "human_clicks, machine_clicks, first_human_at) "
        "SELECT h.campaign_id, h.delivery_id, d.group_name, COALESCE(d.variant_id, 0), h.url, "
        f"SUM({human}), SUM(1 - {human}), MIN(CASE WHEN NOT h.machine THEN h.occurred_at END) "
        "FROM tracking_hits AS h JOIN deliveries AS d ON d.id = h.delivery_id "
        "WHERE h.kind = 'click' AND h.url IS NOT NULL "
        "GROUP BY h.campaign_id, h.delivery_id, d.group_name, COALESCE(d.variant_id, 0), h.url"
    )
