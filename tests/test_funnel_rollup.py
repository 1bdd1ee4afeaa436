"""`etl.db.funnel_rollup`: ``status_funnel`` read from ``funnel_days`` answers exactly what 0010's view over the
recipients answered, and so does the console's funnel, through new recipients, new, changed, late and final
statuses, item failures, cost reads of unknown pairs, expiry and two accounts; `rebuild` gives the same rows."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import Connection, Engine, text

from etl.config import StatusesConfig
from etl.console import queries
from etl.db.engine import make_engine
from etl.db.funnel_rollup import rebuild
from etl.db.migrate import revision_module
from etl.db.schema import accounts, funnel_days
from etl.jobs.status_apply import CostRow, StatusRow, Tally, apply_costs, apply_statuses, unread_row
from etl.tracking import SendRow, ingest

AT = datetime(2026, 1, 5, 10, 0, tzinfo=UTC)
CONFIG = StatusesConfig()
PHONES = [f"+3361234560{i}" for i in range(6)]


def _old_view(conn: Connection) -> str:
    """0010's status_funnel SELECT, over the recipients themselves."""
    return revision_module("0010_accounts.py").STATUS_FUNNEL.split(" AS\n", 1)[1]


def _count(value: Any) -> Any:
    """Counts as ints (MariaDB sums to DECIMAL), other values as text or as they are."""
    if isinstance(value, (int, float)) or type(value).__name__ == "Decimal":
        return int(value)
    return str(value) if value is not None and not isinstance(value, str) else value


def _rows(conn: Connection, sql: str) -> list[tuple[Any, ...]]:
    return sorted((tuple(_count(v) for v in row) for row in conn.execute(text(sql))), key=repr)


def _assert_funnel_equals_old(engine: Engine) -> list[tuple[Any, ...]]:
    """The view and the console's funnel (30 days) against 0010's view; returns the view's rows."""
    with engine.connect() as conn:
        old = _rows(conn, _old_view(conn))
        assert _rows(conn, "SELECT * FROM status_funnel") == old
    keys = ("delivered", "failed", "pending", "expired", "not_found")
    summed: dict[str, dict[str, int]] = {}
    for row in old:
        totals = summed.setdefault(row[10], dict.fromkeys(keys, 0))
        for key, value in zip(keys, row[4:9]):
            totals[key] += value
    assert queries.funnel(engine, AT.date() - timedelta(days=29)) == summed
    return old


def _send(engine: Engine, account: int, message_id: str, phones: list[str], sent_at: datetime) -> None:
    """A send and its recipients, ingested as the intake and the statuses job's discovery ingest them."""
    row = SendRow(message_id=message_id, kind="message", tag=f"tag-{account}", sent_at=sent_at, source="python")
    with engine.begin() as conn:
        ingest(conn, [row], [(message_id, phone, phone) for phone in phones], now=sent_at, config=CONFIG, account_id=account)


def _status(message_id: str, phone: str, status: str, *, final: bool, hours: float = 0) -> StatusRow:
    return StatusRow(message_id=message_id, phone_e164=phone, ok=True, polled=True, source="multi-status", status=status,
                     status_at=AT + timedelta(hours=hours), final=final)


def _failure(message_id: str, phone: str) -> StatusRow:
    return StatusRow(message_id=message_id, phone_e164=phone, ok=False, polled=True, source="multi-status", code=4,
                     error="Numéro introuvable")


def _apply(engine: Engine, account: int, rows: list[StatusRow], *, hours: float) -> None:
    with engine.begin() as conn:
        apply_statuses(conn, rows, now=AT + timedelta(hours=hours), run_id=None, config=CONFIG, tally=Tally(),
                       account_id=account)


