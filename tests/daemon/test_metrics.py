"""Figures read from the database at scrape time, tolerant of a schema that lacks a table."""

from __future__ import annotations

from datetime import datetime, timezone

from sqlalchemy import bindparam, text

from etl.db.engine import make_engine
from etl.db.types import UtcDateTime
from etl.metrics import Metrics


def test_database_gauges_are_exported_from_count_queries(migrated_db_url) -> None:  # type: ignore[no-untyped-def]
    engine = make_engine(migrated_db_url)
    metrics = Metrics()
    metrics.watch_database(engine, ["stops", "statuses"])
    try:
        value = metrics.registry.get_sample_value
        assert value("smspartner_etl_database_up") == 1
        assert value("smspartner_etl_stop_list_size") == 0
        assert value("smspartner_etl_pending_messages") == 0
        assert value("smspartner_etl_last_success_timestamp_seconds", {"job": "stops", "account": "main"}) is None
    finally:
        engine.dispose()


def test_last_success_is_exported_per_account(migrated_db_url) -> None:  # type: ignore[no-untyped-def]
    engine = make_engine(migrated_db_url)
    metrics = Metrics()
    metrics.watch_database(engine, ["stops"])
    at = datetime(2026, 12, 3, 9, 0, tzinfo=timezone.utc)
    runs = "INSERT INTO sync_runs (job, started_at, finished_at, outcome, rows_added, rows_changed, rows_removed, account_id)"
    try:
        with engine.begin() as conn:
            conn.execute(text("INSERT INTO accounts (label, type, parent_id, first_seen_at) VALUES ('shop', 'simple', 1, :n)")
                         .bindparams(bindparam("n", at, type_=UtcDateTime())))
            shop = conn.execute(text("SELECT id FROM accounts WHERE label = 'shop'")).scalar_one()
            conn.execute(text(f"{runs} VALUES ('stops', :n, :n, 'success', 0, 0, 0, 1)").bindparams(bindparam("n", at, type_=UtcDateTime())))
            conn.execute(text(f"{runs} VALUES ('stops', :n, :n, 'failed', 0, 0, 0, :a)").bindparams(bindparam("n", at, type_=UtcDateTime())),
                         {"a": shop})
        value = metrics.registry.get_sample_value
        assert value("smspartner_etl_last_success_timestamp_seconds", {"job": "stops", "account": "main"}) == at.timestamp()
        assert value("smspartner_etl_last_success_timestamp_seconds", {"job": "stops", "account": "shop"}) is None
    finally:
        engine.dispose()


def test_missing_tables_leave_their_gauge_out_and_a_dead_database_reads_as_down(tmp_path) -> None:  # type: ignore[no-untyped-def]
    engine = make_engine(f"sqlite:///{tmp_path / 'empty.db'}")
    metrics = Metrics()
    metrics.watch_database(engine, ["stops"])
    with engine.begin() as conn:
        conn.execute(text("CREATE TABLE stop_periods (id INTEGER, removed_at TEXT)"))
    value = metrics.registry.get_sample_value
    assert value("smspartner_etl_database_up") == 0  # no sync_runs: the run log is unreadable
    engine.dispose()
