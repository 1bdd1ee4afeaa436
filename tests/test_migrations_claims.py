"""Migration 0027 (claim columns): every recipient and run kept and unclaimed, what is due found as before, the
claim queries planned on the partial due indexes of 0023 (PostgreSQL, SQLite), the model matched, and back."""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from harness.sql import run_sql
from sqlalchemy import not_

from etl.db import backends, claims
from etl.db.engine import make_engine
from etl.db.migrate import downgrade, upgrade
from etl.db.schema import Base, recipients

BEFORE = "0026"
NOW = datetime(2026, 12, 7, 3, 0, tzinfo=timezone.utc)
DUE = "SELECT phone_e164 FROM recipients WHERE account_id = 1 AND {column} <= :now ORDER BY {column}"
NEW = (("recipients", "poll_claimed_by"), ("recipients", "cost_claimed_by"), ("sync_runs", "owner"))


def _at(url: str, value: datetime) -> datetime:
    return value if url.startswith("postgresql") else value.replace(tzinfo=None)


def _seed(url: str) -> None:
    """A final priced recipient (nothing due), a pending one (poll due), a final one whose cost read is due; a run."""
    n = _at(url, NOW)
    run_sql(url, "INSERT INTO sends (message_id, kind, sent_at, started_at, sent_day, source, created_at) "
                 "VALUES ('1', 'message', :n, :n, '2026-12-07', 'csv', :n)", n=n)
    for phone, final, next_poll, next_cost in (("+33600000001", True, None, None), ("+33600000002", False, n, None),
                                               ("+33600000003", True, None, n)):
        run_sql(url, "INSERT INTO recipients (send_id, message_id, phone_e164, phone_raw, sent_day, final, expired, "
                     "poll_until, next_poll_at, poll_count, cost_checks, next_cost_at, first_seen_at) VALUES "
                     "((SELECT id FROM sends), '1', :phone, :phone, '2026-12-07', :final, FALSE, :n, :poll, 1, 0, :cost, :n)",
                phone=phone, final=final, n=n, poll=next_poll, cost=next_cost)
    run_sql(url, "INSERT INTO sync_runs (job, started_at, outcome, rows_added, rows_changed, rows_removed, host, pid) "
                 "VALUES ('statuses', :n, 'success', 0, 3, 0, 'h', 7)", n=n)


def _due(url: str) -> tuple[list[Any], list[Any]]:
    polls, costs = (run_sql(url, DUE.format(column=c), now=_at(url, NOW)) for c in ("next_poll_at", "next_cost_at"))
    return polls, costs


def _plans_and_drift(url: str) -> tuple[dict[str, str], list[Any]]:
    """The plan of each claim query (its text: PostgreSQL's EXPLAIN, SQLite's EXPLAIN QUERY PLAN; '' on MariaDB),
    and the model's drift for the tables 0027 changed."""
    engine = make_engine(url, pool=False)
    try:
        with engine.connect() as conn:
            backend = backends.of(conn)
            plans = {}
            not_by_tag = (not_(recipients.c.message_id.like("tag:%")),)
            for work, where in ((claims.POLL, not_by_tag), (claims.COST, ())):
                compiled = backend.claimed(claims.due_rows(work, 1, NOW, 2000, where)).compile(dialect=conn.dialect)
                params: Any = compiled.construct_params()
                if backend.name == "sqlite":
                    sql, params = "EXPLAIN QUERY PLAN " + compiled.string, tuple(params[k] for k in compiled.positiontup or ())
                elif backend.name == "postgresql":
                    # Three rows fit one page: once an index built since (0030) has counted them, a sequential scan
                    # wins. The question is which index the claim reads.
                    conn.exec_driver_sql("SET enable_seqscan = off")
                    sql = "EXPLAIN " + compiled.string
                else:
                    plans[work.name] = ""
                    continue
                plans[work.name] = " ".join(str(col) for row in conn.exec_driver_sql(sql, params) for col in row)
            drift = [d for d in compare_metadata(MigrationContext.configure(conn), Base.metadata)
                     if "recipients" in repr(d) or "sync_runs" in repr(d)]
            conn.rollback()
            return plans, drift
    finally:
        engine.dispose()


def _columns(url: str) -> set[tuple[str, str]]:
    engine = make_engine(url, pool=False)
    try:
        from sqlalchemy import inspect

        found = inspect(engine)
        return {(table, c["name"]) for table in ("recipients", "sync_runs") for c in found.get_columns(table)}
    finally:
        engine.dispose()


def test_migration_0027_keeps_every_row_unclaimed_and_the_claims_planned_on_the_due_indexes(db_url: str) -> None:
    upgrade(db_url, BEFORE)
    _seed(db_url)
    due_before = _due(db_url)
    assert due_before == ([("+33600000002",)], [("+33600000003",)])

    upgrade(db_url)
    assert _due(db_url) == due_before
    assert run_sql(db_url, "SELECT COUNT(*), COUNT(poll_claimed_by), COUNT(cost_claimed_by) FROM recipients") == [(3, 0, 0)]
    assert run_sql(db_url, "SELECT job, host, pid, owner FROM sync_runs") == [("statuses", "h", 7, None)]
    plans, drift = _plans_and_drift(db_url)
    assert drift == []
    if db_url.startswith("postgresql") or db_url.startswith("sqlite"):
        # Read in index order, no sort: the claim is the head of the partial due index.
        assert "ix_recipients_account_id_next_poll_at" in plans["poll"], plans
        assert "ix_recipients_account_id_next_cost_at" in plans["cost"], plans
        assert not any("Sort" in plan or "TEMP B-TREE" in plan for plan in plans.values()), plans

    downgrade(db_url, BEFORE)
    assert _columns(db_url).isdisjoint(NEW)
    assert _due(db_url) == due_before
    assert run_sql(db_url, "SELECT COUNT(*) FROM recipients") == [(3,)]
    upgrade(db_url)
    assert set(NEW) <= _columns(db_url)
