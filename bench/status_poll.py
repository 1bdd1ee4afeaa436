"""Status polling at scale: one full cycle, then a 48 h simulated life, beside the naive baseline.

    .venv/bin/python bench/status_poll.py                 # 100,000 recipients over 500 sends + 20,000 scattered
    .venv/bin/python bench/status_poll.py --scale 0.1     # a tenth, for a quick look
    .venv/bin/python bench/status_poll.py --db postgresql+psycopg://...   # another backend (empty database)

What it measures (issue 5 goals in brackets):

- **one cycle** over every recipient pending at once: calls per endpoint [≤ 300], wall time
  [≤ 60 s on SQLite], rows written;
- **a 48 h life** (cycles every ``--every`` simulated minutes until 50 h): status calls per recipient
  [≤ 0.05] and cost calls per recipient [≤ 1.1];
- the **naive baseline**: one ``/message-status`` per recipient every 5 minutes for 48 h = 576 calls
  per recipient (what a fixed-beat poller does), computed for the same recipients.

The simulator runs in this process on a loopback port with its default delivery plans (80 % delivered
within 90 s, some over hours, 4 % never; 15 % of costs appear 10 min to 6 h after the report).
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from collections import Counter
from datetime import timedelta, timezone
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from etl.api.client import SmsPartnerClient  # noqa: E402
from etl.config import ApiConfig, Config, DatabaseConfig, Secret  # noqa: E402
from etl.db.engine import make_engine  # noqa: E402
from etl.db.migrate import upgrade  # noqa: E402
from etl.runner import run_job  # noqa: E402
from etl.simulator import Simulator, SimulatorServer  # noqa: E402
from etl.tracking import TrackedSend, track  # noqa: E402

KEY = "bench-key-not-a-secret"
NAIVE_PER_RECIPIENT = 48 * 60 // 5  # 576
STATUS_ENDPOINTS = ("multi-status", "bulk-status", "bulk-status-by-tag")


def phone(i: int) -> str:
    return f"+336{10_000_000 + i:08d}"


def build(sim: Simulator, sends: int, per_send: int, scattered: int) -> list[TrackedSend]:
    """``sends`` sends of ``per_send`` recipients, all tracked; plus ``scattered`` pairs, one tracked
    recipient out of 5 in each of ``scattered`` other sends."""
    now = sim.clock.now().astimezone(timezone.utc)
    items: list[TrackedSend] = []
    n = 0
    for _ in range(sends):
        numbers = [phone(n + k) for k in range(per_send)]
        n += per_send
        items.append(TrackedSend(sim.send(numbers), numbers, sent_at=now))
    for _ in range(scattered):
        numbers = [phone(n + k) for k in range(5)]
        n += 5
        items.append(TrackedSend(sim.send(numbers), numbers[:1], sent_at=now))
    return items


def calls_by_endpoint(sim: Simulator) -> Counter[str]:
    return Counter(c.endpoint for c in sim.calls)


def rows_written(figures: dict[str, float]) -> int:
    return int(figures.get("status_events", 0) + figures.get("cost_events", 0) + figures.get("expired", 0))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--scale", type=float, default=1.0)
    parser.add_argument("--every", type=float, default=15.0, help="simulated minutes between cycles in the life")
    parser.add_argument("--db", default=None, help="SQLAlchemy URL of an empty database (default: a temp SQLite file)")
    args = parser.parse_args()

    sends, per_send, scattered = int(500 * args.scale), 200, int(20_000 * args.scale)
    tmp = tempfile.TemporaryDirectory()
    url = args.db or f"sqlite:///{tmp.name}/bench.sqlite3"
    upgrade(url)
    engine = make_engine(url)
    sim = Simulator(api_key=KEY, seed=7)
    sim.max_calls = 10_000_000
    sim.balance = sim.balance * 1000
    server = SimulatorServer(sim)
    server.start()
    try:
        config = Config(api=ApiConfig(base_url=server.base_url, max_attempts=3), database=DatabaseConfig(url=url))
        client = SmsPartnerClient(server.base_url, Secret(KEY), max_attempts=3, max_retry_seconds=5, sleep=lambda s: None)
        clock = lambda: sim.clock.now().astimezone(timezone.utc)  # noqa: E731

        t = time.perf_counter()
        items = build(sim, sends, per_send, scattered)
        report = track(engine, items, now=clock(), config=config.statuses, source="bench")
        recipients = report.recipients_added
        print(f"setup: {recipients:,} recipients over {len(items):,} sends tracked in {time.perf_counter() - t:.1f}s")
        sim.reset_calls()

        # --- one full cycle: everything due at once -------------------------------------------
        sim.clock.advance(timedelta(minutes=2))
        t = time.perf_counter()
        one = run_job("statuses", config=config, client=client, engine=engine, now=clock)
        wall = time.perf_counter() - t
        first_calls = calls_by_endpoint(sim)
        figures = one.result.figures if one.result else {}
        total_first = sum(first_calls.values())
        print("\n== one cycle over every pending recipient ==")
        print(f"outcome {one.outcome}; due {int(figures.get('due', 0)):,}; wall {wall:.1f}s (goal ≤ 60 s on SQLite)")
        print(f"calls: {dict(sorted(first_calls.items()))} = {total_first} (goal ≤ 300; naive: {recipients:,})")
        print(f"rows written: {rows_written(figures):,} (status events {int(figures.get('status_events', 0)):,})")

        # --- the rest of a 48 h life ----------------------------------------------------------
        t = time.perf_counter()
        cycles = 1
        elapsed = timedelta(minutes=2)
        while elapsed < timedelta(hours=50):
            step = timedelta(minutes=args.every)
            sim.clock.advance(step)
            elapsed += step
            r = run_job("statuses", config=config, client=client, engine=engine, now=clock)
            if r.outcome != "success":
                print(f"cycle {cycles}: {r.outcome} {r.error or (r.result.detail if r.result else '')}")
            cycles += 1
        life_wall = time.perf_counter() - t
        calls = calls_by_endpoint(sim)
        status_calls = sum(calls[e] for e in STATUS_ENDPOINTS)
        cost_calls = calls["message-status"]
        with engine.connect() as conn:
            from sqlalchemy import text

            states = dict(
                conn.execute(
                    text(
                        "SELECT CASE WHEN final THEN 'final' WHEN expired THEN 'expired' ELSE 'pending' END, COUNT(*)"
                        " FROM recipients GROUP BY CASE WHEN final THEN 'final' WHEN expired THEN 'expired' ELSE 'pending' END"
                    )
                ).all()
            )
            events = conn.execute(text("SELECT COUNT(*) FROM status_events")).scalar_one()
            costs = conn.execute(text("SELECT COUNT(*) FROM cost_events")).scalar_one()
            with_cost = conn.execute(text("SELECT COUNT(*) FROM recipients WHERE cost IS NOT NULL")).scalar_one()
        print(f"\n== 48 h life: {cycles} cycles every {args.every:g} simulated min, {life_wall:.0f}s wall ==")
        print(f"calls: {dict(sorted(calls.items()))}")
        print(
            f"status calls per recipient: {status_calls / recipients:.4f} (goal ≤ 0.05)   "
            f"cost calls per recipient: {cost_calls / recipients:.3f} (goal ≤ 1.1)"
        )
        print(
            f"naive baseline: {NAIVE_PER_RECIPIENT} message-status calls per recipient = "
            f"{NAIVE_PER_RECIPIENT * recipients:,} calls; this run: {status_calls + cost_calls:,} "
            f"({(status_calls + cost_calls) / (NAIVE_PER_RECIPIENT * recipients):.4%} of naive)"
        )
        print(f"recipients: {states}; with cost: {with_cost:,}; status events {events:,}; cost events {costs:,}")
    finally:
        server.stop()
        engine.dispose()
        tmp.cleanup()


if __name__ == "__main__":
    main()
