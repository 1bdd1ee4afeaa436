"""Migration 0029: the foreign keys to ``stop_periods`` indexed (``push_inbox`` partial where it can be), a STOP
callback still pointing at its period, the model matched, and back."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from harness.sql import run_sql
from sqlalchemy import inspect

from etl.db.engine import make_engine
from etl.db.migrate import downgrade, upgrade
from etl.db.schema import Base

BEFORE = "0028"
TABLES = ("push_inbox", "breaches")


def _indexes_and_drift(url: str) -> tuple[dict[str, list[str]], list[object]]:
    engine = make_engine(url, pool=False)
    try:
        with engine.connect() as conn:
            found = {ix["name"]: list(ix["column_names"]) for t in TABLES for ix in inspect(conn).get_indexes(t)}
            drift = [d for d in compare_metadata(MigrationContext.configure(conn), Base.metadata)
                     if any(t in repr(d) for t in TABLES)]
            return found, drift
    finally:
        engine.dispose()


def test_migration_0029_indexes_the_stop_period_references_and_back(db_url: str) -> None:
    upgrade(db_url, BEFORE)
    run_sql(db_url, "INSERT INTO stop_periods (api_stop_id, phone_e164, phone_raw, first_seen_at, source) "
                    "VALUES (1, '+33611111111', '0611111111', '2026-12-07 10:00:00', 'reply')")
    run_sql(db_url, "INSERT INTO push_inbox (channel, kind, content_hash, received_at, body, state, attempts, stop_period_id) "
                    "VALUES ('stop', 'stop', 'h1', '2026-12-07 10:00:00', '{}', 'applied', 1, "
                    "(SELECT id FROM stop_periods))")
    pointing = "SELECT p.phone_e164 FROM push_inbox i JOIN stop_periods p ON p.id = i.stop_period_id"

    upgrade(db_url)
    indexes, drift = _indexes_and_drift(db_url)
    assert indexes.get("ix_push_inbox_stop_period_id") == ["stop_period_id"]
    assert indexes.get("ix_breaches_stop_period_id") == ["stop_period_id"]
    assert drift == []
    assert run_sql(db_url, pointing) == [("+33611111111",)]

    downgrade(db_url, BEFORE)
    indexes, _ = _indexes_and_drift(db_url)
    assert "ix_push_inbox_stop_period_id" not in indexes and "ix_breaches_stop_period_id" not in indexes
    assert run_sql(db_url, pointing) == [("+33611111111",)]
    upgrade(db_url)
