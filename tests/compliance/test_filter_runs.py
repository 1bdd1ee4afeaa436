"""Each `filter-audience` run leaves a `filter_runs` row, and the numbers it blocked for an opt-out as keyed hashes."""

from __future__ import annotations

import hashlib
import hmac
from datetime import datetime, timedelta, timezone
from pathlib import Path

from click.testing import CliRunner, Result
from sqlalchemy import select

from etl.audience import filter_audience
from etl.audience.filter import Summary
from etl.audience.stops import StopSet
from etl.cli import cli
from etl.compliance.evidence_hashed import runs_blocking
from etl.compliance.filter_runs import FileDigest, FilterRunRecorder
from etl.compliance.hashing import NumberHasher
from etl.db.engine import make_engine
from etl.db.schema import filter_run_blocks, filter_runs
from etl.secrets import Secret
from tests.audience.conftest import seed
from tests.harness import TEST_HASH_KEY

STOPPED = ["+33611111111", "+33622222222"]
AUDIENCE = "tel;name\n0611111111;a\n0633333333;b\n+33611111111;c\nnot a number;d\n0633333333;e\n06 22 22 22 22;f\n"


def run_filter(url: str, tmp_path: Path, *extra: str, env: dict[str, str] | None = None, max_age: str = "1d") -> Result:
    config = tmp_path / "etl.toml"
    config.write_text(f'[database]\nurl = "{url}"\n[audience]\nmax_stop_age = "{max_age}"\n')
    source = tmp_path / "campaign-december.csv"
    source.write_text(AUDIENCE)
    return CliRunner().invoke(cli, [
        "--config", str(config), "filter-audience", str(source), "--allowed", str(tmp_path / "ok.csv"),
        "--blocked", str(tmp_path / "ko.csv"), *extra,
    ], env={"SMSPARTNER_ETL_HASH_KEY": "", **(env or {})})


def rows(url: str) -> tuple[list[dict[str, object]], list[tuple[int, str, str]]]:
    engine = make_engine(url, pool=False)
    try:
        with engine.connect() as conn:
            runs = [dict(r._mapping) for r in conn.execute(select(filter_runs).order_by(filter_runs.c.id))]
            blocks = [tuple(r) for r in conn.execute(select(
                filter_run_blocks.c.run_id, filter_run_blocks.c.number_hash, filter_run_blocks.c.reason,
            ).order_by(filter_run_blocks.c.id))]
    finally:
        engine.dispose()
    return runs, blocks  # type: ignore[return-value]


def keyed(number: str) -> str:
    return hmac.new(TEST_HASH_KEY.encode(), number.encode(), hashlib.sha256).hexdigest()


def test_a_run_records_digest_counts_freshness_actor_and_a_hash_per_opted_out_number(migrated_db_url, tmp_path):
    seed(migrated_db_url, STOPPED, synced_at=datetime.now(timezone.utc) - timedelta(minutes=5))
    result = run_filter(migrated_db_url, tmp_path, "--actor", "marketing-anna", env={"SMSPARTNER_ETL_HASH_KEY": TEST_HASH_KEY})
    assert result.exit_code == 0, result.output
    (run,), blocks = rows(migrated_db_url)
    assert run["outcome"] == "success" and run["actor"] == "marketing-anna"
    assert run["input_name"] == "campaign-december.csv"
    assert run["input_sha256"] == hashlib.sha256(AUDIENCE.encode()).hexdigest()
    assert (run["rows"], run["allowed"], run["blocked_stop_list"], run["blocked_invalid"], run["blocked_duplicate"]) == (
        6, 1, 3, 1, 1)
    assert 240 <= run["stop_list_age_seconds"] <= 3600 and run["allow_stale"] is False  # type: ignore[operator]
    assert run["hash_key_id"] == hashlib.sha256(TEST_HASH_KEY.encode()).hexdigest()[:8]
    assert run["accounts"] == "main" and run["finished_at"] is not None
    # One hash per number and reason within a batch: the repeated +33611111111 is hashed once.
    assert sorted(blocks) == sorted([(run["id"], keyed("+33611111111"), "stop_list"),
                                     (run["id"], keyed("+33622222222"), "stop_list")])
    assert run["blocks_recorded"] == 2


def test_without_a_hash_key_the_run_records_counts_only_and_says_so(migrated_db_url, tmp_path):
    seed(migrated_db_url, STOPPED, synced_at=datetime.now(timezone.utc) - timedelta(minutes=5))
    result = run_filter(migrated_db_url, tmp_path)
    assert result.exit_code == 0, result.output
    (run,), blocks = rows(migrated_db_url)
    assert run["outcome"] == "success" and run["blocked_stop_list"] == 3
    assert run["hash_key_id"] is None and run["detail"] == "no hash key: counts only" and blocks == []


def test_require_hash_key_refuses_to_filter_without_one(migrated_db_url, tmp_path):
    seed(migrated_db_url, STOPPED, synced_at=datetime.now(timezone.utc) - timedelta(minutes=5))
    result = run_filter(migrated_db_url, tmp_path, env={"SMSPARTNER_ETL__COMPLIANCE__REQUIRE_HASH_KEY": "true"})
    assert result.exit_code == 78, result.output
    assert "filter-audience (compliance.require_hash_key) needs the hash key" in result.output
    assert "Traceback" not in result.output and not (tmp_path / "ok.csv").exists()


