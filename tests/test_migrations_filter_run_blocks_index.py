"""Migration 0026: ``filter_run_blocks`` indexed once on (run_id, number_hash), its rows kept and still found by
hash, the model matched, and back to the two single-column indexes."""

from __future__ import annotations

from harness.sql import indexes_and_drift, run_sql

from etl.db.migrate import downgrade, upgrade

BEFORE = "0025"
FOUND = ("SELECT r.id, b.reason FROM filter_runs r JOIN filter_run_blocks b ON b.run_id = r.id "
         "WHERE b.number_hash = :h ORDER BY r.id")


def test_migration_0026_keeps_the_blocks_findable_by_hash_under_one_run_first_index_and_back(db_url: str) -> None:
    upgrade(db_url, BEFORE)
    for run in (1, 2):
        run_sql(db_url, "INSERT INTO filter_runs (id, started_at, outcome, actor, input_name, accounts, blocks_recorded, "
                        "allow_stale) VALUES (:id, '2026-12-07 10:00:00', 'success', 'a', 'f.csv', 'main', 1, FALSE)", id=run)
        run_sql(db_url, "INSERT INTO filter_run_blocks (run_id, number_hash, reason) VALUES (:id, :h, 'stop_list')",
                id=run, h="ab" * 32)
    run_sql(db_url, "INSERT INTO filter_run_blocks (run_id, number_hash, reason) VALUES (2, :h, 'rental_stop')", h="cd" * 32)
    before = run_sql(db_url, FOUND, h="ab" * 32)
    assert before == [(1, "stop_list"), (2, "stop_list")]

    upgrade(db_url)
    indexes, drift = indexes_and_drift(db_url, "filter_run_blocks")
    assert indexes.get("ix_filter_run_blocks_run_id_number_hash") == ["run_id", "number_hash"]
    assert "ix_filter_run_blocks_number_hash" not in indexes and "ix_filter_run_blocks_run_id" not in indexes
    assert drift == []
    assert run_sql(db_url, FOUND, h="ab" * 32) == before
    assert run_sql(db_url, "SELECT COUNT(*) FROM filter_run_blocks") == [(3,)]

    downgrade(db_url, BEFORE)
    indexes, _ = indexes_and_drift(db_url, "filter_run_blocks")
    assert indexes.get("ix_filter_run_blocks_number_hash") == ["number_hash"]
    assert indexes.get("ix_filter_run_blocks_run_id") == ["run_id"]
    assert run_sql(db_url, FOUND, h="ab" * 32) == before
    upgrade(db_url)
