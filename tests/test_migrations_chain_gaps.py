"""Migration 0022: the filter runs and breach acknowledgements that exist are sealed into the audit chain, on three backends."""

from __future__ import annotations

from datetime import datetime, timezone

from harness.chain import verify_url as _verify
from harness.sql import run_sql

from etl.compliance import chain
from etl.db.engine import make_engine
from etl.db.migrate import downgrade, upgrade

_sql = run_sql
T = "'2026-12-01 09:00:00'"



def _seed(url: str) -> None:
    """A filter run, two breaches (one acknowledged, chained with the first ack body, not its columns), a write."""
    _sql(url, "INSERT INTO filter_runs (started_at, finished_at, outcome, actor, input_name, allowed, allow_stale, "
              f"accounts, blocks_recorded, stop_list_age_seconds) VALUES ({T}, {T}, 'success', 'anna', 'c.csv', 2, FALSE, 'main', 0, 12.5)")
    _sql(url, "INSERT INTO sends (message_id, kind, sent_at, started_at, sent_day, source, created_at) "
              f"VALUES ('m-1', 'message', {T}, {T}, '2026-12-01', 'csv', {T})")
    for i in (1, 2):
        _sql(url, "INSERT INTO recipients (send_id, message_id, phone_e164, phone_raw, sent_day, final, expired, poll_until, "
                  f"poll_count, cost_checks, first_seen_at) VALUES ((SELECT MAX(id) FROM sends), 'm-1', '+3361234560{i}', "
                  f"'061234560{i}', '2026-12-01', FALSE, FALSE, {T}, 1, 0, {T})")
    _sql(url, f"INSERT INTO stop_periods (api_stop_id, phone_e164, phone_raw, first_seen_at, source) VALUES (7, '+33612345601', 'x', {T}, 'sync')")
    for i, ack in ((1, f"{T}, 'dpo', 'queued before'"), (2, "NULL, NULL, NULL")):
        _sql(url, "INSERT INTO breaches (recipient_id, stop_period_id, phone_e164, message_id, sent_at, opted_out_at, grace_seconds, "
                  f"detected_at, acknowledged_at, acknowledged_by, ack_note) VALUES ({i}, (SELECT MAX(id) FROM stop_periods), "
                  f"'+3361234560{i}', 'm-1', {T}, {T}, 3600, {T}, {ack})")
    engine = make_engine(url, pool=False)
    try:
        with engine.begin() as conn:
            chain.append(conn, "breach_ack", 1, "breaches", 1, {"actor": "dpo", "note": "queued before", "at": "x"},
                         at=datetime(2026, 12, 1, 9, tzinfo=timezone.utc))
    finally:
        engine.dispose()


def test_existing_filter_runs_and_acknowledgements_are_sealed_and_later_edits_are_detected(db_url: str) -> None:
    upgrade(db_url, "0021")
    _seed(db_url)

    upgrade(db_url, "0022")

    assert _sql(db_url, "SELECT seq, kind, ref_table, ref_id FROM audit_chain ORDER BY seq") == [
        (1, "breach_ack", "breaches", "1"), (2, "genesis", "filter_runs", "1"), (3, "genesis", "breaches", "1"),
    ]
    report = _verify(db_url)
    assert report.intact and report.head_seq == 3, report.findings

    _sql(db_url, "UPDATE filter_runs SET allowed = 3")
    _sql(db_url, "UPDATE breaches SET ack_note = 'fine' WHERE id = 1")
    assert [f.kind for f in _verify(db_url).findings] == ["row_edited", "row_edited"]

    downgrade(db_url, "0021")
    assert _sql(db_url, "SELECT COUNT(*) FROM audit_chain") == [(3,)]  # the chain is never cut
