"""`filter-audience` and its database (issue 16), through the real CLI, on the three backends.

What is unsure is blocked: a last stop sync dated in the future (clock skew) says nothing about
how old the list is, so it is refused like a stale one. A database that cannot be reached or was
never migrated is one sentence and an exit code, and the URL's password is never printed.
"""

from __future__ import annotations

import json
import socket
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from etl.audience import check_freshness
from etl.cli import cli
from etl.db.engine import make_engine
from etl.errors import StaleData

from .conftest import NOW, seed
from .test_cli_files import one_sentence

PASSWORD = "hunter2-not-for-output"
AUDIENCE = "tel\n0612345678\n"


def filter_cli(url: str, tmp_path: Path, *extra: str, max_age: str = "1d") -> Result:
    config = tmp_path / "etl.toml"
    config.write_text(f'[database]\nurl = "{url}"\n[audience]\nmax_stop_age = "{max_age}"\n')
    source = tmp_path / "audience.csv"
    source.write_text(AUDIENCE)
    return CliRunner().invoke(cli, [
        "--config", str(config), "filter-audience", str(source), "--allowed", str(tmp_path / "ok.csv"),
        "--blocked", str(tmp_path / "ko.csv"), "--report", str(tmp_path / "report.json"), *extra,
    ])


def nothing_written(tmp_path: Path) -> bool:
    return not any((tmp_path / name).exists() for name in ("ok.csv", "ko.csv", "report.json"))


def test_a_stop_sync_dated_in_the_future_is_stale(migrated_db_url: str) -> None:
    seed(migrated_db_url, [], synced_at=NOW + timedelta(hours=2))
    engine = make_engine(migrated_db_url, pool=False)
    with engine.connect() as conn, pytest.raises(StaleData, match="in the future"):
        check_freshness(conn, now=NOW, max_age=86400)
    with engine.connect() as conn:
        allowed = check_freshness(conn, now=NOW, max_age=86400, allow_stale=True)
    engine.dispose()
    assert allowed.stale and allowed.allow_stale


def test_cli_refuses_a_stop_sync_dated_in_the_future_and_says_why(migrated_db_url: str, tmp_path: Path) -> None:
    seed(migrated_db_url, ["+33611111111"], synced_at=datetime.now(timezone.utc) + timedelta(hours=2))
    result = filter_cli(migrated_db_url, tmp_path)
    assert result.exit_code == 4, result.output
    sentence = one_sentence(result)
    assert "in the future" in sentence and "clock" in sentence and "--allow-stale" in sentence
    assert nothing_written(tmp_path)


def test_cli_allow_stale_accepts_a_future_sync_and_reports_it_stale(migrated_db_url: str, tmp_path: Path) -> None:
    seed(migrated_db_url, [], synced_at=datetime.now(timezone.utc) + timedelta(hours=2))
    result = filter_cli(migrated_db_url, tmp_path, "--allow-stale")
    assert result.exit_code == 0, result.output
    report = json.loads((tmp_path / "report.json").read_text())
    assert report["stop_list"]["stale"] is True and report["stop_list"]["allow_stale_used"] is True


def test_cli_a_just_finished_stop_sync_is_fresh(migrated_db_url: str, tmp_path: Path) -> None:
    seed(migrated_db_url, [], synced_at=datetime.now(timezone.utc) - timedelta(seconds=1))
    result = filter_cli(migrated_db_url, tmp_path)
    assert result.exit_code == 0, result.output


def test_cli_on_a_database_never_migrated_says_run_db_upgrade(db_url: str, tmp_path: Path) -> None:
    if db_url.startswith("sqlite"):
        make_engine(db_url, pool=False).connect().close()  # the file exists, with no tables
    result = filter_cli(db_url, tmp_path)
    assert result.exit_code == 78, result.output
    assert "not migrated" in one_sentence(result) and "db upgrade" in one_sentence(result)
    assert nothing_written(tmp_path)


def _closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _unreachable_url(backend: str, tmp_path: Path) -> str:
    if backend == "sqlite":
        return f"sqlite:///{tmp_path / 'no-such-folder' / 'etl.sqlite3'}"
    driver = "postgresql+psycopg" if backend == "postgresql" else "mariadb+pymysql"
    return f"{driver}://etl:{PASSWORD}@127.0.0.1:{_closed_port()}/etl"


def test_cli_on_an_unreachable_database_is_one_sentence_without_the_password(backend: str, tmp_path: Path) -> None:
    result = filter_cli(_unreachable_url(backend, tmp_path), tmp_path)
    assert result.exit_code == 78, result.output
    sentence = one_sentence(result)
    assert "database" in sentence and ("cannot connect" in sentence or "does not exist" in sentence)
    assert PASSWORD not in result.output
    assert nothing_written(tmp_path)


def test_cli_on_a_missing_sqlite_file_does_not_create_it(tmp_path: Path) -> None:
    path = tmp_path / "missing.sqlite3"
    result = filter_cli(f"sqlite:///{path}", tmp_path)
    assert result.exit_code == 78, result.output
    assert "does not exist" in one_sentence(result)
    assert not path.exists() and nothing_written(tmp_path)
