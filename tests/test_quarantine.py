"""`etl.quarantine`: unreadable items are stored once per distinct item, redacted, and counted on repeat."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

from sqlalchemy import select

from etl.db.engine import make_engine
from etl.db.schema import rejected_items
from etl.metrics import Metrics
from etl.quarantine import Rejection, record, summary

T0 = datetime(2026, 12, 3, 7, 0, tzinfo=timezone.utc)
KEY = "secret-key-4242"
BAD = {"phoneNumber": "+33611111111", "messageId": 12, "date": "04/12/2026 07:00"}


def _rows(url: str) -> list[dict[str, object]]:
    engine = make_engine(url)
    try:
        with engine.connect() as conn:
            return [dict(r._mapping) for r in conn.execute(select(rejected_items).order_by(rejected_items.c.id))]
    finally:
        engine.dispose()


def test_a_rejection_is_stored_with_its_reason_and_owner(migrated_db_url: str) -> None:
    engine = make_engine(migrated_db_url)
    with engine.begin() as conn:
        n = record(conn, [Rejection("multi-status", BAD, "date '04/12/2026 07:00' is not a date", "recipient", "12/+33611111111")], T0, run_id=7)
    engine.dispose()
    assert n == 1
    (row,) = _rows(migrated_db_url)
    assert row["endpoint"] == "multi-status" and row["ref_kind"] == "recipient" and row["ref"] == "12/+33611111111"
    assert row["times_seen"] == 1 and row["first_seen_at"] == row["last_seen_at"] == T0 and row["last_run_id"] == 7
    assert '"date": "04/12/2026 07:00"' in str(row["item"])


def test_the_same_item_seen_again_bumps_times_seen_and_last_seen(migrated_db_url: str) -> None:
    engine = make_engine(migrated_db_url)
    same = Rejection("multi-status", dict(BAD), "bad date")
    with engine.begin() as conn:
        record(conn, [same, same], T0)
    with engine.begin() as conn:
        record(conn, [same, Rejection("multi-status", {**BAD, "date": "x"}, "bad date")], T0 + timedelta(hours=1), run_id=9)
    engine.dispose()
    first, second = _rows(migrated_db_url)
    assert first["times_seen"] == 3 and first["first_seen_at"] == T0 and first["last_seen_at"] == T0 + timedelta(hours=1)
    assert first["last_run_id"] == 9
    assert second["times_seen"] == 1


def test_the_key_never_reaches_the_quarantine(migrated_db_url: str) -> None:
    engine = make_engine(migrated_db_url)
    item = {"message": f"Clé {KEY} invalide", "url": f"https://api/v1/x?apiKey={KEY}&a=1"}
    with engine.begin() as conn:
        record(conn, [Rejection("message-status", item, f"key {KEY} echoed", "recipient", KEY)], T0, secrets=[KEY])
    engine.dispose()
    (row,) = _rows(migrated_db_url)
    assert all(KEY not in str(value) for value in row.values())


def test_rejected_items_are_counted_by_endpoint_in_the_metrics(migrated_db_url: str) -> None:
    engine = make_engine(migrated_db_url)
    with engine.begin() as conn:
        record(conn, [Rejection("multi-status", BAD, "bad"), Rejection("multi-status", BAD, "bad"), Rejection("stop-sms/list", "n/a", "not an object")], T0)
    metrics = Metrics()
    metrics.watch_database(engine, ["stops"])
    text = metrics.exposition().decode()
    engine.dispose()
    assert 'smspartner_etl_rejected_items_total{endpoint="multi-status"} 2.0' in text
    assert 'smspartner_etl_rejected_items_total{endpoint="stop-sms/list"} 1.0' in text


def test_summary_names_the_count() -> None:
    assert summary(1) == "partial, 1 item quarantined"
    assert summary(3) == "partial, 3 items quarantined"


def test_a_partial_run_counts_as_a_sync_for_freshness_health_and_the_stop_view(migrated_db_url: str) -> None:
    from sqlalchemy import insert, text

    from etl import runlog
    from etl.db.schema import stop_periods, sync_runs

    engine = make_engine(migrated_db_url)
    with engine.begin() as conn:
        conn.execute(insert(sync_runs).values(job="stops", started_at=T0, finished_at=T0, outcome="partial",
                                              rows_added=1, rows_changed=0, rows_removed=0, detail=summary(1)))
        conn.execute(insert(stop_periods).values(api_stop_id=1, phone_e164="+33611111111", phone_raw="0611111111",
                                                 first_seen_at=T0 - timedelta(days=1), source="api"))
    with engine.connect() as conn:
        assert runlog.last_success(conn, "stops") == T0
        health = conn.execute(text("SELECT last_success_at FROM job_health WHERE job = 'stops'")).scalar()
        seen = conn.execute(text("SELECT last_seen_at FROM current_stops")).scalar()
    engine.dispose()
    assert health is not None and seen is not None
    assert str(seen)[:16] == str(health)[:16] == "2026-12-03 07:00"
