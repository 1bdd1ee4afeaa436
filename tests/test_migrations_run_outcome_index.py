"""Migration 0028 (``sync_runs`` indexed by account, job, outcome and start): ``job_health`` answers as before, the
index has the model's columns in order, and the downgrade drops it."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from typing import Any

from harness.sql import indexes_and_drift, run_sql

from etl.db.migrate import downgrade, upgrade

BEFORE = "0027"
NOW = datetime(2026, 12, 7, 9, 0, tzinfo=timezone.utc)
NAME = "ix_sync_runs_account_id_job_outcome_started_at"


def _seed(url: str) -> None:
    """Two jobs of the parent: successes, a partial run, failures, one still running, a minute apart."""
    for i, (job, outcome) in enumerate((("stops", "success"), ("stops", "failed"), ("stops", "partial"), ("stops", "failed"),
                                        ("statuses", "failed"), ("statuses", "success"), ("statuses", "running"))):
        at = NOW + timedelta(minutes=i)
        at = at if url.startswith("postgresql") else at.replace(tzinfo=None)
        run_sql(url, "INSERT INTO sync_runs (job, started_at, finished_at, outcome, rows_added, rows_changed, rows_removed, "
                     "account_id) VALUES (:j, :a, :a, :o, 0, 0, 0, 1)", j=job, a=at, o=outcome)


def _health(url: str) -> list[tuple[Any, ...]]:
    return [tuple(str(v) if isinstance(v, datetime) else v for v in row) for row in run_sql(
        url, "SELECT job, last_success_at, last_run_at, failed_runs, total_runs FROM job_health ORDER BY job")]


def test_migration_0028_indexes_runs_by_outcome_and_job_health_answers_as_before(db_url: str) -> None:
    upgrade(db_url, BEFORE)
    _seed(db_url)
    before = _health(db_url)
    assert [(job, failed, total) for job, _ok, _last, failed, total in before] == [("statuses", 1, 3), ("stops", 2, 4)]

    upgrade(db_url)
    assert _health(db_url) == before
    indexes, drift = indexes_and_drift(db_url, "sync_runs")
    assert (indexes.get(NAME), drift) == (["account_id", "job", "outcome", "started_at"], [])

    downgrade(db_url, BEFORE)
    assert NAME not in indexes_and_drift(db_url, "sync_runs")[0]
    assert _health(db_url) == before
