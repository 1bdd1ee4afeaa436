"""5 M SMS a day of cost on one instance at a 100 ms round trip, with K reads in flight (issue 20).

    .venv/bin/python scripts/with_servers.py --postgresql -- .venv/bin/python bench/cost_load.py
    .venv/bin/python scripts/with_servers.py --postgresql -- .venv/bin/python bench/cost_load.py --quick

A day at 100 ms a call cannot be run in wall time (5 M reads one after another are 5.8 days), so the bench
**measures** what one cycle of the real statuses job does, then **plays the day** on a simulated clock from those
measurements:

1. *Measured.* The simulator runs in its own process holding ``--sends`` final sends of 500 whose costs are all
   known (its clock frozen 7 h after they went out), every ``message-status`` answered after ``--rtt`` (100 ms). The
   database (``$SMSETL_POSTGRESQL_URL``) is seeded by SQL with those recipients final and their first cost read
   due, and copied per variant. For each K in ``--k`` (``api.concurrency``) the real job (`etl.runner.run_job`,
   ``cost_source = "per_recipient"``) runs one cycle, asked to stop after ``--seconds`` of wall time (it stops at
   its next batch of `COST_READS_PER_BATCH` reads). From the call log: reads per second, calls in flight at once
   (most, and the share of the time with any), and the **timeline** in 5 s steps: calls, most in flight, and the
   time with none in flight (the database's share). ``cost_source = "announced"`` runs one cycle over the same
   rows: recipients priced per second, no call.
2. *Played.* A simulated day of ``--per-day`` final recipients (flat over the day), each needing one read, and
   ``--late-share`` of them (15 %, the simulator's default) a second read `cost_retry` (6 h) later because the cost
   was missing. The scheduler is the daemon's: a run every ``--every`` s (``jobs.statuses.every``), a run that
   outlasts its period makes the ticks it covers skip (``max_instances = 1``), a run reads at most
   `COST_READS_PER_CYCLE` at the measured rate after the measured overhead. Variants: the job as it is (measured), and
   the job were its reads K in flight: the client's own rate with K (`in_flight`) plus the measured apply of each
   batch, with the cap and without. Printed per variant and hour: cost reads
   per minute, the backlog (due and not read), and its oldest age; then whether one instance keeps up.

The load average and the time of day are printed at the start and the end.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import os
import resource
import statistics
import sys
import time
from collections import deque
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from _shared import fresh_database
from scale_out import FIRST_ID, KEY, PER_SEND, copy_database, drop_database, phone, seed
from sqlalchemy import text

from etl.api.client import SmsPartnerClient
from etl.config import ApiConfig, Config, DatabaseConfig, Secret, StatusesConfig
from etl.db.engine import make_engine
from etl.jobs.status_cycle import COST_READS_PER_BATCH, COST_READS_PER_CYCLE
from etl.runner import run_job

DAY = 86_400


def load() -> str:
    return " ".join(f"{x:.2f}" for x in os.getloadavg())


def _serve(conn: Any, sends: int, rtt: float) -> None:
    from etl.simulator import Simulator, SimulatorServer

    sim = Simulator(api_key=KEY, seed=13)
    sim.max_calls = 10_000_000
    sim.balance = sim.balance * 100_000
    for s in range(sends):
        assert int(sim.send([phone(s * PER_SEND + k) for k in range(PER_SEND)], "bench")) == FIRST_ID + s
    sim.clock.advance(timedelta(hours=7))  # past the late costs (10 min to 6 h): every read finds one
    sim.faults.inject("message-status", "delay", count=None, seconds=rtt)
    server = SimulatorServer(sim).start()
    conn.send(server.base_url)
    while conn.recv() != "stop":
        with sim.lock:
            calls = [(c.wall_at.timestamp(), c.http_status) for c in sim.calls]
            sim.reset_calls()
        conn.send(calls)
    conn.send(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)
    server.stop()


def timeline(calls: list[tuple[float, float]], start: float, end: float, step: float = 5.0) -> list[dict[str, Any]]:
    """Per ``step`` seconds: calls answered, the most in flight at once, and seconds with none in flight."""
    out = []
    t = start
    while t < end:
        u = min(t + step, end)
        inside = [(a, b) for a, b in calls if a < u and b > t]
        edges = sorted([(max(a, t), 1) for a, b in inside] + [(min(b, u), -1) for a, b in inside])
        depth = most = 0
        idle, last = 0.0, t
        for at, delta in edges:
            if depth == 0:
                idle += at - last
            depth += delta
            most = max(most, depth)
            last = at
        idle += u - last if depth == 0 else 0.0
        out.append({"at_s": round(t - start), "calls": sum(1 for a, b in calls if t <= b < u), "most_in_flight": most,
                    "idle_s": round(idle, 2)})
        t = u
    return out


def one_cycle(url: str, base_url: str, pipe: Any, k: int, mode: str, seconds: float, rtt: float) -> dict[str, Any]:
    """One cycle of the real job on ``url``, asked to stop after ``seconds``: what it read, and its timeline."""
    config = Config(api=ApiConfig(base_url=base_url, concurrency=k), database=DatabaseConfig(url=url),
                    statuses=StatusesConfig(cost_source=mode))
    engine = make_engine(url)
    client = SmsPartnerClient(base_url, Secret(KEY), concurrency=k, max_attempts=3)
    started = time.time()
    report = run_job("statuses", config=config, client=client, engine=engine,
                     should_stop=lambda: time.time() - started > seconds)
    wall = time.time() - started
    client.close()
    with engine.connect() as conn:
        priced = conn.execute(text("SELECT COUNT(*) FROM recipients WHERE cost_checked_at IS NOT NULL")).scalar_one()
    engine.dispose()
    pipe.send("calls")
    arrivals = pipe.recv()
    # A call's span: from its arrival to its answer, the round trip on (the server logs the arrival time).
    spans = [(a, a + rtt) for a, status in arrivals if status == 200]
    first = min((a for a, _ in spans), default=started)
    # Between two batches of reads the job applies the first (one transaction): with one call in flight, those
    # are the longest gaps between a call's answer and the next call; their median is one batch's apply.
    gaps = sorted(b[0] - a[1] for a, b in zip(sorted(spans), sorted(spans)[1:], strict=False))
    boundaries = max(0, -(-len(spans) // COST_READS_PER_BATCH) - 1)
    apply_s = statistics.median(gaps[-boundaries:]) if boundaries and k == 1 else None
    busy = wall - sum(step["idle_s"] for step in timeline(spans, started, started + wall, wall or 1))
    return {
        "mode": mode, "k": k, "outcome": str(report.outcome), "wall_s": round(wall, 1), "priced": priced,
        "reads": len(spans), "reads_per_s": round(len(spans) / wall, 1) if spans else 0.0,
        "priced_per_s": round(priced / wall, 1),
        "overhead_s": round(first - started, 2), "apply_batch_s": None if apply_s is None else round(apply_s, 3),
        "busy_share": round(busy / wall, 3) if spans else None,
        "timeline": timeline(spans, started, started + wall) if spans else [],
    }


def client_rate(base_url: str, k: int, sends: int) -> float:
    """Reads/s of the client alone with K in flight (`etl.api.concurrent.in_flight`): what the job could reach."""
    from etl.api.concurrent import in_flight

    pairs = [(str(FIRST_ID + i % sends), phone(i % sends * PER_SEND + i // sends)) for i in range(max(200, 40 * k))]
    with SmsPartnerClient(base_url, Secret(KEY), concurrency=k) as client:
        started = time.perf_counter()
        for done in in_flight(lambda pair: client.message_status(*pair), pairs, concurrency=k):
            done.get()
        return len(pairs) / (time.perf_counter() - started)


def play_day(rate: float, overhead: float, every: float, per_day: int, late_share: float, retry: float,
             cap: int = COST_READS_PER_CYCLE) -> dict[str, Any]:
    """A day of arrivals against the daemon's schedule and one cycle's measured rate (module docstring, step 2), in
    1 s steps: a run starts at a tick when none is running, takes what is due up to ``cap``, spends ``overhead`` and
    then reads at ``rate``; the next starts at the first tick after it ends."""
    due: deque[list[float]] = deque()  # [due at, count], oldest first: a bucket per minute of arrivals
    late: deque[tuple[float, float]] = deque()  # second reads of those without a cost yet, due ``retry`` after
    hours: list[dict[str, Any]] = []
    left_in_run, wait_in_run, running = 0.0, 0.0, False
    reads_hour = 0.0
    for t in range(DAY):
        if t % 60 == 0:
            due.append([float(t), per_day / DAY * 60])
        while late and late[0][0] <= t:
            due.append(list(late.popleft()))
        if not running and t % every == 0:
            running, left_in_run, wait_in_run = True, min(sum(n for _, n in due), cap), overhead
        if running:
            step = 1.0
            if wait_in_run > 0:
                spent = min(wait_in_run, step)
                wait_in_run -= spent
                step -= spent
            read = min(left_in_run, rate * step)
            left_in_run -= read
            reads_hour += read
            if late_share and read:
                late.append((t + retry, read * late_share))
            while read > 1e-9 and due:
                n = min(due[0][1], read)
                due[0][1] -= n
                read -= n
                if due[0][1] <= 1e-9:
                    due.popleft()
            running = left_in_run > 1e-9 or wait_in_run > 0
        if (t + 1) % 3600 == 0:
            hours.append({"hour": (t + 1) // 3600, "reads_per_min": round(reads_hour / 60),
                          "backlog": round(sum(n for _, n in due)),
                          "oldest_due_min": round((t + 1 - due[0][0]) / 60) if due else 0})
            reads_hour = 0.0
    demand = per_day * (1 + late_share) / 1440
    # Keeping up: nothing waits longer than a few runs' periods at the end of every hour.
    return {"demand_reads_per_min": round(demand), "hours": hours,
            "keeps_up": all(h["oldest_due_min"] <= max(5, 3 * every / 60) for h in hours)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="smoke run: 4 sends, K 1 and 8, 8 s cycles")
    parser.add_argument("--sends", type=int, default=8, help="final sends of 500 whose cost read is due")
    parser.add_argument("--k", default="1,4,8,16", help="api.concurrency values")
    parser.add_argument("--rtt", type=float, default=0.1)
    parser.add_argument("--seconds", type=float, default=40.0,
                        help="each cycle is asked to stop after this (40 s: two batches at K = 1, so one apply between them)")
    parser.add_argument("--every", type=float, default=60.0, help="jobs.statuses.every of the played day")
    parser.add_argument("--per-day", type=int, default=5_000_000)
    parser.add_argument("--late-share", type=float, default=0.15)
    parser.add_argument("--retry", type=float, default=6 * 3600.0)
    args = parser.parse_args()
    if args.quick:
        args.sends, args.k, args.seconds = 4, "1,8", 8.0
    print(f"load average at start: {load()} ({datetime.now(UTC):%H:%M} UTC)", flush=True)
    pipe, child = mp.Pipe()
    proc = mp.Process(target=_serve, args=(child, args.sends, args.rtt), daemon=True)
    proc.start()
    template = fresh_database("postgresql", "bench_cost_load_seed")
    seed(template, 0, args.sends, datetime.now(UTC))
    engine = make_engine(template)
    with engine.begin() as conn:  # what /send announced: 0.045 per recipient
        conn.execute(text("UPDATE sends SET announced_cost = 22.5, announced_currency = 'EUR', nb_sms = 500"))
    engine.dispose()
    base_url = pipe.recv()
    try:
        measured = []
        for mode, k in [("per_recipient", int(k)) for k in args.k.split(",")] + [("announced", 1)]:
            url = copy_database(template, f"bench_cost_load_{mode}_{k}")
            figures = one_cycle(url, base_url, pipe, k, mode, args.seconds, args.rtt)
            drop_database(url)
            measured.append(figures)
            shown = {key: v for key, v in figures.items() if key != "timeline"}
            print(json.dumps({**shown, "loadavg": load()}), flush=True)
            print(json.dumps({"timeline": figures["timeline"]}), flush=True)
        variants = []
        apply_s = 0.0
        for f in measured:
            if f["mode"] == "announced":  # status_cost: 50 batches of 5,000 a cycle, no late re-read
                variants.append(("announced", f["k"], f["priced_per_s"], f["overhead_s"], 250_000, 0.0))
                continue
            variants.append(("job", f["k"], f["reads_per_s"], f["overhead_s"], COST_READS_PER_CYCLE, args.late_share))
            if f["k"] == 1:
                apply_s = f["apply_batch_s"] or 0.0
            if f["k"] > 1:  # what K in flight would give the job: the client's rate, then each batch's apply, capped or not
                client = client_rate(base_url, f["k"], args.sends)
                rate = round(COST_READS_PER_BATCH / (COST_READS_PER_BATCH / client + apply_s), 1)
                print(json.dumps({"k": f["k"], "client_reads_per_s": round(client, 1), "apply_batch_s": apply_s,
                                  "job_reads_per_s_if_wired": rate}), flush=True)
                variants.append(("client_k_capped", f["k"], rate, f["overhead_s"], COST_READS_PER_CYCLE, args.late_share))
                variants.append(("client_k_uncapped", f["k"], rate, f["overhead_s"], 10**9, args.late_share))
        for name, k, rate, overhead, cap, late in variants:
            day = play_day(rate, overhead, args.every, args.per_day, late, args.retry, cap)
            hours = day.pop("hours")
            summary = {h["hour"]: (h["reads_per_min"], h["backlog"], h["oldest_due_min"]) for h in hours if h["hour"] % 4 == 0}
            print(json.dumps({"variant": name, "k": k, "rate_per_s": rate, "cap_per_cycle": cap, **day,
                              "reads_per_min_median": statistics.median(h["reads_per_min"] for h in hours),
                              "backlog_end": hours[-1]["backlog"], "oldest_due_min_end": hours[-1]["oldest_due_min"],
                              "by_hour_reads_backlog_oldest_min": summary}), flush=True)
        print(json.dumps({"cost_reads_per_batch": COST_READS_PER_BATCH, "cost_reads_per_cycle": COST_READS_PER_CYCLE}))
    finally:
        pipe.send("stop")
        sim_mb = pipe.recv()
        proc.join(10)
    own_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps({"peak_rss_mb": {"simulator": round(sim_mb), "bench": round(own_mb)}}), flush=True)
    print(f"load average at end: {load()} ({datetime.now(UTC):%H:%M} UTC)", flush=True)


if __name__ == "__main__":
    main()
