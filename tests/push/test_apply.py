"""`store` and `apply_pass` on a batch, directly (no HTTP), on SQLite, PostgreSQL and MariaDB.

PostgreSQL takes its own path (one statement over arrays per batch, etl/db/backends/postgresql.py):
these pin that it answers as the generic one does.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import bindparam, text
from sqlalchemy.exc import SQLAlchemyError

from etl.config import StatusesConfig
from etl.db.engine import make_engine, writer
from etl.push.apply import apply_pass
from etl.push.parse import Callback, parse_callback
from etl.push.store import store
from etl.tracking import TrackedSend, track

NOW = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


def stop(phone: str, mid: int = 5) -> tuple[Callback, str]:
    return parse_callback("stop", json.dumps({"type": "stop", "phone_number": phone, "message_id": mid, "text": "STOP"}).encode()), "10.0.0.1"


def dlr(mid: str, phone: str, status: str, at: datetime) -> tuple[Callback, str]:
    body = {"messageId": mid, "phoneNumber": phone, "status": status, "date": str(int(at.timestamp()))}
    return parse_callback("dlr", json.dumps(body).encode()), "10.0.0.2"


@pytest.fixture
def engine(migrated_db_url):
    engine = writer(make_engine(migrated_db_url))
    yield engine
    engine.dispose()


def test_store_flags_repeats_in_the_batch_and_replays_of_stored_rows_as_not_new(engine):
    a, b = stop("+33612345678"), stop("+33612345679")
    with engine.begin() as conn:
        assert store(conn, [a], NOW) == [True]
    with engine.begin() as conn:
        assert store(conn, [b, a, b, stop("+33612345680")], NOW) == [True, False, False, True]
    with engine.connect() as conn:
        stored = conn.execute(text("SELECT phone_e164, state, attempts, source_ip FROM push_inbox ORDER BY id")).all()
    assert [tuple(r) for r in stored] == [
        ("+33612345678", "new", 0, "10.0.0.1"),
        ("+33612345679", "new", 0, "10.0.0.1"),
        ("+33612345680", "new", 0, "10.0.0.1"),
    ]


def test_store_refuses_a_naive_time(engine):
    with pytest.raises((ValueError, SQLAlchemyError)), engine.begin() as conn:
        store(conn, [stop("+33612345678")], NOW.replace(tzinfo=None))


def test_two_reports_for_one_recipient_in_one_batch_are_applied_in_arrival_order(engine):
    phone = "+33612345678"
    track(engine, [TrackedSend("700", [phone], sent_at=NOW)], now=NOW, config=StatusesConfig())
    batch = [dlr("700", phone, "ENROUTE", NOW + timedelta(seconds=1)), dlr("700", phone, "DELIVRD", NOW + timedelta(seconds=30)),
             stop(phone), stop(phone, 6)]
    with engine.begin() as conn:
        assert store(conn, batch, NOW) == [True, True, True, True]

    result = apply_pass(engine, NOW + timedelta(minutes=1), limit=100)

    assert result.applied == 4
    with engine.connect() as conn:
        inbox = [tuple(r) for r in conn.execute(text("SELECT kind, state, detail, attempts FROM push_inbox ORDER BY id"))]
        events = [r[0] for r in conn.execute(text("SELECT status FROM status_events WHERE source = 'push' ORDER BY id"))]
        opened = conn.execute(text("SELECT COUNT(*) FROM stop_periods WHERE source = 'push'")).scalar_one()
        linked = conn.execute(text("SELECT COUNT(*) FROM push_inbox WHERE stop_period_id IS NOT NULL")).scalar_one()
        replies = conn.execute(text("SELECT COUNT(*) FROM replies")).scalar_one()
    assert inbox == [("dlr", "applied", "status_recorded", 1), ("dlr", "applied", "status_recorded", 1),
                     ("stop", "applied", "opened", 1), ("stop", "applied", "already_stopped", 1)]
    assert events == ["Waiting", "Delivered"]
    assert (opened, linked, replies) == (1, 2, 2)  # the second STOP points at the period the first opened


def test_an_over_long_value_is_refused_not_truncated(engine):
    if engine.dialect.name == "sqlite":
        pytest.skip("SQLite does not enforce column lengths")
    cb, ip = stop("+33612345678")
    too_long = Callback(**{**{f: getattr(cb, f) for f in cb.__slots__}, "message_id": "9" * 65, "content_hash": "f" * 64})
    with pytest.raises(SQLAlchemyError), engine.begin() as conn:
        store(conn, [(too_long, ip)], NOW)


def test_a_stored_body_todays_rules_refuse_is_failed_and_quarantined_when_applied(engine):
    # As an older version stored it: NaN passed its parser (issue 16).
    body = '{"cost":NaN,"messageId":"7","phoneNumber":"+33612345678","status":"DELIVRD"}'
    with engine.begin() as conn:
        conn.execute(text("INSERT INTO push_inbox (channel, kind, content_hash, received_at, body, state, attempts) "
                          "VALUES ('dlr', 'dlr', :h, :t, :b, 'new', 0)"), {"h": "a" * 64, "t": NOW.replace(tzinfo=None), "b": body})

    result = apply_pass(engine, NOW + timedelta(minutes=1), limit=100)

    assert result.failed == 1
    with engine.connect() as conn:
        inbox_id, state, detail = conn.execute(text("SELECT id, state, detail FROM push_inbox")).one()
        quarantined = [tuple(r) for r in conn.execute(text("SELECT endpoint, item, reason, ref_kind, ref FROM rejected_items"))]
    assert (state, detail) == ("failed", "unparseable: bad_field")
    assert quarantined == [("push/dlr", body, "unparseable: bad_field", "push", str(inbox_id))]


def test_a_failed_pass_gives_every_stops_lock_it_took_back(engine, migrated_db_url, monkeypatch):
    # MariaDB's GET_LOCK outlives the transaction and counts recursively per session: a lock kept by a
    # failed pass would skip that account's stop syncs for as long as the pooled connection lives.
    from etl.db.types import UtcDateTime
    from etl.locking import end_transaction_lock, try_transaction_lock
    from etl.push import apply as push_apply

    with engine.begin() as conn:
        conn.execute(text("INSERT INTO accounts (label, type, parent_id, token, first_seen_at) VALUES ('shop', 'simple', 1, 'tok-shop', :n)")
                     .bindparams(bindparam("n", NOW, type_=UtcDateTime())))
        shop_id = conn.execute(text("SELECT id FROM accounts WHERE label = 'shop'")).scalar_one()
        shop_stop = parse_callback("stop", json.dumps({"type": "stop", "phone_number": "+33612345679"}).encode(), account_id=shop_id)
        store(conn, [stop("+33612345678"), (shop_stop, "10.0.0.1")], NOW)

    def broken(conn, rows):
        raise RuntimeError("replies unavailable")

    monkeypatch.setattr(push_apply, "_store_replies", broken)
    with pytest.raises(RuntimeError):
        apply_pass(engine, NOW + timedelta(minutes=1), limit=100)

    other = make_engine(migrated_db_url)
    try:
        with other.connect() as conn:
            for job in ("stops", f"stops@{shop_id}"):
                assert try_transaction_lock(conn, job), job
                end_transaction_lock(conn, job)
            conn.rollback()
    finally:
        other.dispose()
    with engine.connect() as conn:
        assert conn.execute(text("SELECT COUNT(*) FROM push_inbox WHERE state = 'new'")).scalar_one() == 2
