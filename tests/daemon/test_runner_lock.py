"""The runner takes the job lock before the run row: a held lock is a counted skip, never a row or a failure."""

from __future__ import annotations

from click.testing import CliRunner
from harness import TEST_API_KEY
from sqlalchemy import func, select

from etl.cli import cli
from etl.db.engine import make_engine
from etl.db.schema import job_leases, sync_runs
from etl.locking import job_lock
from etl.metrics import Metrics
from etl.runner import run_job
from tests.jobs.helpers import make_client, make_config


def test_held_lock_skips_the_run_without_a_row_and_counts_it(migrated_db_url, simulator) -> None:  # type: ignore[no-untyped-def]
    engine = make_engine(migrated_db_url)
    other = make_engine(migrated_db_url)
    config = make_config(migrated_db_url, simulator.base_url)
    metrics = Metrics(instance="this-instance")
    try:
        with job_lock(other, "stops", owner="other-instance"):
            report = run_job("stops", config=config, client=make_client(simulator.base_url), engine=engine, metrics=metrics)
        assert report.outcome == "skipped" and report.run_id is None and report.error == "locked"
        skipped = {"job": "stops", "reason": "locked", "account": "main", "instance": "this-instance"}
        assert metrics.registry.get_sample_value("smspartner_etl_runs_skipped_total", skipped) == 1
        with engine.connect() as conn:
            assert conn.execute(select(func.count()).select_from(sync_runs)).scalar() == 0

        report = run_job("stops", config=config, client=make_client(simulator.base_url), engine=engine, metrics=metrics)
        assert report.outcome == "success"
        succeeded = {"job": "stops", "outcome": "success", "account": "main", "instance": "this-instance"}
        assert metrics.registry.get_sample_value("smspartner_etl_runs_total", succeeded) == 1
        with engine.connect() as conn:
            assert conn.execute(select(func.count()).select_from(job_leases)).scalar() == 0  # released
    finally:
        engine.dispose()
        other.dispose()


def test_daemon_skips_a_cycle_another_instance_just_did(migrated_db_url, simulator) -> None:  # type: ignore[no-untyped-def]
    engine = make_engine(migrated_db_url)
    config = make_config(migrated_db_url, simulator.base_url)
    try:
        first = run_job("stops", config=config, client=make_client(simulator.base_url), engine=engine, fresh_within=60)
        second = run_job("stops", config=config, client=make_client(simulator.base_url), engine=engine, fresh_within=60)
        third = run_job("stops", config=config, client=make_client(simulator.base_url), engine=engine)  # sync --once
        assert (first.outcome, second.outcome, second.error, third.outcome) == ("success", "skipped", "fresh", "success")
    finally:
        engine.dispose()


def test_sync_once_exits_75_while_another_instance_holds_the_lock(migrated_db_url, simulator, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setenv("SMSPARTNER_API_KEY", TEST_API_KEY)
    monkeypatch.setenv("SMSPARTNER_ETL__DATABASE__URL", migrated_db_url)
    monkeypatch.setenv("SMSPARTNER_ETL__API__BASE_URL", simulator.base_url)
    monkeypatch.setenv("SMSPARTNER_ETL__DAEMON__LOG_FORMAT", "text")
    other = make_engine(migrated_db_url)
    try:
        with job_lock(other, "stops", owner="other-instance"):
            held = CliRunner().invoke(cli, ["sync", "stops", "--once"])
        free = CliRunner().invoke(cli, ["sync", "stops", "--once"])
    finally:
        other.dispose()
    assert held.exit_code == 75, held.output
    assert "stops: skipped" in held.output
    assert free.exit_code == 0, free.output
    assert "stops: success run #1" in free.output


def test_doctor_says_what_is_wrong_in_plain_words(db_url, simulator, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setenv("SMSPARTNER_ETL__DATABASE__URL", db_url)
    monkeypatch.setenv("SMSPARTNER_ETL__API__BASE_URL", simulator.base_url)
    monkeypatch.setenv("SMSPARTNER_API_KEY", "wrong-key")
    result = CliRunner().invoke(cli, ["doctor"])
    assert result.exit_code == 1
    assert "FAIL  API: the API refused the key" in result.output
    assert "FAIL  schema: the database was never migrated: run `smspartner-etl db upgrade`" in result.output

    from etl.db.migrate import upgrade

    upgrade(db_url)
    monkeypatch.setenv("SMSPARTNER_API_KEY", TEST_API_KEY)
    result = CliRunner().invoke(cli, ["doctor"])
    assert result.exit_code == 0, result.output
    assert "ok  API:" in result.output and "ok  schema: up to date" in result.output
