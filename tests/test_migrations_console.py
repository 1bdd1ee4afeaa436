"""Migration 0015 (console users and sessions): new tables beside the existing rows, matches the models, both ways."""

from __future__ import annotations

from datetime import datetime, timezone

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import inspect, text

from etl.db.engine import make_engine
from etl.db.migrate import downgrade, upgrade
from etl.db.schema import Base

NOW = datetime(2026, 12, 3, tzinfo=timezone.utc)
TABLES = {"console_users", "console_sessions"}


def test_migration_0015_adds_the_console_tables_and_keeps_every_row(db_url: str) -> None:
    upgrade(db_url, "0014")
    engine = make_engine(db_url, pool=False)
    try:
        with engine.begin() as conn:
            conn.execute(text("INSERT INTO sync_runs (job, started_at, outcome, rows_added, rows_changed, rows_removed) "
                              "VALUES ('stops', :n, 'success', 0, 0, 0)"), {"n": NOW})
        upgrade(db_url)
        with engine.begin() as conn:
            assert conn.execute(text("SELECT job, outcome FROM sync_runs")).all() == [("stops", "success")]
            assert TABLES <= set(inspect(conn).get_table_names())
            found = compare_metadata(MigrationContext.configure(conn), Base.metadata)
            assert [d for d in found if "console" in repr(d)] == []
            conn.execute(text("INSERT INTO console_users (name, role, password_hash, created_at, password_changed_at) "
                              "VALUES ('a', 'viewer', 'h', :n, :n)"), {"n": NOW})
            conn.execute(text("INSERT INTO console_sessions (id, user_id, csrf_token, created_at, last_seen_at, expires_at) "
                              "VALUES ('s', (SELECT id FROM console_users), 'c', :n, :n, :n)"), {"n": NOW})
        downgrade(db_url, "0014")
        with engine.connect() as conn:
            assert not TABLES & set(inspect(conn).get_table_names())
            assert conn.execute(text("SELECT COUNT(*) FROM sync_runs")).scalar() == 1
        upgrade(db_url)
    finally:
        engine.dispose()
