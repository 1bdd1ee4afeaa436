"""What is due, and the apply of one batch, as history grows: 1 M, 5 M, 20 M recipient rows (issue 20).

    .venv/bin/python scripts/with_servers.py --postgresql -- \\
        .venv/bin/python bench/history_growth.py --backend postgresql --sizes 1000000,5000000,20000000
    .venv/bin/python bench/history_growth.py --backend sqlite --sizes 1000000,5000000

Per size, a fresh database at ``upgrade head`` is seeded inside the database (SQL only: ``generate_series`` on
PostgreSQL, a recursive CTE on SQLite; indexes dropped during the load and built after, then ``ANALYZE``):
``--sizes`` recipients in sends of 500, of which the newest ``--pending`` are pending (half of them due now, the
rest within the hour) and the ``--cost-due`` before them final with their first cost read due; every other
recipient is final, priced and has one status event, as a database weeks old has. Then, on a warm connection,
``--repeat`` times each (medians printed, each repeat rolled back so every one sees the same data):

- **due**: `status_cycle.due_pairs` (up to 250,000 pairs) and the cost reads' due query (1,500);
- **pending gauge**: the ``/metrics`` scrape's count of pending recipients;
- **apply statuses**: `status_apply.apply_statuses` of 2,000 due pairs (half become final, half stay pending);
- **apply costs**: `status_apply.apply_costs` of 2,000 due cost reads (1,500 found, 500 missing).

Two forms of the due indexes are measured on the same data in the same run: ``full`` (an entry for every recipient
ever seen, as before migration 0023) and ``partial`` (only what is due: ``WHERE next_poll_at IS NOT NULL``, and the
same for ``next_cost_at``; ``ix_recipients_account_id_final_expired`` only for what is not final), with
their sizes on PostgreSQL. ``--forms full,partial,partitioned`` (PostgreSQL) adds the prototype of issue 20's
"History that stays small where it is hot": ``status_events`` partitioned by month, the same apply measured on it,
and on each form the retention of the two oldest months (whole partitions dropped against one ``DELETE``; once,
rolled back). The goal: an apply of 2,000 pairs ≤ 0.3 s at 20 M. Figures: docs/benchmarks.md,
"History growth".
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from collections.abc import Callable
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from _shared import fresh_database, reuse_database
from sqlalchemy import Connection, text

from etl.config import StatusesConfig
from etl.db import dialect
from etl.db.engine import make_engine
from etl.db.migrate import revision_module, upgrade
from etl.db.schema import recipients, status_events
from etl.jobs.status_apply import CostRow, StatusRow, Tally, apply_costs, apply_statuses
from etl.jobs.status_cycle import due_pairs

NOW = datetime(2026, 12, 4, 3, 0, tzinfo=UTC)
PER_SEND = 500
#: The /metrics scrape's pending count (`etl.metrics.DB_GAUGES`).
PENDING_GAUGE = "SELECT COUNT(*) FROM recipients WHERE next_poll_at IS NOT NULL"
BATCH = 2_000

def _partial_indexes() -> dict[str, tuple[str, str]]:
    """Migration 0023's partial indexes, by name: (columns, predicate)."""
    module = revision_module("0023_due_indexes_partial.py")
    return {f"ix_recipients_account_id_{'_'.join(cols)}": (", ".join(cols), where) for cols, where in module.PARTIAL}


DUE_INDEXES = _partial_indexes()

# One text per backend for what differs: the row source and the spelling of times and booleans. {n}, {p}, {c}: sizes.
SQLITE_IDS = "WITH RECURSIVE g(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM g WHERE i < {limit}) SELECT i FROM g"
PG_IDS = "SELECT i FROM generate_series(1, {limit}) AS g(i)"


def _at(backend: str, seconds: str) -> str:
    """NOW plus ``seconds`` (an SQL expression) in the column's stored form."""
    if backend == "sqlite":  # naive UTC text with microseconds, as SQLAlchemy writes it (text order is time order)
        return f"(datetime('{NOW:%Y-%m-%d %H:%M:%S}', ({seconds}) || ' seconds') || '.000000')"
    return f"(TIMESTAMPTZ '{NOW.isoformat()}' + ({seconds}) * INTERVAL '1 second')"


