"""group visibility

Groups are public (offered to subscribers on the sign-up and preferences pages) or
private (admins only). Existing groups stay private, except the sector groups that were
already listed on the sign-up form: they stay offered there.

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-04 01:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("groups", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("is_public", sa.Boolean(), nullable=False, server_default=sa.false())
        )
    groups = sa.table(
        "groups", sa.column("kind", sa.String()), sa.column("is_public", sa.Boolean())
    )
    op.execute(groups.update().where(groups.c.kind == "sector").values(is_public=True))


def downgrade() -> None:
    with op.batch_alter_table("groups", schema=None) as batch_op:
        batch_op.drop_column("is_public")
