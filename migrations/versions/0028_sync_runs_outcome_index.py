"""``ix_sync_runs_account_id_job_outcome_started_at``: a job's runs by outcome, without reading the runs.

Issue 19, the console's overview (≤ 200 ms p95 with 100,000 runs): once its funnel read ``funnel_days`` (0025), its
slowest query was ``job_health``. Two of that view's four subqueries per job filter on ``outcome`` (the last
success; the failed runs), which ``ix_sync_runs_account_id_job_started_at`` does not hold, so each read the outcome
of every run of the job from the table: 100,000 row lookups a page. With ``outcome`` in an index both are ranges of
it, read from the index alone (docs/benchmarks.md, "Console funnel rollup"; ``current_stops``' last synced run is
the same kind of read). The index on (account, job, started_at) stays: the last run of a job is its last entry.

An index built from the rows, nothing to carry forward; the downgrade drops it.

Revision ID: 0028
Revises: 0027
Create Date: 2026-12-07
"""

from alembic import op

revision = "0028"
down_revision = "0027"
branch_labels = None
depends_on = None

NAME = "ix_sync_runs_account_id_job_outcome_started_at"


def upgrade() -> None:
    op.create_index(NAME, "sync_runs", ["account_id", "job", "outcome", "started_at"])


def downgrade() -> None:
    op.drop_index(NAME, table_name="sync_runs")