def _seed_sql(backend: str, n: int, pending: int, cost_due: int) -> list[str]:
    ids = SQLITE_IDS if backend == "sqlite" else PG_IDS
    t, f = ("1", "0") if backend == "sqlite" else ("TRUE", "FALSE")
    lpad = "substr('000000000' || {x}, -9, 9)" if backend == "sqlite" else "lpad(({x})::text, 9, '0')"
    sends = n // PER_SEND + 1
    mid = "'m' || " + lpad.format(x="((i - 1) / 500 + 1)")
    day = "date('2026-08-26', '+' || ((i - 1) * 100 / {n}) || ' days')" if backend == "sqlite" else \
        "DATE '2026-08-26' + ((i - 1)::bigint * 100 / {n})::int"
    first_pending, first_cost = n - pending + 1, n - pending - cost_due + 1
    is_pending, is_cost_due = f"i >= {first_pending}", f"i >= {first_cost} AND i < {first_pending}"
    old = _at(backend, "-86400 * 2")
    observed = "sent_day || ' 09:00:00.000000'" if backend == "sqlite" else "(sent_day + TIME '09:00') AT TIME ZONE 'UTC'"
    return [
        f"INSERT INTO sends (id, message_id, kind, sent_at, started_at, sent_day, source, created_at, account_id) "
        f"SELECT i, 'm' || {lpad.format(x='i')}, 'message', {old}, {old}, "
        f"{(day.replace('(i - 1)', '(i - 1) * 500')).format(n=n)}, 'bench', {old}, 1 "
        f"FROM ({ids.format(limit=sends)}) s",
        # Pending: half due now (spread over the last half hour), half within the next half hour.
        f"INSERT INTO recipients (id, send_id, message_id, phone_e164, phone_raw, sent_day, status, status_at, final, "
        f"final_seen_at, expired, poll_until, next_poll_at, poll_count, last_polled_at, cost, currency, country, "
        f"cost_checks, cost_checked_at, next_cost_at, first_seen_at, account_id) "
        f"SELECT i, (i - 1) / 500 + 1, {mid}, '+33' || (600000000 + i), '0' || (600000000 + i), {day.format(n=n)}, "
        f"CASE WHEN {is_pending} THEN NULL ELSE 'Delivered' END, CASE WHEN {is_pending} THEN NULL ELSE {old} END, "
        f"CASE WHEN {is_pending} THEN {f} ELSE {t} END, CASE WHEN {is_pending} THEN NULL ELSE {old} END, {f}, "
        f"CASE WHEN {is_pending} THEN {_at(backend, '86400')} ELSE {old} END, "
        f"CASE WHEN {is_pending} THEN {_at(backend, '(i - i / 3600 * 3600) - 1800')} ELSE NULL END, "
        f"CASE WHEN {is_pending} THEN 1 ELSE 3 END, {old}, "
        f"CASE WHEN i < {first_cost} THEN 0.045 ELSE NULL END, CASE WHEN i < {first_cost} THEN 'EUR' ELSE NULL END, "
        f"CASE WHEN i < {first_cost} THEN 'FR' ELSE NULL END, CASE WHEN i < {first_cost} THEN 1 ELSE 0 END, "
        f"CASE WHEN i < {first_cost} THEN {old} ELSE NULL END, "
        f"CASE WHEN {is_cost_due} THEN {_at(backend, '-(i - i / 600 * 600)')} ELSE NULL END, {old}, 1 "
        f"FROM ({ids.format(limit=n)}) g",
        # Observed on the recipient's day (9:00 UTC): history spread over the months the partitions split.
        "INSERT INTO status_events (recipient_id, status, status_at, observed_at, source) "
        f"SELECT id, status, status_at, {observed}, 'multi-status' FROM recipients WHERE status IS NOT NULL",
    ]


def _due_index(name: str, partial: bool) -> str:
    """Text, not an `Index` of the models' table: that would join the metadata's indexes for good."""
    columns, where = DUE_INDEXES[name]
    return f"CREATE INDEX {name} ON recipients (account_id, {columns})" + (f" WHERE {where}" if partial else "")


def set_due_indexes(conn: Connection, *, partial: bool) -> None:
    """The due indexes in one form (dropped first, whatever form the head gave them), then fresh statistics."""
    for name in DUE_INDEXES:
        conn.exec_driver_sql(f"DROP INDEX IF EXISTS {name}")
        conn.exec_driver_sql(_due_index(name, partial))
    conn.exec_driver_sql("ANALYZE" if dialect.backend(conn) == "sqlite" else "ANALYZE recipients")


#: The partitioning prototype (PostgreSQL): status_events by month of observed_at, the months the seed covers and two ahead.
MONTHS = ("2026-08", "2026-09", "2026-10", "2026-11", "2026-12", "2027-01", "2027-02")
#: Retention measured: every event observed before this (the seed's first two months).
RETAIN_FROM = "2026-10-01"


