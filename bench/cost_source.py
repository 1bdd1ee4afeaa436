"""Cost source: one /message-status read per recipient (``per_recipient``) against the send's announced cost
(``announced``), the same sends in the same run, every call answered after a simulated round trip.

    .venv/bin/python bench/cost_source.py                    # 2,000 recipients (4 sends x 500), 100 ms per call
    .venv/bin/python bench/cost_source.py --sends 20         # 10,000 recipients (slow: ~25 min of cost reads)

For each mode, on its own SQLite file and its own simulator (same seed, same plans): the sends go out through
the client (their answers carry ``cost``, ``nbSMS``, ``currency``) and are tracked from that answer, then the
statuses job runs every ``--every`` simulated minutes for ``--hours`` (past the 3 h first cost read and the
6 h retry of late costs). Printed per mode: calls per endpoint scaled to 10,000 recipients, wall time per
cycle (median and max), recipients priced and their spend; then the ratio of the two. ``per_recipient`` is
the baseline. The load average (``os.getloadavg``) is printed at the start and the end.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from collections import Counter
from datetime import timedelta, timezone
from decimal import Decimal
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from sqlalchemy import text  # noqa: E402

from etl.api.client import SmsPartnerClient  # noqa: E402
from etl.config import ApiConfig, Config, DatabaseConfig, Secret, StatusesConfig  # noqa: E402
from etl.db.engine import make_engine  # noqa: E402
from etl.db.migrate import upgrade  # noqa: E402
from etl.runner import run_job  # noqa: E402
from etl.simulator import Simulator, SimulatorServer  # noqa: E402
from etl.tracking import track_send_result  # noqa: E402

KEY = "bench-key-not-a-secret"
PER_SEND = 500


def load() -> str:
    return " ".join(f"{x:.2f}" for x in os.getloadavg())


def one_mode(mode: str, sends: int, rtt: float, hours: float, every: float) -> dict[str, object]:
    """Track ``sends`` sends of 500 and live ``hours`` with ``cost_source = mode``; the figures of that life."""
    tmp = tempfile.TemporaryDirectory()
    url = f"sqlite:///{tmp.name}/bench.sqlite3"
    upgrade(url)
    engine = make_engine(url)
    sim = Simulator(api_key=KEY, seed=7)
    sim.max_calls = 10_000_000
    sim.balance = sim.balance * 1000
    server = SimulatorServer(sim)
    server.start()
    try:
        config = Config(
            api=ApiConfig(base_url=server.base_url, max_attempts=3), database=DatabaseConfig(url=url),
            statuses=StatusesConfig(cost_source=mode),
        )
        client = SmsPartnerClient(server.base_url, Secret(KEY), max_attempts=3, max_retry_seconds=5, sleep=lambda s: None)
        clock = lambda: sim.clock.now().astimezone(timezone.utc)  # noqa: E731
        announced = Decimal(0)
        n = 0
        for s in range(sends):
            numbers = [f"+336{10_000_000 + s * PER_SEND + k:08d}" for k in range(PER_SEND)]
            result = client.send(numbers, "hello")
            announced += result.cost or 0
            n += track_send_result(engine, result, numbers, now=clock(), config=config.statuses, source="bench").recipients_added
        sim.reset_calls()
        sim.faults.inject("*", "delay", rate=1.0, seconds=rtt)  # the network stand-in: every call waits its round trip
        walls: list[float] = []
        elapsed = timedelta(0)
        while elapsed < timedelta(hours=hours):
            sim.clock.advance(timedelta(minutes=every))
            elapsed += timedelta(minutes=every)
            t = time.perf_counter()
            report = run_job("statuses", config=config, client=client, engine=engine, now=clock)
            walls.append(time.perf_counter() - t)
            if report.outcome != "success":
                print(f"  {mode}: cycle {len(walls)} {report.outcome}: {report.error or ''}")
        calls = Counter(c.endpoint for c in sim.calls)
        with engine.connect() as conn:
            priced, spend = conn.execute(text("SELECT COUNT(cost), SUM(cost) FROM recipients")).one()
            daily = conn.execute(text("SELECT SUM(spend) FROM spend_daily")).scalar_one()
        return {
            "recipients": n, "calls": calls, "walls": walls, "priced": priced, "spend": Decimal(str(spend or 0)),
            "daily": Decimal(str(daily or 0)), "announced": announced,
        }
    finally:
        server.stop()
        engine.dispose()
        tmp.cleanup()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sends", type=int, default=4, help="sends of 500 recipients")
    parser.add_argument("--rtt", type=float, default=0.1, help="seconds per call at the simulator")
    parser.add_argument("--hours", type=float, default=10.0, help="simulated hours of life")
    parser.add_argument("--every", type=float, default=30.0, help="simulated minutes between cycles")
    args = parser.parse_args()

    print(f"load average at start: {load()}")
    out = {mode: one_mode(mode, args.sends, args.rtt, args.hours, args.every) for mode in ("per_recipient", "announced")}
    for mode, f in out.items():
        n = int(f["recipients"])  # type: ignore[call-overload]
        calls: Counter[str] = f["calls"]  # type: ignore[assignment]
        walls: list[float] = f["walls"]  # type: ignore[assignment]
        per10k = {e: round(c * 10_000 / n) for e, c in sorted(calls.items())}
        print(f"\n== {mode}: {n:,} recipients, {len(walls)} cycles every {args.every:g} simulated min, {args.rtt * 1000:.0f} ms per call ==")
        print(f"calls per 10,000 recipients: {per10k} = {sum(per10k.values()):,}")
        print(f"wall per cycle: median {statistics.median(walls):.2f}s, max {max(walls):.2f}s, total {sum(walls):.1f}s")
        print(f"priced {f['priced']:,} of {n:,}; recorded {f['spend']:.3f} (spend_daily {f['daily']:.3f}); announced {f['announced']:.3f}")
    base, cheap = out["per_recipient"], out["announced"]
    base_calls = sum(base["calls"].values()) or 1  # type: ignore[attr-defined]
    cheap_calls = sum(cheap["calls"].values())  # type: ignore[attr-defined]
    print(
        f"\nannounced / per_recipient: calls {cheap_calls / base_calls:.4f}, "
        f"max cycle wall {max(cheap['walls']) / max(base['walls']):.4f}, "  # type: ignore[call-overload]
        f"total wall {sum(cheap['walls']) / sum(base['walls']):.4f}"  # type: ignore[call-overload]
    )
    print(f"load average at end: {load()}")


if __name__ == "__main__":
    main()
