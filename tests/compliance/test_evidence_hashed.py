"""`evidence NUMBER` matches the number's keyed hash: the filter runs that blocked it, its opt-outs reduced to a hash by
the retention job, and says what it could not check (no key, another key, allowed numbers not kept); three backends."""

from __future__ import annotations

import dataclasses
import json
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from etl.compliance.evidence_hashed import mark_hashed_opt_outs
from etl.config_compliance import ComplianceConfig
from etl.db.engine import make_engine
from tests.audience.conftest import seed
from tests.compliance.test_filter_runs import STOPPED, run_filter
from tests.compliance.test_retention import NOW, _seed
from tests.harness import TEST_HASH_KEY
from tests.jobs.helpers import make_client, make_config, run

ALLOWED = "+33633333333"  # in the campaign file, not stopped


def _filter_three_times(url: str, tmp_path: Path) -> None:
    seed(url, STOPPED, synced_at=datetime.now(timezone.utc) - timedelta(minutes=5))
    for n, key in enumerate((TEST_HASH_KEY, TEST_HASH_KEY, "")):
        folder = tmp_path / f"run{n}"
        folder.mkdir()
        assert run_filter(url, folder, env={"SMSPARTNER_ETL_HASH_KEY": key}).exit_code == 0


def _report(invoke, number: str, fmt: str = "json"):  # type: ignore[no-untyped-def]  # noqa: ANN001, ANN202
    result = invoke("evidence", number, "--format", fmt)
    assert result.exit_code == 0, result.output
    return json.loads(result.output) if fmt == "json" else result.output


def test_evidence_names_the_filter_runs_that_blocked_the_number_and_counts_those_it_cannot_check(
        migrated_db_url, tmp_path, invoke, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    _filter_three_times(migrated_db_url, tmp_path)
    monkeypatch.setenv("SMSPARTNER_ETL_HASH_KEY", TEST_HASH_KEY)
    report = _report(invoke, STOPPED[0])
    assert [(r["outcome"], r["reason"], r["input_name"]) for r in report["filter_runs"]] == [
        ("success", "stop_list", "campaign-december.csv")] * 2
    assert report["hash_checks"]["filter_runs"] == {"runs": 3, "blocked": 2, "not_blocked": 0, "unchecked": 1}
    assert any("1 successful filter runs recorded counts only" in n for n in report["notes"])
    assert TEST_HASH_KEY not in json.dumps(report)


def test_a_number_no_run_blocked_is_not_claimed_allowed(migrated_db_url, tmp_path, invoke, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    _filter_three_times(migrated_db_url, tmp_path)
    monkeypatch.setenv("SMSPARTNER_ETL_HASH_KEY", TEST_HASH_KEY)
    report = _report(invoke, ALLOWED)
    assert report["filter_runs"] == [] and report["hash_checks"]["filter_runs"]["not_blocked"] == 2
    assert any("absent from their file or passed to their allowed output" in n for n in report["notes"])
    assert "runs keep no list of allowed numbers" in _report(invoke, ALLOWED, "text")


def test_without_a_key_the_report_says_hashed_history_could_not_be_checked(migrated_db_url, tmp_path, invoke, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    _filter_three_times(migrated_db_url, tmp_path)
    monkeypatch.setenv("SMSPARTNER_ETL_HASH_KEY", "")
    report = _report(invoke, STOPPED[0])
    assert report["filter_runs"] == [] and report["hash_checks"]["key_id"] is None
    assert report["notes"][0].startswith("No hash key is configured: 3 filter runs and 0 hashed opt-outs could not be checked")
    assert "No hash key is configured" in _report(invoke, STOPPED[0], "html")


def _retain(url: str) -> None:
    engine = make_engine(url, pool=False)
    try:
        _seed(engine)
        config = dataclasses.replace(make_config(url, "http://127.0.0.1:9"), compliance=ComplianceConfig())
        report = run("retention", engine, config, client=make_client("http://127.0.0.1:9"), now=lambda: NOW)
        assert report.outcome.value == "success", report
    finally:
        engine.dispose()


def test_an_opt_out_reduced_to_a_hash_is_found_with_the_key_and_counted_without_it(migrated_db_url, invoke, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setenv("SMSPARTNER_ETL_HASH_KEY", TEST_HASH_KEY)
    _retain(migrated_db_url)
    report = _report(invoke, "+33611111111")
    assert report["stop_periods"] == []
    (hashed,) = report["hashed_optouts"]
    assert (hashed["api_stop_id"], hashed["source"], hashed["removed_how"]) == (1, "sync", "api_missing")
    assert hashed["hashed_at"].startswith("2030-06-01")
    monkeypatch.setenv("SMSPARTNER_ETL_HASH_KEY", "another-key")
    other = _report(invoke, "+33611111111")
    assert other["hashed_optouts"] == [] and "1 hashed opt-outs were made with another key" in " ".join(other["notes"])
    monkeypatch.setenv("SMSPARTNER_ETL_HASH_KEY", "")
    assert "0 filter runs and 1 hashed opt-outs could not be checked" in _report(invoke, "+33611111111")["notes"][0]


PERIOD = {"account": "main", "api_created_at": "2025-01-01T00:00:00+00:00", "first_seen_at": "2025-01-02T00:00:00+00:00",
          "removed_at": "2026-01-01T00:00:00+00:00"}


@pytest.mark.parametrize(("account", "started", "expected"), [
    ("main", "2025-06-01T00:00:00+00:00", True),
    ("main", "2024-12-31T23:59:59+00:00", False),
    ("main", "2026-01-01T00:00:00+00:00", False),
    ("other", "2025-06-01T00:00:00+00:00", False),
], ids=["inside", "before-the-opt-out", "at-the-removal", "another-account"])
def test_a_send_inside_a_hashed_period_of_its_account_is_opted_out(account: str, started: str, expected: bool) -> None:
    sends = [{"account": account, "started_at": started, "opted_out": False}]
    mark_hashed_opt_outs(sends, [PERIOD])
    assert sends[0]["opted_out"] is expected