def partition_events(conn: Connection) -> None:
    """``status_events`` as a table partitioned by month of ``observed_at``, every row copied in: the same
    columns, a primary key that includes the partition key (PostgreSQL requires it), the same indexes and keys."""
    conn.exec_driver_sql("ALTER TABLE status_events RENAME TO status_events_plain")
    conn.exec_driver_sql("CREATE TABLE status_events (LIKE status_events_plain INCLUDING DEFAULTS) PARTITION BY RANGE (observed_at)")
    for month, after in zip(MONTHS, MONTHS[1:], strict=False):
        conn.exec_driver_sql(f"CREATE TABLE status_events_{month.replace('-', '')} PARTITION OF status_events "
                             f"FOR VALUES FROM ('{month}-01 00:00+00') TO ('{after}-01 00:00+00')")
    conn.exec_driver_sql("INSERT INTO status_events SELECT * FROM status_events_plain")
    conn.exec_driver_sql("ALTER TABLE status_events ADD PRIMARY KEY (id, observed_at)")
    conn.exec_driver_sql("CREATE INDEX ix_status_events_p_recipient_id_observed_at ON status_events (recipient_id, observed_at)")
    conn.exec_driver_sql("CREATE INDEX ix_status_events_p_run_id ON status_events (run_id)")
    conn.exec_driver_sql("ALTER TABLE status_events ADD FOREIGN KEY (recipient_id) REFERENCES recipients (id)")
    conn.exec_driver_sql("ALTER TABLE status_events ADD FOREIGN KEY (run_id) REFERENCES sync_runs (id)")
    conn.exec_driver_sql("ALTER SEQUENCE status_events_id_seq OWNED BY status_events.id")  # the ids go on where they were
    conn.exec_driver_sql("DROP TABLE status_events_plain")
    conn.exec_driver_sql("ANALYZE status_events")


def retention(conn: Connection, partitioned: bool) -> None:
    """The events before `RETAIN_FROM` gone: whole partitions dropped, or one ``DELETE`` (rolled back by the caller)."""
    if partitioned:
        for month in MONTHS[:MONTHS.index(RETAIN_FROM[:7])]:
            conn.exec_driver_sql(f"DROP TABLE status_events_{month.replace('-', '')}")
    else:
        conn.exec_driver_sql(f"DELETE FROM status_events WHERE observed_at < '{RETAIN_FROM} 00:00+00'")


def seed(url: str, backend: str, n: int, pending: int, cost_due: int) -> float:
    engine = make_engine(url)
    started = time.perf_counter()
    with engine.begin() as conn:
        dialect.transaction_work_mem(conn, 512)
        for table in (recipients, status_events):
            dialect.drop_indexes(conn, table)
        dropped = dialect.drop_constraints(conn, recipients) + dialect.drop_constraints(conn, status_events)
        with dialect.sqlite_cache(conn, 512):
            for statement in _seed_sql(backend, n, pending, cost_due):
                conn.exec_driver_sql(statement)
            dialect.add_constraints(conn, dropped)
            for table in (recipients, status_events):
                dialect.create_indexes(conn, table)
    with engine.connect() as conn:
        if backend == "postgresql":  # the ids were given: the sequences go past them
            for table in ("sends", "recipients"):
                conn.exec_driver_sql(f"SELECT setval('{table}_id_seq', (SELECT MAX(id) FROM {table}))")
        conn.exec_driver_sql("ANALYZE")
        conn.commit()
        if backend == "sqlite":  # the seed's WAL (GBs) into the file, as the automatic checkpoints keep a live database
            conn.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")
    engine.dispose()
    return time.perf_counter() - started


def _median(fn: Callable[[Connection, int], Any], conn: Connection, repeat: int) -> float:
    seconds = []
    for k in range(repeat + 1):  # the first one warms the cache and is not counted
        started = time.perf_counter()
        fn(conn, k)
        elapsed = time.perf_counter() - started
        conn.rollback()
        if k:
            seconds.append(elapsed)
    return round(statistics.median(seconds), 4)


