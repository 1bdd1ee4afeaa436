"""Rental file sync benchmark: a 500,000-number rental file, first load and a re-sync with 1 % stop-flag flips.

    python scripts/with_servers.py --postgresql -- .venv/bin/python bench/rental_sync.py [--numbers N] [--flips 0.01]

Goals (issue 6): first load ≤ 10 s, re-sync ≤ 5 s, peak RSS ≤ 200 MB. The simulator runs in its own
process (its memory and CPU are not ours); every sync runs in a fresh child process through the
real runner, whose wall time and peak RSS (``wait4``) are measured. Inside the child, the download
to the spool file and the database load are timed separately, in wall and CPU time (CPU time
stays meaningful on a shared machine; the load average is printed beside each row). PostgreSQL is used when
``SMSETL_POSTGRESQL_URL`` is set (``scripts/with_servers.py --postgresql`` starts a throwaway one).

Variants, same data, one runner (sqlalchemy's examples/performance shape):
- ``first``   the rental's first download into an empty database (every number is ``added``);
- ``resync``  after 1 % of the numbers flipped their stop flag upstream (``stop_on``/``stop_off``);
- ``noop``    the same file again (writes the file row only).
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import os
import sys
import time
from pathlib import Path
from typing import Any

from _shared import OUT, ROOT, fresh_database, measure  # noqa: E402 - bench/ is the script's own directory

sys.path.insert(0, str(ROOT))
KEY = "sim-bench-key-not-a-secret"
TOKEN = "bench-rental-token-500k"


def _simulator_process(conn: Any, numbers: int) -> None:
    from etl.simulator import Simulator, SimulatorServer

    sim = Simulator(api_key=KEY, seed=7)
    sim.add_rental(TOKEN, numbers, stop_share=0.05, seed=3)
    server = SimulatorServer(sim, port=0)
    server.start()
    conn.send(server.base_url)
    while True:
        command, arg = conn.recv()
        if command == "stop":
            server.stop()
            conn.send("stopped")
            return
        if command == "flip":
            conn.send(len(sim.flip_rental_stops(TOKEN, arg, seed=11)))


def _worker(db_url: str, base_url: str) -> None:
    """Child: one rentals sync through the real runner; prints counts and phase timings as JSON."""
    from etl.api.client import SmsPartnerClient
    from etl.config import ApiConfig, Config, DatabaseConfig, RentalsConfig, RentalToken, Secret
    from etl.db.engine import make_engine
    from etl.jobs import rentals
    from etl.runner import run_job

    timings: dict[str, float] = {"download": 0.0, "load": 0.0, "download_cpu": 0.0, "load_cpu": 0.0}

    def timed(name: str, fn: Any) -> Any:
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            started, cpu = time.perf_counter(), time.process_time()
            try:
                return fn(*args, **kwargs)
            finally:
                timings[name] += time.perf_counter() - started
                timings[f"{name}_cpu"] += time.process_time() - cpu

        return wrapper

    rentals.download_to_spool = timed("download", rentals.download_to_spool)  # type: ignore[assignment]
    rentals.load_file = timed("load", rentals.load_file)  # type: ignore[assignment]
    config = Config(
        api=ApiConfig(base_url=base_url, read_timeout=120.0),
        database=DatabaseConfig(url=db_url),
        rentals=RentalsConfig(tokens=(RentalToken(TOKEN, "bench"),)),
    )
    client = SmsPartnerClient(base_url, Secret(os.environ["SMSPARTNER_API_KEY"]), read_timeout=120.0)
    started = time.perf_counter()
    report = run_job("rentals", config=config, client=client, engine=make_engine(db_url))
    if report.outcome != "success" or report.result is None:
        raise SystemExit(f"sync {report.outcome}: {report.error}")
    print(json.dumps({
        "added": report.result.added, "changed": report.result.changed, "removed": report.result.removed,
        "job_s": time.perf_counter() - started, **{f"{k}_s": v for k, v in timings.items()},
        # This process's CPU from its start (imports included); the database server's is not in it.
        "cpu_s": time.process_time(),
    }))


def _measured(argv: list[str]) -> dict[str, Any]:
    result = measure(argv, env={"SMSPARTNER_API_KEY": KEY})
    result["loadavg"] = os.getloadavg()[0]
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--numbers", type=int, default=500_000)
    parser.add_argument("--flips", type=float, default=0.01)
    parser.add_argument("--worker", action="store_true")
    parser.add_argument("--db")
    parser.add_argument("--base-url")
    args = parser.parse_args()
    if args.worker:
        return _worker(args.db, args.base_url)

    import logging

    from etl.db.migrate import upgrade

    logging.getLogger("alembic").setLevel(logging.WARNING)
    OUT.mkdir(parents=True, exist_ok=True)
    os.environ["SMSPARTNER_ETL_SPOOL_DIR"] = str(OUT / "rental-spool")
    kinds = ["sqlite"] + (["postgresql"] if os.environ.get("SMSETL_POSTGRESQL_URL") else [])
    print(f"numbers={args.numbers:,} flips={args.flips:.1%} backends={','.join(kinds)}")
    if "postgresql" not in kinds:
        print("(PostgreSQL skipped: run through scripts/with_servers.py --postgresql to include it)")

    parent, child = mp.Pipe()
    sim = mp.Process(target=_simulator_process, args=(child, args.numbers), daemon=True)
    sim.start()
    base_url = parent.recv()
    me = [sys.executable, str(Path(__file__).resolve()), "--worker", "--base-url", base_url, "--db"]
    rows: list[tuple[str, str, dict[str, Any]]] = []
    try:
        dbs = {kind: fresh_database(kind, f"bench_rentals_{kind}") for kind in kinds}
        for url in dbs.values():
            upgrade(url)
        for kind in kinds:
            rows.append((kind, "first", _measured(me + [dbs[kind]])))
        parent.send(("flip", args.flips))
        print(f"upstream: {parent.recv():,} stop flags flipped")
        for kind in kinds:
            rows.append((kind, "resync", _measured(me + [dbs[kind]])))
            rows.append((kind, "noop", _measured(me + [dbs[kind]])))
    finally:
        parent.send(("stop", None))
        sim.join(10)

    print()
    print(
        f"{'backend':<11} {'variant':<7} {'wall s':>7} {'job s':>6} {'download s':>10} {'load s':>7} "
        f"{'cpu s':>6} {'dl cpu':>6} {'load cpu':>8} {'peak RSS MB':>12} {'load avg':>8}  rows"
    )
    for kind, variant, r in rows:
        print(
            f"{kind:<11} {variant:<7} {r['seconds']:>7.2f} {r['job_s']:>6.2f} {r['download_s']:>10.2f} {r['load_s']:>7.2f} "
            f"{r['cpu_s']:>6.2f} {r['download_cpu_s']:>6.2f} {r['load_cpu_s']:>8.2f} {r['rss_mb']:>12.0f} "
            f"{r['loadavg']:>8.2f}  +{r['added']} ~{r['changed']} -{r['removed']}"
        )
    print("cpu s: the sync process's own CPU (imports included; not the database server's or the simulator's);")
    print("load avg: the 1-minute load average when that sync ended (walls are only comparable at low load).")


if __name__ == "__main__":
    main()
