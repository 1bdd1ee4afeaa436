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


def _recipient(url: str, phone: str, account_id: int, next_cost_at: datetime | None) -> None:
    from harness.sql import run_sql

    stamp = (lambda v: v) if url.startswith("postgresql") else (lambda v: v.replace(tzinfo=None) if v else v)
    at = datetime(2026, 12, 4, 0, 0, tzinfo=timezone.utc)
    run_sql(url, "INSERT INTO recipients (account_id, send_id, message_id, phone_e164, phone_raw, sent_day, final, expired, "
                 "poll_until, next_poll_at, poll_count, cost_checks, next_cost_at, first_seen_at) VALUES (:a, "
                 "(SELECT MIN(id) FROM sends), '1', :phone, :phone, '2026-12-04', TRUE, FALSE, :n, NULL, 1, 0, :cost, :n)",
            a=account_id, phone=phone, n=stamp(at), cost=stamp(next_cost_at))


def test_the_cost_backlog_counts_due_cost_reads_per_account_and_how_late_the_oldest_is(migrated_db_url) -> None:  # type: ignore[no-untyped-def]
    from datetime import timedelta

    from harness.sql import run_sql

    now = datetime(2026, 12, 4, 12, 0, tzinfo=timezone.utc)
    naive = migrated_db_url.startswith(("sqlite", "mariadb"))
    sent = now.replace(tzinfo=None) if naive else now
    run_sql(migrated_db_url, "INSERT INTO accounts (label, type, parent_id, first_seen_at) VALUES ('shop', 'simple', 1, :n)", n=sent)
    run_sql(migrated_db_url, "INSERT INTO sends (message_id, kind, sent_at, started_at, sent_day, source, created_at) "
                             "VALUES ('1', 'message', :n, :n, '2026-12-04', 'csv', :n)", n=sent)
    shop = run_sql(migrated_db_url, "SELECT id FROM accounts WHERE label = 'shop'")[0][0]
    _recipient(migrated_db_url, "+33600000001", 1, now - timedelta(hours=3))  # due 3 h ago: the oldest
    _recipient(migrated_db_url, "+33600000002", 1, now - timedelta(minutes=5))  # due
    _recipient(migrated_db_url, "+33600000003", 1, now + timedelta(hours=6))  # a retry ahead: not due yet
    _recipient(migrated_db_url, "+33600000004", 1, None)  # priced: nothing ahead
    _recipient(migrated_db_url, "+33600000005", shop, now + timedelta(minutes=1))
    engine = make_engine(migrated_db_url)
    metrics = Metrics()
    metrics.watch_database(engine, [], now=lambda: now)
    try:
        value = metrics.registry.get_sample_value
        assert value("smspartner_etl_cost_backlog", {"account": "main"}) == 2
        assert value("smspartner_etl_cost_backlog_age_seconds", {"account": "main"}) == 3 * 3600
        assert value("smspartner_etl_cost_backlog", {"account": "shop"}) == 0
        assert value("smspartner_etl_cost_backlog_age_seconds", {"account": "shop"}) == 0
    finally:
        engine.dispose()


def test_job_metrics_carry_the_configured_instance_or_host_and_pid() -> None:
    import os
    import socket

    named, unnamed = Metrics(instance="etl-2"), Metrics()
    for metrics in (named, unnamed):
        metrics.record_skip("statuses", "locked")
    assert named.registry.get_sample_value(
        "smspartner_etl_runs_skipped_total", {"job": "statuses", "reason": "locked", "account": "main", "instance": "etl-2"}) == 1
    assert unnamed.instance == f"{socket.gethostname()}:{os.getpid()}"
    assert f'instance="{unnamed.instance}"' in unnamed.exposition().decode()


def test_claimed_work_is_counted_per_account_and_instance_from_the_run_figures() -> None:
    from etl.accounts import PARENT
    from etl.outcome import Outcome, RunResult
    from etl.runner import RunReport

    metrics = Metrics(instance="etl-3")
    figures = {"claimed": 50, "polled": 48, "cost_claimed": 20, "cost_reads": 20, "claims_taken_over": 5}
    for _ in range(2):
        metrics.record_run(RunReport(job="statuses:claimed", account=PARENT, run_id=1, outcome=Outcome.SUCCESS, seconds=1.0,
                                     result=RunResult(outcome=Outcome.SUCCESS, figures=figures)))
    labels = {"account": "main", "instance": "etl-3"}
    sample = metrics.registry.get_sample_value
    assert sample("smspartner_etl_claimed_pairs_total", {**labels, "work": "poll"}) == 100
    assert sample("smspartner_etl_claimed_pairs_total", {**labels, "work": "cost"}) == 40
    assert sample("smspartner_etl_polled_pairs_total", labels) == 96
    assert sample("smspartner_etl_cost_reads_total", labels) == 40
    assert sample("smspartner_etl_claims_taken_over_total", labels) == 10