def measure(url: str, repeat: int, *, partitioned: bool = False, with_retention: bool = False) -> dict[str, float]:
    engine = make_engine(url)
    config = StatusesConfig()
    with engine.connect() as conn:
        due = [(mid, phone) for mid, phones in due_pairs(conn, NOW).items() for phone in phones]
        r = recipients.c
        cost_query = (
            text("SELECT message_id, phone_e164 FROM recipients WHERE account_id = 1 AND next_cost_at <= :now "
                 "ORDER BY next_cost_at LIMIT 1500")
        )
        cost_due = [tuple(row) for row in conn.execute(
            recipients.select().with_only_columns(r.message_id, r.phone_e164).where(r.account_id == 1, r.next_cost_at <= NOW)
            .order_by(r.next_cost_at).limit(BATCH * (repeat + 1))
        )]
        conn.rollback()
        if len(due) < BATCH * (repeat + 1) or len(cost_due) < BATCH * (repeat + 1):
            raise SystemExit(f"too few due pairs for {repeat} repeats: {len(due)} due, {len(cost_due)} cost reads")

        def statuses(c: Connection, k: int) -> None:
            rows = [
                StatusRow(message_id=mid, phone_e164=phone, ok=True, polled=True, source="multi-status",
                          status="Delivered" if i % 2 else "Waiting", status_at=NOW, final=bool(i % 2))
                for i, (mid, phone) in enumerate(due[k * BATCH:(k + 1) * BATCH])
            ]
            apply_statuses(c, rows, now=NOW, run_id=None, config=config, tally=Tally())

        def costs(c: Connection, k: int) -> None:
            rows = [
                CostRow(message_id=mid, phone_e164=phone, kind="found" if i % 4 else "missing", next_cost_at=None,
                        cost=Decimal("0.045") if i % 4 else None, currency="EUR" if i % 4 else None, country="FR")
                for i, (mid, phone) in enumerate(cost_due[k * BATCH:(k + 1) * BATCH])
            ]
            apply_costs(c, rows, now=NOW, run_id=None, tally=Tally())

        figures = {
            "due_s": _median(lambda c, k: due_pairs(c, NOW), conn, repeat),
            "cost_due_s": _median(lambda c, k: c.execute(cost_query, {"now": NOW}).all(), conn, repeat),
            "pending_gauge_s": _median(lambda c, k: c.exec_driver_sql(PENDING_GAUGE).all(), conn, repeat),
            "apply_statuses_s": _median(statuses, conn, repeat),
            "apply_costs_s": _median(costs, conn, repeat),
            "due_pairs": len(due),
        }
        if with_retention:
            started = time.perf_counter()  # once: a DELETE of millions of rows is not repeated
            retention(conn, partitioned)
            figures["retention_s"] = round(time.perf_counter() - started, 3)
            conn.rollback()
        if dialect.backend(conn) == "postgresql":
            for name in DUE_INDEXES:
                size = conn.exec_driver_sql(f"SELECT pg_relation_size('{name}')").scalar_one()
                figures[f"{name.removeprefix('ix_recipients_account_id_')}_mb"] = round(size / 2**20, 1)
        conn.rollback()
    engine.dispose()
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--backend", default="sqlite", choices=("sqlite", "postgresql"))
    parser.add_argument("--sizes", default="1000000,5000000,20000000")
    parser.add_argument("--pending", type=int, default=250_000)
    parser.add_argument("--cost-due", type=int, default=20_000)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--forms", default="full,partial",
                        help="due index forms to measure, in this order; 'partitioned' (PostgreSQL, last): partial, and "
                             "status_events partitioned by month")
    parser.add_argument("--reuse", action="store_true", help="measure the databases an earlier run seeded (same sizes)")
    args = parser.parse_args()
    for n in (int(s) for s in args.sizes.split(",")):
        name = f"bench_history_{n}"
        if args.reuse:  # the database a run before seeded at this size (to compare code on the same data)
            url = reuse_database(args.backend, name)
            seeded = 0.0
        else:
            url = fresh_database(args.backend, name)
            upgrade(url)
            seeded = seed(url, args.backend, n, args.pending, args.cost_due)
        results: dict[str, Any] = {}
        for form in args.forms.split(","):
            engine = make_engine(url)
            with engine.begin() as conn:
                set_due_indexes(conn, partial=form != "full")
                if form == "partitioned":
                    started = time.perf_counter()
                    partition_events(conn)
                    results["partitioning_s"] = round(time.perf_counter() - started, 1)
            engine.dispose()
            results[form] = measure(url, args.repeat, partitioned=form == "partitioned",
                                    with_retention="partitioned" in args.forms and form != "full")
        loadavg = Path("/proc/loadavg").read_text().strip()
        print(json.dumps({"backend": args.backend, "recipients": n, "pending": args.pending, "seed_s": round(seeded, 1),
                          **results, "loadavg": loadavg}), flush=True)


if __name__ == "__main__":
    main()
