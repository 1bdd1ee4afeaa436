"""Migration 0023 (partial due indexes): every recipient kept, what is due found as before, only pending rows
indexed on PostgreSQL and SQLite (MariaDB keeps its full ones), the model matched, and back."""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from harness.sql import run_sql

from etl.db import backends
from etl.db.engine import make_engine
from etl.db.migrate import downgrade, upgrade
from etl.db.schema import Base

BEFORE = "0022"
NOW = datetime(2026, 12, 4, 3, 0, tzinfo=timezone.utc)
DUE = "SELECT phone_e164 FROM recipients WHERE account_id = 1 AND {column} <= :now ORDER BY {column}"
INDEXES = ("ix_recipients_account_id_next_poll_at", "ix_recipients_account_id_next_cost_at",
           "ix_recipients_account_id_final_expired")


def _at(url: str, value: datetime) -> datetime:
    return value if url.startswith("postgresql") else value.replace(tzinfo=None)


def _seed(url: str) -> None:
    """A final priced recipient (nothing due), a pending one (poll due), a final one whose cost read is due."""
    n = _at(url, NOW)
    run_sql(url, "INSERT INTO sends (message_id, kind, sent_at, started_at, sent_day, source, created_at) "
                 "VALUES ('1', 'message', :n, :n, '2026-12-04', 'csv', :n)", n=n)
    for phone, final, next_poll, next_cost in (("+33600000001", True, None, None), ("+33600000002", False, n, None),
                                               ("+33600000003", True, None, n)):
        run_sql(url, "INSERT INTO recipients (send_id, message_id, phone_e164, phone_raw, sent_day, final, expired, "
                     "poll_until, next_poll_at, poll_count, cost_checks, next_cost_at, first_seen_at) VALUES "
                     "((SELECT id FROM sends), '1', :phone, :phone, '2026-12-04', :final, FALSE, :n, :poll, 1, 0, :cost, :n)",
                phone=phone, final=final, n=n, poll=next_poll, cost=next_cost)


def _due(url: str) -> tuple[list[Any], list[Any]]:
    """What is due to poll, what is due to price."""
    polls, costs = (run_sql(url, DUE.format(column=c), now=_at(url, NOW)) for c in ("next_poll_at", "next_cost_at"))
    return polls, costs


def _index_entries_and_drift(url: str) -> tuple[dict[str, bool], list[Any]]:
    """Per due index: is it partial (its definition has a WHERE)? And the model's drift for them."""
    engine = make_engine(url, pool=False)
    try:
        with engine.connect() as conn:
            backend = backends.of(conn).name
            if backend == "postgresql":
                sql = "SELECT indexname, indexdef FROM pg_indexes WHERE tablename = 'recipients'"
            elif backend == "sqlite":
                sql = "SELECT name, sql FROM sqlite_master WHERE type = 'index' AND tbl_name = 'recipients'"
            else:
                sql = ("SELECT index_name, '' FROM information_schema.statistics WHERE table_schema = DATABASE() "
                       "AND table_name = 'recipients'")
            found = {name: "WHERE" in (definition or "").upper() for name, definition in conn.exec_driver_sql(sql)}
            drift = [d for d in compare_metadata(MigrationContext.configure(conn), Base.metadata) if "recipients" in repr(d)]
            return {name: found[name] for name in INDEXES}, drift
    finally:
        engine.dispose()


def test_migration_0023_indexes_only_what_is_due_and_finds_the_same_due_rows_both_ways(db_url: str) -> None:
    upgrade(db_url, BEFORE)
    _seed(db_url)
    due_before = _due(db_url)
    assert due_before == ([("+33600000002",)], [("+33600000003",)])
    partial = not db_url.startswith("mariadb") and not db_url.startswith("mysql")

    upgrade(db_url)
    assert _due(db_url) == due_before
    indexes, drift = _index_entries_and_drift(db_url)
    assert indexes == {name: partial for name in INDEXES} and drift == []
    assert run_sql(db_url, "SELECT COUNT(*) FROM recipients") == [(3,)]

    downgrade(db_url, BEFORE)
    assert _due(db_url) == due_before
    assert _index_entries_and_drift(db_url)[0] == {name: False for name in INDEXES}
    upgrade(db_url)