def test_a_refused_run_keeps_its_row_with_the_failure(migrated_db_url, tmp_path):
    seed(migrated_db_url, STOPPED, synced_at=datetime.now(timezone.utc) - timedelta(days=3))
    result = run_filter(migrated_db_url, tmp_path, env={"SMSPARTNER_ETL_HASH_KEY": TEST_HASH_KEY})
    assert result.exit_code == 4, result.output
    (run,), blocks = rows(migrated_db_url)
    assert run["outcome"] == "failed" and "pass --allow-stale" in str(run["detail"]) and blocks == []
    allowed = run_filter(migrated_db_url, tmp_path, "--allow-stale", env={"SMSPARTNER_ETL_HASH_KEY": TEST_HASH_KEY})
    assert allowed.exit_code == 0, allowed.output
    runs, _ = rows(migrated_db_url)
    assert runs[1]["outcome"] == "success" and runs[1]["allow_stale"] is True
    assert runs[1]["stop_list_age_seconds"] > 2 * 86400  # type: ignore[operator]


def test_a_run_that_fails_midway_keeps_its_row_and_no_blocks(migrated_db_url, tmp_path):
    seed(migrated_db_url, STOPPED, synced_at=datetime.now(timezone.utc) - timedelta(minutes=5))
    result = run_filter(migrated_db_url, tmp_path, "--column", "nope", env={"SMSPARTNER_ETL_HASH_KEY": TEST_HASH_KEY})
    assert result.exit_code != 0
    (run,), blocks = rows(migrated_db_url)
    assert run["outcome"] == "failed" and "nope" in str(run["detail"]) and blocks == []


def test_the_chunked_and_the_row_loop_paths_hand_over_the_same_opted_out_numbers(tmp_path):
    from etl.audience.numbers import NumberSet

    lines = ["tel"] + [f"06{i:08d}" for i in range(10_000_000, 10_004_000)]
    source = tmp_path / "in.csv"
    source.write_text("\n".join(lines) + "\n")
    stopped = NumberSet(33)
    stopped.add_many(__import__("numpy").array([33600000000 + i for i in range(10_000_000, 10_004_000, 7)]))
    stops = StopSet(stops=stopped, rental=NumberSet(33), contact=NumberSet(33))
    seen: dict[int, list[tuple[str, int]]] = {0: [], 2: []}
    for workers in (0, 2):
        def sink(reason: str, numbers: object, into: list[tuple[str, int]] = seen[workers]) -> None:
            if not reason:
                into.clear()
            into.extend((reason, n) for n in numbers)  # type: ignore[attr-defined]
        filter_audience(source, tmp_path / f"ok{workers}.csv", tmp_path / f"ko{workers}.csv", stops,
                        workers=workers, chunk_bytes=4096, on_opted_out=sink, progress=False)
    assert len(seen[0]) == len(range(10_000_000, 10_004_000, 7))
    assert sorted(seen[0]) == sorted(seen[2])



def _record(url: str, tmp_path: Path, batches: list[list[int]], *, batch: int) -> tuple[int, int]:
    """One run recorded through `FilterRunRecorder` with ``batch``, fed ``batches`` as the filter hands them
    over; its id and ``blocks_recorded``."""
    source = tmp_path / "campaign.csv"
    source.write_text("tel\n")
    engine = make_engine(url, pool=False)
    recorder = FilterRunRecorder(engine, NumberHasher.from_key(Secret(TEST_HASH_KEY)), lambda: datetime.now(timezone.utc),
                                 batch=batch)
    try:
        run_id = recorder.start(actor="t", input_path=source, allow_stale=False, freshness=None)
        for numbers in batches:
            recorder.add("stop_list", numbers)
        recorder.finish(Summary(), FileDigest(source))
    finally:
        engine.dispose()
    (run,) = [r for r in rows(url)[0] if r["id"] == run_id]
    return run_id, int(run["blocks_recorded"])  # type: ignore[call-overload]


def _runs_blocking(url: str, number: str) -> list[int]:
    engine = make_engine(url, pool=False)
    try:
        with engine.connect() as conn:
            return [r["run_id"] for r in runs_blocking(conn, number, NumberHasher.from_key(Secret(TEST_HASH_KEY)))]
    finally:
        engine.dispose()


def test_blocks_handed_over_in_several_batches_are_stored_once_per_batch_and_found_in_every_run(migrated_db_url, tmp_path):
    # batch=3: [1, 2, 2, 3] is flushed at once (the repeated 2 stored once), [3, 4] waits, [5] completes a
    # second batch that holds 3 again; the finish has nothing left.
    first, recorded = _record(migrated_db_url, tmp_path, [[33600000001, 33600000002, 33600000002, 33600000003],
                                                          [33600000003, 33600000004], [33600000005]], batch=3)
    second, _ = _record(migrated_db_url, tmp_path, [[33600000003, 33600000009]], batch=3)
    stored = [(run, h) for run, h, _ in rows(migrated_db_url)[1]]
    expected = [(first, keyed(f"+3360000000{n}")) for n in (1, 2, 3, 3, 4, 5)] + [(second, keyed(f"+3360000000{n}")) for n in (3, 9)]
    assert sorted(stored) == sorted(expected) and recorded == 6
    assert _runs_blocking(migrated_db_url, "+33600000003") == [first, second]
    assert _runs_blocking(migrated_db_url, "+33600000009") == [second]
    assert _runs_blocking(migrated_db_url, "+33600000008") == []


def test_a_keyed_run_that_blocks_nothing_stores_no_blocks(migrated_db_url, tmp_path):
    run_id, recorded = _record(migrated_db_url, tmp_path, [[], []], batch=3)
    (run,) = rows(migrated_db_url)[0]
    assert run["outcome"] == "success" and run["hash_key_id"] is not None
    assert recorded == 0 and rows(migrated_db_url)[1] == []
