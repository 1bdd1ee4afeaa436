"""``filter_run_blocks``: one index on (``run_id``, ``number_hash``) instead of one on each column.

Issue 18, "Filter runs recorded": recording a run's blocked-number hashes cost 1.22-1.46x the run, and more as
runs accumulated. Each hash went into ``ix_filter_run_blocks_number_hash`` at a random place in an index of
every run's hashes, so a batch dirtied pages all over it (and the database's WAL or redo log with them).
Keyed by run first, a run's rows go into its own region of the index, behind the earlier runs', and each
batch is inserted sorted (`etl.compliance.filter_runs`): the cost no longer grows with history. The index
still serves what the two did: a failed run's rows deleted by ``run_id`` (and the foreign key, which MariaDB
needs an index for), and `evidence` finding a number's hash, now by one probe per run of the join from
``filter_runs`` (docs/benchmarks.md, "Filter runs recorded").

An index rebuilt from the rows, nothing to carry forward. The composite one is created before the
``run_id`` one is dropped: MariaDB refuses to drop the index its foreign key uses while no other serves it.

Revision ID: 0026
Revises: 0025
Create Date: 2026-12-07
"""

from alembic import op

revision = "0026"
down_revision = "0025"
branch_labels = None
depends_on = None

TABLE = "filter_run_blocks"


def upgrade() -> None:
    op.create_index("ix_filter_run_blocks_run_id_number_hash", TABLE, ["run_id", "number_hash"])
    op.drop_index("ix_filter_run_blocks_number_hash", table_name=TABLE)
    op.drop_index("ix_filter_run_blocks_run_id", table_name=TABLE)


def downgrade() -> None:
    op.create_index("ix_filter_run_blocks_run_id", TABLE, ["run_id"])
    op.create_index("ix_filter_run_blocks_number_hash", TABLE, ["number_hash"])
    op.drop_index("ix_filter_run_blocks_run_id_number_hash", table_name=TABLE)
