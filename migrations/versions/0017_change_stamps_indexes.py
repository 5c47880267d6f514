"""indexes for the look of a batch in flight at what changed since its claim

- ix_contacts_updated_at: the contacts of a batch changed since its claim (a status, a
  consent event, which touches the contact's row);
- ix_suppressions_created_at: the addresses suppressed since (a bounce, an erasure).

Revision ID: 0017
Revises: 0016
Create Date: 2026-12-06 22:40:00
"""

from __future__ import annotations

from alembic import op

revision = "0017"
down_revision = "0016"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("ix_contacts_updated_at", "contacts", ["updated_at"])
    op.create_index("ix_suppressions_created_at", "suppressions", ["created_at"])


def downgrade() -> None:
    op.drop_index("ix_suppressions_created_at", table_name="suppressions")
    op.drop_index("ix_contacts_updated_at", table_name="contacts")
