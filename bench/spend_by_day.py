"""``spend_by_day`` on a seeded database: one day's spend of every account, over a million priced recipients.

    .venv/bin/python bench/spend_by_day.py [--recipients 1000000] [--backend sqlite|postgresql|mariadb]
    .venv/bin/python scripts/with_servers.py --mariadb -- .venv/bin/python bench/spend_by_day.py --backend mariadb

Seeds (bulk loads, not the jobs: the query is measured, not the sync) ``--recipients`` priced recipients over
``--days`` days and ``--accounts`` accounts (one send per account and day) and one rental order per account, then
times the documented one-day query (docs/schema.md, "Spend and balances per account") ``--repeat`` times on a warm
connection, right after the seed and again with fresh planner statistics, and prints the medians with
``/proc/loadavg``. Each query runs on the view as it is (over ``spend_days``, rebuilt after the seed) and on the
recipients' view it replaced (0010/0012, created beside it as ``<view>_recipients``) in the same run, and the two
answers must be equal; ``spend_daily``'s one day is timed too. Figures: docs/benchmarks.md, "spend_by_day".
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from _shared import fresh_database
from sqlalchemy import Column, MetaData, Table, insert, text

from etl.db import dialect
from etl.db.engine import make_engine
from etl.db.migrate import revision_module, upgrade
from etl.db.schema import accounts, recipients, rental_costs, rentals, sends
from etl.db.spend_rollup import rebuild

QUERIES = {
    "spend_by_day": "SELECT account_label, kind, currency, amount, count FROM {view} WHERE day = :day "
                    "ORDER BY account_label, kind, currency",
    "spend_daily": "SELECT account_label, country, currency, recipients, spend FROM {view} WHERE sent_day = :day "
                   "ORDER BY account_label, country, currency",
}
#: The views as they were before ``spend_days`` (0010, 0012: aggregates of the recipients), beside the rollup's.
OLD_VIEWS = {"spend_by_day": ("0012_rental_costs_spend_views.py", "SPEND_BY_DAY"), "spend_daily": ("0010_accounts.py", "SPEND_DAILY")}
FIRST_DAY = date(2026, 1, 1)


def _database(backend: str) -> str:
    if backend == "mariadb":
        return os.environ["SMSETL_MARIADB_URL"]
    return fresh_database(backend, "bench_spend")


def seed(url: str, total: int, days: int, account_count: int) -> None:
    """Accounts 2.. beside the parent; per account and day one send, its recipients, one rental order."""
    engine = make_engine(url)
    at = datetime(2026, 1, 1, 9, tzinfo=UTC)
    per_send = total // (days * account_count)
    with engine.begin() as conn:
        for n in range(2, account_count + 1):
            conn.execute(insert(accounts).values(label=f"sub{n}", type="simple", parent_id=1, first_seen_at=at))
        sends_by_key: dict[tuple[int, int], int] = {}
        for account in range(1, account_count + 1):
            rental_id = dialect.inserted_id(conn.execute(insert(rentals).values(
                account_id=account, token=f"tok{account}", label="r", source="cli", added_at=at, active=True,
            )))
            for day in range(days):
                sent_day = FIRST_DAY + timedelta(days=day)
                sends_by_key[account, day] = dialect.inserted_id(conn.execute(insert(sends).values(
                    account_id=account, message_id=f"m{account}-{day}", sent_at=at, started_at=at, sent_day=sent_day,
                    source="python", created_at=at,
                )))
                if day == 0:
                    conn.execute(insert(rental_costs).values(
                        rental_id=rental_id, account_id=account, total=Decimal("9.000"), unit_cost=Decimal("0.090"),
                        quantity=100, currency="EUR", cost_day=sent_day, first_seen_at=at, changed_at=at, observed_at=at,
                    ))
        # The recipients' columns but the id (a raw bulk load names every column of the table it is given).
        load = Table("recipients", MetaData(), *(Column(c.name, c.type) for c in recipients.columns if c.name != "id"))
        names = [c.name for c in load.columns]
        def rows():  # noqa: ANN202 - a generator of driver tuples
            # Text every driver takes for these columns (sqlite3 binds no Decimal; naive UTC as the jobs store it).
            naive = at.replace(tzinfo=None).isoformat(sep=" ")
            for (account, day), send_id in sends_by_key.items():
                sent_day = (FIRST_DAY + timedelta(days=day)).isoformat()
                for i in range(per_send):
                    values = {
                        "send_id": send_id, "message_id": f"m{account}-{day}", "phone_e164": f"+336{i:08d}",
                        "phone_raw": f"+336{i:08d}", "sent_day": sent_day, "status": "Delivered", "status_at": naive,
                        "final": True, "final_seen_at": naive, "expired": False, "expired_reason": None,
                        "poll_until": naive, "next_poll_at": None, "poll_count": 1, "last_polled_at": naive,
                        "item_code": None, "item_error": None, "cost": "0.045", "currency": "EUR", "country": "FR",
                        "cost_checks": 1, "cost_checked_at": naive, "next_cost_at": None, "first_seen_at": naive,
                        "account_id": account,
                    }
                    yield tuple(values[name] for name in names)

        dialect.bulk_load(conn, load, rows())
    with engine.connect() as conn:
        dialect.analyze(conn, recipients)
        conn.commit()
    engine.dispose()


def old_views(url: str) -> float:
    """The recipients' views of 0010/0012 beside the rollup's, as ``<view>_recipients``; and the rollup
    rebuilt from the seeded recipients (they were bulk-loaded around the cost reads): its seconds."""
    engine = make_engine(url)
    started = time.perf_counter()
    with engine.begin() as conn:
        rebuild(conn)
    rebuilt = time.perf_counter() - started
    with engine.begin() as conn:
        for view, (filename, name) in OLD_VIEWS.items():
            module = revision_module(filename)
            conn.execute(text(f"DROP VIEW IF EXISTS {view}_recipients"))
            conn.execute(text(getattr(module, name).replace(f"CREATE VIEW {view} AS", f"CREATE VIEW {view}_recipients AS")))
    engine.dispose()
    return rebuilt


def time_query(url: str, repeat: int, day: date) -> dict[str, object]:
    """Each query on the rollup's view and on the recipients' one (the same rows asked for, the same answer)."""
    engine = make_engine(url)
    figures: dict[str, object] = {}
    with engine.connect() as conn:
        for name, query in QUERIES.items():
            answers, medians = [], []
            for view in (name, f"{name}_recipients"):
                sql = text(query.format(view=view))
                conn.execute(sql, {"day": day}).all()  # warm the cache and the plan
                seconds: list[float] = []
                for _ in range(repeat):
                    started = time.perf_counter()
                    rows = conn.execute(sql, {"day": day}).all()
                    seconds.append(time.perf_counter() - started)
                answers.append([tuple(str(v) for v in row) for row in rows])
                medians.append(statistics.median(seconds))
                figures[view] = {"median_ms": round(medians[-1] * 1000, 2),
                                 "min_ms": round(min(seconds) * 1000, 2), "rows": len(rows)}
            if answers[0] != answers[1]:
                raise SystemExit(f"{name}: the rollup's answer differs from the recipients': {answers}")
            figures[f"{name}_ratio"] = round(medians[1] / medians[0], 1)
        conn.rollback()
    engine.dispose()
    return figures


def refresh_statistics(url: str, backend: str) -> None:
    """What a database that grew over weeks has and a bulk-seeded one may lack: planner statistics (SQLite keeps
    none unless asked; InnoDB recalculates in the background, later)."""
    statement = {"sqlite": "ANALYZE", "postgresql": "ANALYZE recipients", "mariadb": "ANALYZE TABLE recipients"}[backend]
    engine = make_engine(url)
    with engine.connect() as conn:
        conn.execute(text(statement)).close()
        conn.commit()
    engine.dispose()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--backend", default="sqlite", choices=("sqlite", "postgresql", "mariadb"))
    parser.add_argument("--recipients", type=int, default=1_000_000)
    parser.add_argument("--days", type=int, default=100)
    parser.add_argument("--accounts", type=int, default=2)
    parser.add_argument("--repeat", type=int, default=20)
    args = parser.parse_args()
    url = _database(args.backend)
    upgrade(url)
    started = time.perf_counter()
    seed(url, args.recipients, args.days, args.accounts)
    seeded = time.perf_counter() - started
    rebuilt = old_views(url)
    day = FIRST_DAY + timedelta(days=args.days // 2)
    fresh = time_query(url, args.repeat, day)
    refresh_statistics(url, args.backend)
    analyzed = time_query(url, args.repeat, day)
    loadavg = Path("/proc/loadavg").read_text().strip()
    print(json.dumps({"backend": args.backend, "recipients": args.recipients, "seed_s": round(seeded, 1), "rollup_rebuild_s": round(rebuilt, 2),
                      "after_seed": fresh, "with_statistics": analyzed, "loadavg": loadavg}))


if __name__ == "__main__":
    main()
