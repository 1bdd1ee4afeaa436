"""``write_actions.amount`` and ``balance_before``: what a credit move asked, and the balance it started from.

Issue 17: credit moves and sub-account creation are audited writes. A credit move whose answer never came
is settled by reading the sub-account's balance back and comparing it with the balance recorded just before
the call (docs/rentals-and-actions.md, "Sub-account writes"), so both figures live on the audit row. Both
columns are nullable: the older writes have neither.

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-03
"""

import sqlalchemy as sa
from alembic import op

from etl.db.types import Money

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None

COLUMNS = ("amount", "balance_before")


def upgrade() -> None:
    for name in COLUMNS:
        op.add_column("write_actions", sa.Column(name, Money, nullable=True))


def downgrade() -> None:
    # A plain DROP COLUMN on every backend (SQLite >= 3.35): a batch rebuild would rename the table under
    # the stop_removals view, which SQLite refuses.
    for name in reversed(COLUMNS):
        op.execute(f"ALTER TABLE write_actions DROP COLUMN {name}")
