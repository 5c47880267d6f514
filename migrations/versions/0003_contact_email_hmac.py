"""contact email hmac

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-25 18:49:03.330535
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import context, op

from outreach.contacts.identity import email_hmac

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("contacts", schema=None) as batch_op:
        batch_op.add_column(sa.Column("email_hmac", sa.String(length=64), nullable=True))
        batch_op.create_index(batch_op.f("ix_contacts_email_hmac"), ["email_hmac"], unique=False)
    _backfill()


def _backfill() -> None:
    """Stamp existing contacts (needs the secret key: `outreach db upgrade` passes it)."""
    secret = context.config.attributes.get("secret_key")
    contacts = sa.table(
        "contacts", sa.column("id"), sa.column("email_key"), sa.column("email_hmac")
    )
    bind = op.get_bind()
    rows = bind.execute(sa.select(contacts.c.id, contacts.c.email_key)).all()
    if rows and not secret:
        raise RuntimeError("contacts exist: run this migration with `outreach db upgrade`")
    for contact_id, key in rows:
        bind.execute(
            contacts.update()
            .where(contacts.c.id == contact_id)
            .values(email_hmac=email_hmac(secret, key))
        )


def downgrade() -> None:
    with op.batch_alter_table("contacts", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_contacts_email_hmac"))
        batch_op.drop_column("email_hmac")
