"""Migration 0030 (the index of claimed rows): every recipient and claim kept, the lapsed claims read from the new
index on each backend (no scan of the due queue), the model matched, and back."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from typing import Any

from harness.sql import indexes_and_drift, run_sql
from sqlalchemy import not_, text

from etl.db import backends, claims
from etl.db.engine import make_engine
from etl.db.migrate import downgrade, upgrade
from etl.db.schema import recipients

BEFORE = "0029"
NOW = datetime(2026, 12, 8, 1, 0, tzinfo=timezone.utc)
BACKLOG, CLAIMED = 2000, 20
NAMES = {"poll": "ix_recipients_account_id_poll_claimed_by_next_poll_at", "cost": "ix_recipients_account_id_cost_claimed_by_next_cost_at"}
LAPSED = ("SELECT COUNT(*) FROM recipients WHERE account_id = 1 AND {owner} IS NOT NULL AND {due} <= :now")


def _at(url: str, value: datetime) -> datetime:
    return value if url.startswith("postgresql") else value.replace(tzinfo=None)


def _seed(url: str) -> None:
    """A backlog due an hour ago, and ``CLAIMED`` pairs claimed by a dead instance (half lapsed, half live), for
    both kinds of work."""
    n = _at(url, NOW)
    run_sql(url, "INSERT INTO sends (message_id, kind, sent_at, started_at, sent_day, source, created_at) "
                 "VALUES ('1', 'message', :n, :n, '2026-12-08', 'csv', :n)", n=n)
    rows = []
    for i in range(BACKLOG + CLAIMED):
        claimed = i >= BACKLOG
        due = (n + timedelta(seconds=-30 if i % 2 else 30)) if claimed else n - timedelta(hours=1)
        rows.append({"phone": f"+3363{i:07d}", "n": n, "due": due, "owner": "dead" if claimed else None})
    engine = make_engine(url, pool=False)
    try:
        with engine.begin() as conn:
            conn.execute(text("INSERT INTO recipients (send_id, message_id, phone_e164, phone_raw, sent_day, final, expired, "
                              "poll_until, next_poll_at, poll_count, cost_checks, next_cost_at, first_seen_at, poll_claimed_by, "
                              "cost_claimed_by) VALUES ((SELECT id FROM sends), '1', :phone, :phone, '2026-12-08', FALSE, FALSE, "
                              ":n, :due, 1, 0, :due, :n, :owner, :owner)"), rows)
    finally:
        engine.dispose()
    run_sql(url, "ANALYZE TABLE recipients" if url.startswith("mariadb") else "ANALYZE recipients")


def _lapsed(url: str) -> list[int]:
    return [run_sql(url, LAPSED.format(owner=w.owner.name, due=w.due.name), now=_at(url, NOW))[0][0] for w in (claims.POLL, claims.COST)]


def _plans(url: str) -> dict[str, str]:
    """The plan of each lapsed-claims read as the claim runs it (locking, ``SKIP LOCKED``): PostgreSQL's EXPLAIN,
    SQLite's EXPLAIN QUERY PLAN, MariaDB's EXPLAIN (its rows, keys and extras)."""
    engine = make_engine(url, pool=False)
    try:
        with engine.connect() as conn:
            backend = backends.of(conn)
            plans = {}
            not_by_tag = (not_(recipients.c.message_id.like("tag:%")),)
            for work, where in ((claims.POLL, not_by_tag), (claims.COST, ())):
                compiled = backend.claimed(claims.lapsed_rows(work, 1, NOW, 100, where)).compile(dialect=conn.dialect)
                params: Any = compiled.construct_params()
                if backend.name == "sqlite":
                    sql, params = "EXPLAIN QUERY PLAN " + compiled.string, tuple(params[k] for k in compiled.positiontup or ())
                else:
                    sql = "EXPLAIN " + compiled.string
                    if backend.name != "postgresql":
                        params = {k: v.replace(tzinfo=None) if isinstance(v, datetime) else v for k, v in params.items()}
                plans[work.name] = " ".join(str(col) for row in conn.exec_driver_sql(sql, params) for col in row)
            conn.rollback()
            return plans
    finally:
        engine.dispose()


def test_migration_0030_reads_the_lapsed_claims_from_the_index_of_claimed_rows(db_url: str) -> None:
    upgrade(db_url, BEFORE)
    _seed(db_url)
    assert _lapsed(db_url) == [CLAIMED // 2] * 2

    upgrade(db_url)
    assert _lapsed(db_url) == [CLAIMED // 2] * 2
    assert run_sql(db_url, "SELECT COUNT(*), COUNT(poll_claimed_by), COUNT(cost_claimed_by) FROM recipients") == [
        (BACKLOG + CLAIMED, CLAIMED, CLAIMED)]
    indexes, drift = indexes_and_drift(db_url, "recipients")
    assert drift == []
    assert indexes[NAMES["poll"]] == ["account_id", "poll_claimed_by", "next_poll_at"]
    assert indexes[NAMES["cost"]] == ["account_id", "cost_claimed_by", "next_cost_at"]
    plans = _plans(db_url)
    for work, plan in plans.items():
        # The claimed rows only (then a sort of those few): not the due index, not the backlog's 2,000.
        assert NAMES[work] in plan and f"_next_{work}_at " not in plan.replace(NAMES[work], ""), plans
        if db_url.startswith("mariadb"):
            assert " range " in f" {plan} " and str(BACKLOG) not in plan, plans

    downgrade(db_url, BEFORE)
    indexes, _ = indexes_and_drift(db_url, "recipients")
    assert not set(NAMES.values()) & set(indexes)
    assert _lapsed(db_url) == [CLAIMED // 2] * 2
    upgrade(db_url)
    assert set(NAMES.values()) <= set(indexes_and_drift(db_url, "recipients")[0])
