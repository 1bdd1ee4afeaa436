"""``recipients.poll_claimed_by`` and ``cost_claimed_by``: which instance holds a pair's status poll or cost read;
``sync_runs.owner``: which instance ran a run.

Issue 20, "Split the statuses job": status polling and cost reads are claimed work, shared by every instance
on PostgreSQL and MariaDB (`etl.db.claims`). A claim moves the pair's ``next_poll_at`` (or ``next_cost_at``)
to the end of its lease and writes the claimer here, in one short transaction; the write of the answer clears
it. Why columns on the recipient and not a claims table: the due query stays what it was (``next_poll_at <=
now`` on the partial indexes of 0023, no anti-join against live claims to scan past), a dead instance's claims
come due again by themselves when their lease ends, and the owner check of a write is one more condition on
the row it updates anyway.

``sync_runs.owner`` (``host:pid:random``, `etl.locking.default_owner`): runs of a split job's claimed work go on
beside the lock holder's, so the holder can no longer take every other ``running`` row for a dead one; it marks
abandoned only those whose owner's run lock it can take (`etl.runner`, docs/operations.md).

Carried forward: every existing recipient is unclaimed (NULL), which is what it is; older runs have no owner
(NULL: their ``host`` and ``pid`` say what is known). No other column changes. The nullable columns are added in
place (metadata only on PostgreSQL, instant on MariaDB, ``ADD COLUMN`` on
SQLite); the downgrade drops them.

Revision ID: 0027
Revises: 0026
Create Date: 2026-12-07
"""

import sqlalchemy as sa
from alembic import op

revision = "0027"
down_revision = "0026"
branch_labels = None
depends_on = None

COLUMNS = (("recipients", "poll_claimed_by"), ("recipients", "cost_claimed_by"), ("sync_runs", "owner"))


def upgrade() -> None:
    for table, name in COLUMNS:
        op.add_column(table, sa.Column(name, sa.String(128), nullable=True))


def downgrade() -> None:
    # A plain DROP COLUMN on every backend (SQLite >= 3.35), as 0013's: a batch rebuild would rename the
    # table under the views that read it.
    for table, name in reversed(COLUMNS):
        op.execute(f"ALTER TABLE {table} DROP COLUMN {name}")
