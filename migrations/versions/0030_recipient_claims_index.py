"""``ix_recipients_account_id_poll_claimed_by_next_poll_at`` and ``..._cost_claimed_by_next_cost_at``: the claimed rows, where a claim finds the lapsed
ones before the due queue.

Issue 20, "Split the statuses job": a claim moves the pair's due time to the end of its lease (migration 0027),
so the claims of an instance that died came due again at lease end behind every pair due before then; with a
backlog of 141,000 pairs its 2,000 claims were not asked again within 480 s (docs/benchmarks.md, "Scale-out"),
where issue 20 wants them done within one lease and one cycle. `etl.db.claims.claim` now takes the lapsed
claims first (``owner IS NOT NULL AND due <= now``), then fills the batch from the due queue. These indexes
serve that read: ``(account_id, poll_claimed_by, next_poll_at)``, where ``poll_claimed_by IS NOT NULL`` is a range
of the second column, the claimed rows only (a few batches, sorted by due time), whatever the backlog. Partial
(``WHERE poll_claimed_by IS NOT NULL``) on PostgreSQL and SQLite, so they hold nothing else; full on MariaDB, which
has no partial indexes. One shape everywhere, so the model (`etl.db.schema.statuses.Recipient`) names one index.
The same for cost reads (``cost_claimed_by``, ``next_cost_at``).

New indexes built from the rows: nothing to carry forward.

Revision ID: 0030
Revises: 0029
Create Date: 2026-12-08
"""

import sqlalchemy as sa
from alembic import op

revision = "0030"
down_revision = "0029"
branch_labels = None
depends_on = None

#: Owner column, due column.
CLAIMS = (("poll_claimed_by", "next_poll_at"), ("cost_claimed_by", "next_cost_at"))


def upgrade() -> None:
    for owner, due in CLAIMS:
        claimed = sa.text(f"{owner} IS NOT NULL")
        op.create_index(f"ix_recipients_account_id_{owner}_{due}", "recipients", ["account_id", owner, due],
                        postgresql_where=claimed, sqlite_where=claimed)


def downgrade() -> None:
    for owner, due in CLAIMS:
        op.drop_index(f"ix_recipients_account_id_{owner}_{due}", table_name="recipients")
