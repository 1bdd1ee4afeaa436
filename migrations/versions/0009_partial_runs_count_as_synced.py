"""A ``partial`` run counts as a sync: ``current_stops.last_seen_at`` and ``job_health.last_success_at``.

A partial run applied every item it could read and quarantined the rest, reading those fail-closed (a stop
with an unreadable date is still a stop), so the data is as current as a successful run's. The views counted
only ``success``: one poison item made the stop list look stale forever (issue 16).

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-03
"""

from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None

SYNCED = "('success', 'partial')"


def _current_stops(synced: str) -> str:
    return f"""
SELECT p.id AS stop_period_id,
       p.api_stop_id,
       p.phone_e164,
       p.phone_raw,
       p.api_created_at,
       p.first_seen_at,
       COALESCE(p.last_seen_at,
                (SELECT MAX(r.started_at) FROM sync_runs r
                  WHERE r.job = 'stops' AND r.outcome IN {synced}),
                p.first_seen_at) AS last_seen_at,
       p.source
  FROM stop_periods p
 WHERE p.removed_at IS NULL
"""


def _job_health(synced: str) -> str:
    return f"""
SELECT j.job,
       (SELECT MAX(r.started_at) FROM sync_runs r WHERE r.job = j.job AND r.outcome IN {synced}) AS last_success_at,
       (SELECT MAX(r.started_at) FROM sync_runs r WHERE r.job = j.job) AS last_run_at,
       (SELECT COUNT(*) FROM sync_runs r WHERE r.job = j.job AND r.outcome = 'failed') AS failed_runs,
       (SELECT COUNT(*) FROM sync_runs r WHERE r.job = j.job) AS total_runs
  FROM (SELECT DISTINCT job FROM sync_runs) j
"""


def _replace(name: str, body: str) -> None:
    # Same columns, so PostgreSQL and MariaDB replace in place (views built on current_stops stay);
    # SQLite has no CREATE OR REPLACE, and does not check dependants when a view is dropped.
    if op.get_bind().dialect.name == "sqlite":
        op.execute(f"DROP VIEW IF EXISTS {name}")
        op.execute(f"CREATE VIEW {name} AS {body}")
    else:
        op.execute(f"CREATE OR REPLACE VIEW {name} AS {body}")


def upgrade() -> None:
    _replace("current_stops", _current_stops(SYNCED))
    _replace("job_health", _job_health(SYNCED))


def downgrade() -> None:
    _replace("current_stops", _current_stops("('success')"))
    _replace("job_health", _job_health("('success')"))
