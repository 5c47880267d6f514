"""contacts.email_hmac without an index

No query looks a contact up by its address's HMAC (suppressions are matched from the
contact's side, through suppressions' own unique index), and the HMAC is random: each
chunk of an import wrote into every page of that index. Measured on a 100,000-row import
(SQLite): 10.1-10.5 s with it, 8.1-8.4 s without.

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-04 18:30:00
"""

from __future__ import annotations

from alembic import op

revision = "0015"
down_revision = "0014"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("contacts", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_contacts_email_hmac"))


def downgrade() -> None:
    with op.batch_alter_table("contacts", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_contacts_email_hmac"), ["email_hmac"], unique=False)
