"""Stop-list sync benchmark: 1,000,000 stops, first load and a 1 %-churn re-sync, vs a dlt pipeline.

    python scripts/with_servers.py --postgresql -- .venv/bin/python bench/stops_sync.py [--stops N]

The simulator runs in its own process (its memory is not ours); every sync, ours and the peer's,
runs in a fresh child process whose wall time and peak RSS (``wait4``) are measured. The peer is
what a dlt user would write: a ``@dlt.resource`` over the same endpoint, ``merge`` on ``id``, into
the same kind of database. PostgreSQL is used when ``SMSETL_POSTGRESQL_URL`` is set.

Variants, same data, one runner (sqlalchemy's examples/performance shape):
- ``etl first``    our stop sync into an empty database;
- ``etl resync``   after 0.5 % of the stops were removed and 0.5 % added upstream;
- ``etl noop``     the same list again (writes nothing);
- ``dlt first`` / ``dlt resync``  the peer on the same lists.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import os
import random
import shutil
import sys
import time
from pathlib import Path
from typing import Any

from _shared import OUT, fresh_database, measure  # noqa: E402 - bench/ is the script's own directory

KEY = "sim-bench-key-not-a-secret"
ENV = {"SMSPARTNER_API_KEY": KEY}


# --- the simulator, in its own process ---------------------------------------------------------------------------


def _simulator_process(conn: Any, stops: int) -> None:
    from etl.simulator import Simulator, SimulatorServer

    sim = Simulator(api_key=KEY, seed=7)
    sim.generate_stops(stops)
    server = SimulatorServer(sim, port=0)
    server.start()
    conn.send(server.base_url)
    rng = random.Random(11)
    while True:
        command, arg = conn.recv()
        if command == "stop":
            server.stop()
            conn.send("stopped")
            return
        if command == "churn":
            current = [row[0] for row in sim.stops()]
            removed = rng.sample(current, int(len(current) * arg / 2))
            for stop_id in removed:
                sim.remove_stop(stop_id)
            added = 0
            while added < len(removed):
                phone = f"+3377{rng.randrange(10**7):07d}"
                try:
                    sim.add_stop(phone)
                    added += 1
                except Exception:  # noqa: BLE001 - already listed: draw another
                    continue
            conn.send({"removed": len(removed), "added": added})


# --- one measured child per sync -----------------------------------------------------------------------------------


def _report(kind: str, variant: str, r: dict[str, Any]) -> None:
    if r.get("killed"):
        print(f"{kind:<11} {variant:<11} {'>' + format(r['seconds'], '.0f'):>8} {r['rss_mb']:>12.0f}  killed at the peer timeout", flush=True)
        return
    counts = (
        f"+{r.get('added', '?')} ~{r.get('changed', '?')} -{r.get('removed', '?')}  cpu {r.get('cpu_s', 0):.2f} s"
        if variant.startswith("etl") else ""
    )
    print(f"{kind:<11} {variant:<11} {r['seconds']:>8.2f} {r['rss_mb']:>12.0f}  {counts}", flush=True)


def run_stop_sync(db_url: str, base_url: str, client_class: Any = None, engine: Any = None) -> Any:
    """One stop sync through the real runner, as the benchmarks run it; returns its `RunReport`.

    ``client_class`` (a `SmsPartnerClient` subclass) and ``engine`` let `stops_timeline.py`
    watch the same sync.
    """
    from etl.api.client import SmsPartnerClient
    from etl.config import ApiConfig, Config, DatabaseConfig, Secret, StopsConfig
    from etl.db.engine import make_engine
    from etl.runner import run_job

    config = Config(
        api=ApiConfig(base_url=base_url, read_timeout=120.0),
        database=DatabaseConfig(url=db_url),
        stops=StopsConfig(max_removed_share=0.5),
    )
    client = (client_class or SmsPartnerClient)(base_url, Secret(os.environ["SMSPARTNER_API_KEY"]), read_timeout=120.0)
    return run_job("stops", config=config, client=client, engine=engine or make_engine(db_url))


def _etl_worker(db_url: str, base_url: str) -> None:
    """Child: one stop sync, prints its counts as JSON."""
    report = run_stop_sync(db_url, base_url)
    if report.outcome != "success" or report.result is None:
        raise SystemExit(f"sync {report.outcome}: {report.error}")
    print(json.dumps({"added": report.result.added, "removed": report.result.removed, "changed": report.result.changed,
                      "cpu_s": time.process_time()}))


def _dlt_worker(db_url: str, base_url: str) -> None:
    """Child: the peer. A dlt resource over the same endpoint, merge on the API id."""
    import dlt
    import requests

    @dlt.resource(name="stops", write_disposition="merge", primary_key="id")
    def stop_list() -> Any:
        answer = requests.get(f"{base_url}/stop-sms/list", params={"apiKey": os.environ["SMSPARTNER_API_KEY"]}, timeout=300)
        answer.raise_for_status()
        yield answer.json()["data"]

    if db_url.startswith("sqlite"):
        destination = dlt.destinations.sqlalchemy(db_url)
    else:
        from sqlalchemy.engine import make_url

        url = make_url(db_url)
        # dlt insists on a password; the throwaway server trusts loopback and ignores it.
        url = url.set(drivername="postgresql", password=url.password or "unused-trust-auth")
        destination = dlt.destinations.postgres(url.render_as_string(hide_password=False))
    pipeline = dlt.pipeline(
        pipeline_name=f"stops_peer_{abs(hash(db_url)) % 10**8}",
        destination=destination,
        dataset_name="dlt_peer",
        pipelines_dir=str(OUT / "dlt-pipelines"),
    )
    info = pipeline.run(stop_list())
    print(json.dumps({"loads": len(info.loads_ids)}))


# --- databases -----------------------------------------------------------------------------------------------------


def _migrate(db_url: str) -> None:
    from etl.db.migrate import upgrade

    upgrade(db_url)


# --- runner --------------------------------------------------------------------------------------------------------


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--stops", type=int, default=1_000_000)
    parser.add_argument("--churn", type=float, default=0.01)
    parser.add_argument("--no-peer", action="store_true", help="skip the dlt pipeline")
    parser.add_argument("--peer-timeout", type=float, default=600.0, help="kill a dlt run after this many seconds")
    parser.add_argument("--worker", choices=["etl", "dlt"])
    parser.add_argument("--db")
    parser.add_argument("--base-url")
    args = parser.parse_args()
    if args.worker == "etl":
        return _etl_worker(args.db, args.base_url)
    if args.worker == "dlt":
        return _dlt_worker(args.db, args.base_url)

    import logging

    logging.getLogger("alembic").setLevel(logging.WARNING)
    OUT.mkdir(parents=True, exist_ok=True)
    shutil.rmtree(OUT / "dlt-pipelines", ignore_errors=True)  # no pending packages from an earlier run
    kinds = ["sqlite"] + (["postgresql"] if os.environ.get("SMSETL_POSTGRESQL_URL") else [])
    print(f"stops={args.stops:,} churn={args.churn:.1%} backends={','.join(kinds)} peer={'no' if args.no_peer else 'dlt'}")
    if "postgresql" not in kinds:
        print("(PostgreSQL skipped: run through scripts/with_servers.py --postgresql to include it)")

    parent, child = mp.Pipe()
    sim = mp.Process(target=_simulator_process, args=(child, args.stops), daemon=True)
    sim.start()
    base_url = parent.recv()
    me = [sys.executable, str(Path(__file__).resolve())]
    rows: list[tuple[str, str, dict[str, Any]]] = []

    def record(kind: str, variant: str, figures: dict[str, Any]) -> None:
        _report(kind, variant, figures)
        rows.append((kind, variant, figures))

    print(f"load average at start: {os.getloadavg()[0]:.2f}")
    print(f"{'backend':<11} {'variant':<11} {'wall s':>8} {'peak RSS MB':>12}  rows, our process's CPU", flush=True)
    try:
        dbs = {}
        for kind in kinds:
            dbs[kind] = (fresh_database(kind, f"bench_stops_etl_{kind}"), fresh_database(kind, f"bench_stops_dlt_{kind}"))
            _migrate(dbs[kind][0])
        for kind in kinds:
            record(kind, "etl first", measure(me + ["--worker", "etl", "--db", dbs[kind][0], "--base-url", base_url], env=ENV))
            if not args.no_peer:
                record(kind, "dlt first", measure(me + ["--worker", "dlt", "--db", dbs[kind][1], "--base-url", base_url], env=ENV, timeout=args.peer_timeout))
        parent.send(("churn", args.churn))
        churn = parent.recv()
        print(f"upstream churn: {churn['removed']:,} removed, {churn['added']:,} added")
        for kind in kinds:
            record(kind, "etl resync", measure(me + ["--worker", "etl", "--db", dbs[kind][0], "--base-url", base_url], env=ENV))
            record(kind, "etl noop", measure(me + ["--worker", "etl", "--db", dbs[kind][0], "--base-url", base_url], env=ENV))
            if not args.no_peer:
                record(kind, "dlt resync", measure(me + ["--worker", "dlt", "--db", dbs[kind][1], "--base-url", base_url], env=ENV, timeout=args.peer_timeout))
        print(f"load average at end: {os.getloadavg()[0]:.2f}")
    finally:
        parent.send(("stop", None))
        sim.join(10)

    if not args.no_peer:
        print()
        for kind in kinds:
            table = {variant: r for k, variant, r in rows if k == kind}
            for phase in ("first", "resync"):
                ours, peer = table[f"etl {phase}"], table[f"dlt {phase}"]
                at_least = "at least " if peer.get("killed") else ""
                print(
                    f"{kind}: {phase:<6} etl is {at_least}{peer['seconds'] / ours['seconds']:.1f}x faster than dlt, "
                    f"uses {peer['rss_mb'] / ours['rss_mb']:.1f}x less memory"
                )


if __name__ == "__main__":
    main()
