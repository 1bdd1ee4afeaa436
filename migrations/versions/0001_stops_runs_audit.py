"""Stop-list history, run log, write audit and SQLite job leases.

Revision ID: 0001
Revises:
Create Date: 2026-11-23
"""

import sqlalchemy as sa
from alembic import op

from etl.db.types import Id, Phone, UtcDateTime

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

CURRENT_STOPS = """
CREATE VIEW current_stops AS
SELECT p.id AS stop_period_id,
       p.api_stop_id,
       p.phone_e164,
       p.phone_raw,
       p.api_created_at,
       p.first_seen_at,
       COALESCE(p.last_seen_at,
                (SELECT MAX(r.started_at) FROM sync_runs r
                  WHERE r.job = 'stops' AND r.outcome = 'success'),
                p.first_seen_at) AS last_seen_at,
       p.source
  FROM stop_periods p
 WHERE p.removed_at IS NULL
"""

STOP_REMOVALS = """
CREATE VIEW stop_removals AS
SELECT p.id AS stop_period_id,
       p.api_stop_id,
       p.phone_e164,
       p.phone_raw,
       p.first_seen_at,
       p.last_seen_at,
       p.removed_at,
       p.removed_how,
       a.id AS write_action_id,
       a.actor,
       a.reason
  FROM stop_periods p
  LEFT JOIN write_actions a ON a.id = p.removed_by_action_id
 WHERE p.removed_at IS NOT NULL
"""

JOB_HEALTH = """
CREATE VIEW job_health AS
SELECT j.job,
       (SELECT MAX(r.started_at) FROM sync_runs r WHERE r.job = j.job AND r.outcome = 'success') AS last_success_at,
       (SELECT MAX(r.started_at) FROM sync_runs r WHERE r.job = j.job) AS last_run_at,
       (SELECT COUNT(*) FROM sync_runs r WHERE r.job = j.job AND r.outcome = 'failed') AS failed_runs,
       (SELECT COUNT(*) FROM sync_runs r WHERE r.job = j.job) AS total_runs
  FROM (SELECT DISTINCT job FROM sync_runs) j
"""


def upgrade() -> None:
    op.create_table(
        "sync_runs",
        sa.Column("id", Id, primary_key=True, autoincrement=True),
        sa.Column("job", sa.String(32), nullable=False),
        sa.Column("started_at", UtcDateTime(), nullable=False),
        sa.Column("finished_at", UtcDateTime(), nullable=True),
        sa.Column("outcome", sa.String(16), nullable=False),
        sa.Column("rows_added", sa.Integer(), nullable=False),
        sa.Column("rows_changed", sa.Integer(), nullable=False),
        sa.Column("rows_removed", sa.Integer(), nullable=False),
        sa.Column("detail", sa.Text(), nullable=True),
        sa.Column("host", sa.String(255), nullable=True),
        sa.Column("pid", sa.Integer(), nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_sync_runs"),
    )
    op.create_index("ix_sync_runs_job_started_at", "sync_runs", ["job", "started_at"])

    op.create_table(
        "write_actions",
        sa.Column("id", Id, primary_key=True, autoincrement=True),
        sa.Column("action", sa.String(32), nullable=False),
        sa.Column("target", sa.String(64), nullable=False),
        sa.Column("actor", sa.String(128), nullable=False),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.Column("requested_at", UtcDateTime(), nullable=False),
        sa.Column("completed_at", UtcDateTime(), nullable=True),
        sa.Column("outcome", sa.String(24), nullable=False),
        sa.Column("api_code", sa.Integer(), nullable=True),
        sa.Column("api_message", sa.Text(), nullable=True),
        sa.Column("api_stop_id", Id, nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_write_actions"),
    )
    op.create_index("ix_write_actions_action_requested_at", "write_actions", ["action", "requested_at"])
    op.create_index("ix_write_actions_outcome", "write_actions", ["outcome"])

    op.create_table(
        "stop_periods",
        sa.Column("id", Id, primary_key=True, autoincrement=True),
        sa.Column("api_stop_id", Id, nullable=True),
        sa.Column("phone_e164", Phone, nullable=True),
        sa.Column("phone_raw", sa.String(64), nullable=False),
        sa.Column("api_created_at", UtcDateTime(), nullable=True),
        sa.Column("first_seen_at", UtcDateTime(), nullable=False),
        sa.Column("last_seen_at", UtcDateTime(), nullable=True),
        sa.Column("removed_at", UtcDateTime(), nullable=True),
        sa.Column("removed_how", sa.String(16), nullable=True),
        sa.Column("removed_by_action_id", Id, nullable=True),
        sa.Column("source", sa.String(16), nullable=False),
        sa.Column("opened_by_run_id", Id, nullable=True),
        sa.Column("closed_by_run_id", Id, nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_stop_periods"),
        sa.ForeignKeyConstraint(
            ["removed_by_action_id"], ["write_actions.id"], name="fk_stop_periods_removed_by_action_id_write_actions"
        ),
        sa.ForeignKeyConstraint(["opened_by_run_id"], ["sync_runs.id"], name="fk_stop_periods_opened_by_run_id_sync_runs"),
        sa.ForeignKeyConstraint(["closed_by_run_id"], ["sync_runs.id"], name="fk_stop_periods_closed_by_run_id_sync_runs"),
    )
    op.create_index("ix_stop_periods_api_stop_id_removed_at", "stop_periods", ["api_stop_id", "removed_at"])
    op.create_index("ix_stop_periods_phone_e164_removed_at", "stop_periods", ["phone_e164", "removed_at"])
    if op.get_context().dialect.name in ("postgresql", "sqlite"):
        # At most one open period per API stop id. MariaDB has no partial indexes; there the
        # job lock and the set-based diff keep the same promise (docs/schema.md).
        op.create_index(
            "uq_stop_periods_open_api_stop_id",
            "stop_periods",
            ["api_stop_id"],
            unique=True,
            postgresql_where=sa.text("removed_at IS NULL"),
            sqlite_where=sa.text("removed_at IS NULL"),
        )

    op.create_table(
        "job_leases",
        sa.Column("job", sa.String(64), nullable=False),
        sa.Column("owner", sa.String(128), nullable=False),
        sa.Column("acquired_at", UtcDateTime(), nullable=False),
        sa.Column("expires_at", UtcDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("job", name="pk_job_leases"),
    )
    op.execute(CURRENT_STOPS)
    op.execute(STOP_REMOVALS)
    op.execute(JOB_HEALTH)


def downgrade() -> None:
    for view in ("job_health", "stop_removals", "current_stops"):
        op.execute(f"DROP VIEW IF EXISTS {view}")
    op.drop_table("job_leases")
    op.drop_table("stop_periods")
    op.drop_table("write_actions")
    op.drop_table("sync_runs")
