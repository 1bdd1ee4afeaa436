"""Cost reads (``GET /message-status``) with K in flight, and what the shared API budget costs per call (issue 20).

The simulator runs in a **separate process** with a 20 ms delay on every ``message-status`` (the network
stand-in that keeps the reads I/O-bound). Variants, same pairs, one runner:

* ``reads_k``: `etl.api.concurrent.in_flight` with K = 1, 4, 8, 16 on one client: reads/s.
* ``budgeted``: K = 8 with a shared budget (`etl.budget.SharedBudget`, 30,000 calls/min, above what K = 8 reaches)
  on a database (``--db``, default a SQLite file in a temporary directory): the budget's transaction per call.

Usage: ``python bench/concurrent_reads.py [--pairs 400] [--delay 0.02] [--db URL]`` (the URL's database migrated here).
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import tempfile
import time
from typing import Any

KEY = "bench-key-not-secret"
#: Calls per minute of the budgeted variant: above what K = 8 reaches here, so it measures the cost, not the pacing.
BUDGET = 30_000


def _serve(conn: Any, pairs: int, delay: float) -> None:
    from datetime import timedelta

    from etl.simulator import Simulator, SimulatorServer

    sim = Simulator(api_key=KEY, seed=5)
    sim.max_calls = 1000
    out: list[tuple[str, str]] = []
    for start in range(0, pairs, 500):
        phones = [f"+336{n:08d}" for n in range(start, min(start + 500, pairs))]
        mid = sim.send(phones, "bench", sandbox=True)
        out.extend((str(mid), p) for p in phones)
    sim.clock.advance(timedelta(hours=1))
    sim.faults.inject("message-status", "delay", rate=1.0, seconds=delay)
    server = SimulatorServer(sim).start()
    conn.send((server.base_url, out))
    conn.recv()
    server.stop()


def reads_k(client: Any, pairs: list[tuple[str, str]], k: int) -> float:
    """message-status for every pair, K in flight: reads/s."""
    from etl.api.concurrent import in_flight

    start = time.perf_counter()
    for done in in_flight(lambda pair: client.message_status(*pair), pairs, concurrency=k):
        done.get()
    return len(pairs) / (time.perf_counter() - start)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--pairs", type=int, default=400)
    parser.add_argument("--delay", type=float, default=0.02)
    parser.add_argument("--db", default="")
    args = parser.parse_args()

    from etl.accounts import PARENT
    from etl.api import SmsPartnerClient
    from etl.api.budget import BudgetRules
    from etl.budget import SharedBudget
    from etl.config import Secret
    from etl.db.engine import make_engine
    from etl.db.migrate import upgrade

    parent, child = mp.Pipe()
    proc = mp.Process(target=_serve, args=(child, args.pairs, args.delay), daemon=True)
    proc.start()
    base_url, pairs = parent.recv()
    results: dict[str, Any] = {"pairs": len(pairs), "delay_s": args.delay}
    try:
        for k in (1, 4, 8, 16):
            with SmsPartnerClient(base_url, Secret(KEY), concurrency=k) as client:
                results[f"reads_per_s_k{k}"] = round(reads_k(client, pairs, k), 1)
        with tempfile.TemporaryDirectory() as tmp:
            url = args.db or f"sqlite:///{tmp}/budget.sqlite3"
            upgrade(url)
            engine = make_engine(url)
            budget = SharedBudget(engine, PARENT.id, BudgetRules(per_window=BUDGET))
            budget.take("me")  # creates the slots once (about a second for 30,000): not what a call costs
            with SmsPartnerClient(base_url, Secret(KEY), concurrency=8, budget=budget) as client:
                results["reads_per_s_k8_budgeted"] = round(reads_k(client, pairs, 8), 1)
            results["budget_backend"] = engine.dialect.name
            engine.dispose()
    finally:
        parent.send("stop")
        proc.join(10)
    print(json.dumps(results))


if __name__ == "__main__":
    main()