def test_status_funnel_answers_as_the_recipients_view_did_through_new_changed_late_final_and_expired_statuses(
    migrated_db_url: str,
) -> None:
    engine = make_engine(migrated_db_url)
    try:
        with engine.begin() as conn:
            conn.execute(accounts.insert().values(label="shop", type="simple", parent_id=1, token="sub-tok", first_seen_at=AT))
        assert _assert_funnel_equals_old(engine) == []

        # New recipients: two accounts, two days; one send grows by a second intake (and a replay of known pairs).
        _send(engine, 1, "m1", PHONES[:4], AT)
        _send(engine, 1, "m2", PHONES[:3], AT - timedelta(days=1))
        _send(engine, 2, "m1", PHONES[:3], AT)
        _send(engine, 1, "m1", PHONES[2:6], AT)
        assert [(r[1], r[3:9], r[10]) for r in _assert_funnel_equals_old(engine)] == [
            ("m2", (3, 0, 0, 3, 0, 0), "main"), ("m1", (6, 0, 0, 6, 0, 0), "main"), ("m1", (3, 0, 0, 3, 0, 0), "shop")]

        # New statuses: pending, delivered (any case), failed, an item failure, an unread poll; a repeat moves nothing.
        _apply(engine, 1, [_status("m1", PHONES[0], "Waiting", final=False), _status("m1", PHONES[1], "Delivered", final=True),
                           _status("m1", PHONES[2], "Not delivered", final=True), _failure("m1", PHONES[3]),
                           unread_row("m1", PHONES[4], "multi-status"), _status("m2", PHONES[0], "DELIVERED", final=True)],
               hours=1)
        _apply(engine, 2, [_status("m1", PHONES[0], "Waiting", final=False), _failure("m1", PHONES[1])], hours=1)
        _apply(engine, 1, [_status("m1", PHONES[0], "Waiting", final=False)], hours=2)
        # Discovery: a send's recipients ingested and their statuses applied in one transaction (two moves in it).
        with engine.begin() as conn:
            row = SendRow(message_id="m3", kind="discover", tag="tag-2", sent_at=AT, source="message_id")
            ingest(conn, [row], [("m3", phone, phone) for phone in PHONES[:2]], now=AT, config=CONFIG, account_id=2)
            apply_statuses(conn, [_status("m3", PHONES[0], "Delivered", final=True), _status("m3", PHONES[1], "Waiting", final=False)],
                           now=AT + timedelta(hours=2), run_id=None, config=CONFIG, tally=Tally(), account_id=2)
        _assert_funnel_equals_old(engine)

        # Changed: pending to delivered; an item failure then a status; a cost read of an unknown pair (no status).
        _apply(engine, 1, [_status("m1", PHONES[0], "Delivered", final=True, hours=3), _status("m1", PHONES[3], "Waiting", final=False)],
               hours=3)
        with engine.begin() as conn:
            apply_costs(conn, [CostRow(message_id="m1", phone_e164=PHONES[5], kind="missing", next_cost_at=None)],
                        now=AT + timedelta(hours=4), run_id=None, tally=Tally(), account_id=1)
        _assert_funnel_equals_old(engine)

        # Expiry: past the window, the pending ones polled are expired; then a late final status for one of them.
        window = timedelta(seconds=CONFIG.window) + timedelta(hours=1)
        _apply(engine, 1, [unread_row("m1", PHONES[3], "multi-status"), unread_row("m1", PHONES[4], "multi-status"),
                           unread_row("m1", PHONES[5], "multi-status"), unread_row("m2", PHONES[1], "multi-status")],
               hours=window.total_seconds() / 3600)
        _apply(engine, 2, [unread_row("m1", PHONES[0], "multi-status"), unread_row("m1", PHONES[1], "multi-status")],
               hours=window.total_seconds() / 3600)
        expired = _assert_funnel_equals_old(engine)
        assert sum(row[7] for row in expired) == 6, expired  # m1: 3, 4, 5; m2: 1; shop's m1: 0, 1
        _apply(engine, 1, [_status("m1", PHONES[4], "Delivered", final=True, hours=30)], hours=window.total_seconds() / 3600 + 1)
        _apply(engine, 2, [_status("m1", PHONES[1], "Not delivered", final=True, hours=30)], hours=window.total_seconds() / 3600 + 1)
        final = _assert_funnel_equals_old(engine)
        assert [(r[1], r[3:9], r[10]) for r in final] == [
            ("m2", (3, 1, 0, 1, 1, 0), "main"), ("m1", (6, 3, 1, 0, 2, 1), "main"), ("m1", (3, 0, 1, 1, 1, 0), "shop"),
            ("m3", (2, 1, 0, 1, 0, 0), "shop")], final

        with engine.connect() as conn:
            moved = sorted(tuple(_count(v) for v in row) for row in conn.execute(funnel_days.select()))
        with engine.begin() as conn:
            rebuild(conn)
        with engine.connect() as conn:
            assert sorted(tuple(_count(v) for v in row) for row in conn.execute(funnel_days.select())) == moved
        _assert_funnel_equals_old(engine)
    finally:
        engine.dispose()
