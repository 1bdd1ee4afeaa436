"""Migration 0019 (the shared API budget's slots): a new table beside the existing rows, matches the model, both ways."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from harness.sql import run_sql
from sqlalchemy import inspect

from etl.db.engine import make_engine
from etl.db.migrate import downgrade, upgrade
from etl.db.schema import Base


def _tables_and_drift(url: str) -> tuple[set[str], list[object]]:
    engine = make_engine(url, pool=False)
    try:
        with engine.connect() as conn:
            drift = [d for d in compare_metadata(MigrationContext.configure(conn), Base.metadata) if "api_budget" in repr(d)]
            return set(inspect(conn).get_table_names()), drift
    finally:
        engine.dispose()


def test_migration_0019_adds_the_budget_slots_and_keeps_every_row(db_url: str) -> None:
    upgrade(db_url, "0018")
    run_sql(db_url, "INSERT INTO sync_runs (job, started_at, outcome, rows_added, rows_changed, rows_removed) "
                    "VALUES ('stops', '2026-12-03 18:00:00', 'success', 0, 0, 0)")
    upgrade(db_url, "0019")
    tables, drift = _tables_and_drift(db_url)
    assert "api_budget_slots" in tables and drift == []
    assert run_sql(db_url, "SELECT job, outcome FROM sync_runs") == [("stops", "success")]
    run_sql(db_url, "INSERT INTO api_budget_slots (account_id, endpoint_class, slot, free_at) "
                    "VALUES (1, '*', 0, '2026-12-03 18:00:00.123456')")
    assert run_sql(db_url, "SELECT endpoint_class, slot FROM api_budget_slots") == [("*", 0)]

    downgrade(db_url, "0018")
    assert "api_budget_slots" not in _tables_and_drift(db_url)[0]
    assert run_sql(db_url, "SELECT COUNT(*) FROM sync_runs") == [(1,)]
    upgrade(db_url)
