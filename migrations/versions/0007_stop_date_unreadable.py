"""Stop list: ``stop_periods.created_at_unreadable`` flags a stop whose ``createdAt`` could not be read.

Fail-closed (issue 16): a stop-list entry with a readable id and number but an unreadable date is
still a stop. It is stored with ``api_created_at`` NULL and this flag set (the entry also goes to
``rejected_items``), so "no date from the API" and "a date we could not read" stay apart
(docs/schema.md, ``stop_periods``). A server default: existing rows and every insert that does not
name the column read false, with nothing to backfill.

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-03
"""

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column(
        "stop_periods",
        sa.Column("created_at_unreadable", sa.Boolean(), server_default=sa.false(), nullable=False),
    )


def downgrade() -> None:
    # A plain DROP COLUMN (SQLite >= 3.35 too): a batch copy of the table would break the views on it.
    op.drop_column("stop_periods", "created_at_unreadable")
