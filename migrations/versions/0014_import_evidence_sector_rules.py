"""imported consent evidence, sectors set by rule, import history

- consent_events.basis: how an event is known — NULL for what Outreach recorded itself,
  "declared" for an importer's statement (a file with no evidence imported as
  subscribed), "imported" for another tool's record of the opt-in (Mailchimp's
  OPTIN_TIME/CONFIRM_TIME…), kept with its own times and IPs;
- contacts.sector_source: "rule" when the contact's sector was derived from its job
  title or company by a sector rule (rules never overwrite a sector set by hand);
- import_runs: each import (file, who, when, source, how it was read, counts, the
  rejected rows) for the Import page and the API.

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-02 19:10:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import outreach.db

revision = "0014"
down_revision = "0013"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("consent_events", schema=None) as batch_op:
        batch_op.add_column(sa.Column("basis", sa.String(20), nullable=True))
    with op.batch_alter_table("contacts", schema=None) as batch_op:
        batch_op.add_column(sa.Column("sector_source", sa.String(20), nullable=True))
    op.create_table(
        "import_runs",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("file_name", sa.String(300), nullable=False),
        sa.Column("source", sa.String(500), nullable=False),
        sa.Column("actor", sa.String(320), nullable=False),
        sa.Column("surface", sa.String(20), nullable=False),
        sa.Column("status", sa.String(20), nullable=False),
        sa.Column("preset", sa.String(60), nullable=False, server_default=""),
        sa.Column("layout", sa.String(300), nullable=False, server_default=""),
        sa.Column("summary", sa.JSON(), nullable=False),
        sa.Column("rejected", sa.JSON(), nullable=False),
        sa.Column("created_at", outreach.db.UTCDateTime(timezone=True), nullable=False),
    )
    op.create_index("ix_import_runs_created_at", "import_runs", ["created_at"])


def downgrade() -> None:
    op.drop_index("ix_import_runs_created_at", table_name="import_runs")
    op.drop_table("import_runs")
    with op.batch_alter_table("contacts", schema=None) as batch_op:
        batch_op.drop_column("sector_source")
    with op.batch_alter_table("consent_events", schema=None) as batch_op:
        batch_op.drop_column("basis")
