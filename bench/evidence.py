"""`evidence` and breach detection on a large database: 1 M stop periods, 10 M status rows (issue 18).

    python scripts/with_servers.py --postgresql -- .venv/bin/python bench/evidence.py [--stops N] [--recipients N]

Builds the schema with ``db upgrade``, generates the rows set-based in the database (``generate_series`` on
PostgreSQL, a recursive CTE on SQLite: no Python object per row), ANALYZEs, then times the breach detection
(`etl.compliance.breaches.detect`, all accounts) and `evidence.gather` for numbers that are stopped, texted, or
both. Recipients draw their numbers from 10 M, the stops from the same space, so about one recipient in ten is a
stopped number; most stops are dated after the sends, so breaches are a small share. Figures: docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from sqlalchemy import text  # noqa: E402

from etl.compliance import breaches, evidence  # noqa: E402
from etl.db.engine import make_engine  # noqa: E402
from etl.db.migrate import upgrade  # noqa: E402

SPACE = 10_000_000
NOW = datetime(2026, 12, 3, tzinfo=timezone.utc)


def _series(dialect: str, n: int) -> str:
    if dialect == "postgresql":
        return f"(SELECT generate_series(1, {n}) AS i) g"
    return f"(WITH RECURSIVE c(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM c WHERE i < {n}) SELECT i FROM c) g"


def _ts(dialect: str, days: str) -> str:
    if dialect == "postgresql":
        return f"(TIMESTAMPTZ '2026-01-01 00:00:00+00' + ({days}) * INTERVAL '1 day')"
    return f"strftime('%Y-%m-%d %H:%M:%f', '2026-01-01', '+' || ({days}) || ' days')"


def _phone(expr: str) -> str:
    return f"'+336' || SUBSTR(CAST(({expr}) + 100000000 AS TEXT), 2, 8)"


def generate(url: str, stops: int, recipients: int, events_per: int) -> dict[str, float]:
    engine = make_engine(url)
    dialect = engine.dialect.name
    timings: dict[str, float] = {}
    day, stopped = _ts(dialect, "i % 60"), _ts(dialect, "i % 400")
    statements = {
        "stops": f"INSERT INTO stop_periods (api_stop_id, phone_e164, phone_raw, api_created_at, first_seen_at, source, account_id) "
                 f"SELECT i, {_phone(f'(i * 7) % {SPACE}')}, 'x', {stopped}, {stopped}, 'sync', 1 FROM {_series(dialect, stops)}",
        "sends": f"INSERT INTO sends (message_id, kind, sent_at, started_at, sent_day, source, created_at, account_id) "
                 f"SELECT CAST(i AS TEXT), 'message', {day}, {day}, '2026-01-01', 'bench', {day}, 1 "
                 f"FROM {_series(dialect, recipients // 500 + 1)}",
        "recipients": f"INSERT INTO recipients (send_id, message_id, phone_e164, phone_raw, sent_day, status, final, expired, "
                      f"poll_until, poll_count, cost_checks, first_seen_at, account_id) "
                      f"SELECT i / 500 + 1, CAST(i / 500 + 1 AS TEXT), {_phone(f'(i * 13) % {SPACE}')}, 'x', '2026-01-01', 'Delivered', "
                      f"TRUE, FALSE, {_ts(dialect, '2')}, 3, 1, {_ts(dialect, '0')}, 1 FROM {_series(dialect, recipients)}",
        "status_events": f"INSERT INTO status_events (recipient_id, status, status_at, observed_at, source) "
                         f"SELECT r.id, 'Waiting', r.first_seen_at, r.first_seen_at, 'bench' FROM recipients r CROSS JOIN "
                         f"{_series(dialect, events_per)}",
    }
    for name, sql in statements.items():
        started = time.perf_counter()
        with engine.begin() as conn:
            conn.execute(text(sql))
        timings[f"generate {name}"] = time.perf_counter() - started
    with engine.begin() as conn:
        conn.execute(text("ANALYZE"))
    engine.dispose()
    return timings


def measure(url: str, repeats: int) -> dict[str, list[float]]:
    engine = make_engine(url)
    out: dict[str, list[float]] = {"breach detection (first)": [], "breach detection (again)": [], "evidence": []}
    with engine.begin() as conn:
        started = time.perf_counter()
        added = breaches.detect(conn, grace_seconds=3600, now=NOW)
        out["breach detection (first)"].append(time.perf_counter() - started)
    print(f"   breaches recorded: {added}")
    for _ in range(repeats):
        with engine.begin() as conn:
            started = time.perf_counter()
            breaches.detect(conn, grace_seconds=3600, now=NOW)
            out["breach detection (again)"].append(time.perf_counter() - started)
    with engine.connect() as conn:
        numbers = [row[0] for row in conn.execute(text("SELECT phone_e164 FROM breaches ORDER BY id LIMIT 3"))]
        numbers += [row[0] for row in conn.execute(text("SELECT phone_e164 FROM recipients ORDER BY id LIMIT 2"))]
        for number in numbers * repeats:
            started = time.perf_counter()
            evidence.gather(conn, number)
            out["evidence"].append(time.perf_counter() - started)
    engine.dispose()
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--stops", type=int, default=1_000_000)
    parser.add_argument("--recipients", type=int, default=2_500_000)
    parser.add_argument("--events-per", type=int, default=4, help="status_events per recipient (10 M with the defaults)")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--backends", default="sqlite,postgresql")
    args = parser.parse_args()
    urls = {"sqlite": f"sqlite:///{tempfile.mkdtemp()}/evidence.sqlite3", "postgresql": os.environ.get("SMSETL_POSTGRESQL_URL")}
    for backend in args.backends.split(","):
        url = urls.get(backend)
        if not url:
            print(f"{backend}: no URL (run under scripts/with_servers.py --postgresql)")
            continue
        upgrade(url)
        print(f"== {backend}: {args.stops:,} stops, {args.recipients:,} recipients, {args.recipients * args.events_per:,} status events")
        for name, seconds in generate(url, args.stops, args.recipients, args.events_per).items():
            print(f"   {name}: {seconds:.1f} s")
        for name, values in measure(url, args.repeats).items():
            print(f"   {name}: median {statistics.median(values):.3f} s over {len(values)} (max {max(values):.3f})")


if __name__ == "__main__":
    main()
