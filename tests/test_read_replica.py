"""``database.read_url``: reads that may lag come from the replica, every write goes to the primary.

The "replica" is a second migrated database (a second database on the harness server, a second SQLite file)
holding other rows than the primary, so each read can be traced to where it came from. docs/operations.md,
"A read replica".
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from click.testing import CliRunner, Result
from sqlalchemy import func, select

from etl.cli import cli
from etl.config import Config, DatabaseConfig
from etl.db.engine import make_engine, read_engine
from etl.db.migrate import upgrade
from etl.db.schema import filter_runs, sync_runs
from etl.metrics import Metrics
from tests.audience.conftest import seed

ON_PRIMARY, ON_REPLICA = "+33611111111", "+33622222222"


@pytest.fixture
def replica_url(request: pytest.FixtureRequest, backend: str, migrated_db_url: str, tmp_path: Path) -> Iterator[str]:
    """A second migrated database beside ``migrated_db_url``, on the same server (or a second SQLite file)."""
    if backend == "sqlite":
        url = f"sqlite:///{tmp_path / 'replica.sqlite3'}"
        upgrade(url)
        yield url
        return
    server = request.getfixturevalue("pg_server" if backend == "postgresql" else "mariadb_server")
    name = migrated_db_url.rsplit("/", 1)[1].split("?", 1)[0][:50] + "_r"
    url = server.create_database(name)
    upgrade(url)
    yield url
    server.drop_database(name)


def _filter(primary: str, replica: str, tmp_path: Path, max_age: str = "1d") -> Result:
    config = tmp_path / "etl.toml"
    config.write_text(f'[database]\nurl = "{primary}"\nread_url = "{replica}"\n[audience]\nmax_stop_age = "{max_age}"\n')
    source = tmp_path / "audience.csv"
    source.write_text(f"tel\n{ON_PRIMARY}\n{ON_REPLICA}\n")
    return CliRunner().invoke(cli, [
        "--config", str(config), "filter-audience", str(source), "--allowed", str(tmp_path / "ok.csv"),
        "--blocked", str(tmp_path / "ko.csv"), "--report", str(tmp_path / "report.json"),
    ])


def _count(url: str, table) -> int:  # type: ignore[no-untyped-def]
    engine = make_engine(url, pool=False)
    try:
        with engine.connect() as conn:
            return int(conn.execute(select(func.count()).select_from(table)).scalar_one())
    finally:
        engine.dispose()


def test_filter_audience_reads_the_stop_list_from_the_replica_and_records_the_run_on_the_primary(
    migrated_db_url: str, replica_url: str, tmp_path: Path
) -> None:
    now = datetime.now(timezone.utc)
    seed(migrated_db_url, [ON_PRIMARY], synced_at=now - timedelta(minutes=5))
    seed(replica_url, [ON_REPLICA], synced_at=now - timedelta(minutes=5))
    result = _filter(migrated_db_url, replica_url, tmp_path)
    assert result.exit_code == 0, result.output
    assert (tmp_path / "ko.csv").read_text().splitlines()[1].startswith(ON_REPLICA)
    assert ON_PRIMARY in (tmp_path / "ok.csv").read_text()
    assert (_count(migrated_db_url, filter_runs), _count(replica_url, filter_runs)) == (1, 0)


def test_a_replica_behind_the_primary_makes_filter_audience_refuse_a_stale_list(
    migrated_db_url: str, replica_url: str, tmp_path: Path
) -> None:
    # The primary synced a minute ago; the replica still shows the sync of two days ago: its stop list is that old.
    now = datetime.now(timezone.utc)
    seed(migrated_db_url, [ON_PRIMARY, ON_REPLICA], synced_at=now - timedelta(minutes=1))
    seed(replica_url, [ON_REPLICA], synced_at=now - timedelta(days=2))
    result = _filter(migrated_db_url, replica_url, tmp_path)
    assert result.exit_code == 4, result.output
    assert "the stop list is 2.0 d old" in result.output and "--allow-stale" in result.output
    assert not (tmp_path / "ok.csv").exists()
    assert (_count(migrated_db_url, filter_runs), _count(replica_url, filter_runs)) == (1, 0)  # the refusal, recorded


def test_metrics_read_the_replica_when_read_url_is_set(migrated_db_url: str, replica_url: str) -> None:
    seed(replica_url, [ON_REPLICA, ON_PRIMARY])
    primary = make_engine(migrated_db_url)
    reads = read_engine(DatabaseConfig(url=migrated_db_url, read_url=replica_url), primary)
    metrics = Metrics()
    metrics.watch_database(reads, ["stops"])
    try:
        value = metrics.registry.get_sample_value
        assert value("smspartner_etl_stop_list_size") == 2
        assert value("smspartner_etl_last_success_timestamp_seconds", {"job": "stops", "account": "main"}) is not None
        assert read_engine(Config().database, primary) is primary  # no replica: the primary itself
    finally:
        reads.dispose()
        primary.dispose()
    assert _count(migrated_db_url, sync_runs) == 0


def test_a_replica_that_cannot_be_reached_is_one_sentence_with_its_password_masked(
    migrated_db_url: str, backend: str, tmp_path: Path
) -> None:
    if backend == "sqlite":
        replica = f"sqlite:///{tmp_path / 'missing' / 'replica.sqlite3'}"
    else:
        scheme = migrated_db_url.split("://", 1)[0]
        replica = f"{scheme}://etl:replica-secret-pw@127.0.0.1:1/etl"
    seed(migrated_db_url, [ON_PRIMARY], synced_at=datetime.now(timezone.utc))
    result = _filter(migrated_db_url, replica, tmp_path)
    assert result.exit_code == 78, result.output
    assert "replica-secret-pw" not in result.output
    if backend != "sqlite":
        assert "etl:***@127.0.0.1:1" in result.output
    report = tmp_path / "report.json"
    assert not report.exists() or "replica-secret-pw" not in json.dumps(report.read_text())


def test_doctor_reports_how_far_the_replica_lags_and_warns_when_filter_audience_would_refuse(
    migrated_db_url: str, replica_url: str, tmp_path: Path, simulator, api_key: str  # type: ignore[no-untyped-def]
) -> None:
    now = datetime.now(timezone.utc)
    seed(migrated_db_url, [], synced_at=now - timedelta(minutes=1))
    seed(replica_url, [], synced_at=now - timedelta(days=2))
    config = tmp_path / "etl.toml"
    config.write_text(f'[database]\nurl = "{migrated_db_url}"\nread_url = "{replica_url}"\n[api]\nbase_url = "{simulator.base_url}"\n')
    result = CliRunner().invoke(cli, ["--config", str(config), "doctor"], env={"SMSPARTNER_API_KEY": api_key})
    line = next(line for line in result.output.splitlines() if "replica:" in line)
    assert line.lstrip().startswith("warn") and "2.0d old, 2.0d behind the primary's" in line and "refuses" in line
