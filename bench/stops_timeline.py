"""Where a stop sync's time goes: a timeline of one first load, re-sync and no-change re-sync.

    python scripts/with_servers.py --postgresql -- .venv/bin/python bench/stops_timeline.py [--stops N]

Each sync runs in a fresh child process, like ``stops_sync.py``'s; the child prints, against the
time since it started and with its peak RSS so far: its imports, the end of the download (parsed
and staged), every statement that took longer than ``--min-ms``, and each commit. The figures behind the "why" tables in
docs/benchmarks.md. SQLite always; PostgreSQL when ``SMSETL_POSTGRESQL_URL`` is set.
"""

from __future__ import annotations

import time

STARTED = time.perf_counter()

import argparse  # noqa: E402 - the child times its own imports from STARTED
import multiprocessing as mp  # noqa: E402
import os  # noqa: E402
import resource  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402
from pathlib import Path  # noqa: E402
from typing import Any  # noqa: E402


def _since() -> float:
    return time.perf_counter() - STARTED


def _line(what: str, took: float | None = None) -> None:
    """One timeline line: seconds since start, the step's own seconds, peak RSS so far, what."""
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    own = f"{took:6.2f}" if took is not None else " " * 6
    print(f"{_since():7.2f} {own} {peak_mb:6.0f} MB  {what}")


def _child(db_url: str, base_url: str, min_seconds: float) -> None:
    """One stop sync through the real runner, narrating its timeline."""
    from sqlalchemy import event

    from etl.api.client import SmsPartnerClient
    from etl.db.engine import make_engine

    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from stops_sync import run_stop_sync

    _line("imports done")

    class NarratingClient(SmsPartnerClient):
        def stream_list(self, *args: Any, **kwargs: Any) -> Any:
            began = _since()
            yield from super().stream_list(*args, **kwargs)
            _line("download, parse and stage", _since() - began)

    engine = make_engine(db_url)

    @event.listens_for(engine, "before_cursor_execute")
    def _before(conn: Any, *_args: Any) -> None:
        conn.info["statement_began"] = time.perf_counter()

    @event.listens_for(engine, "after_cursor_execute")
    def _after(conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        took = time.perf_counter() - conn.info["statement_began"]
        if took >= min_seconds:
            _line(" ".join(statement.split())[:100], took)

    @event.listens_for(engine, "commit")
    def _commit(_conn: Any) -> None:
        _line("commit")

    report = run_stop_sync(db_url, base_url, client_class=NarratingClient, engine=engine)
    result = report.result
    counts = f"+{result.added} ~{result.changed} -{result.removed}" if result else report.error
    _line(f"{report.outcome} {counts}, our CPU {time.process_time():.2f} s")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--stops", type=int, default=1_000_000)
    parser.add_argument("--churn", type=float, default=0.01)
    parser.add_argument("--min-ms", type=float, default=20.0, help="show statements at least this long")
    parser.add_argument("--child", nargs=2, metavar=("DB_URL", "BASE_URL"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        return _child(args.child[0], args.child[1], args.min_ms / 1000)

    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from _shared import ROOT, fresh_database
    from stops_sync import ENV, _migrate, _simulator_process

    kinds = ["sqlite"] + (["postgresql"] if os.environ.get("SMSETL_POSTGRESQL_URL") else [])
    parent, child = mp.Pipe()
    sim = mp.Process(target=_simulator_process, args=(child, args.stops), daemon=True)
    sim.start()
    base_url = parent.recv()
    dbs = {kind: fresh_database(kind, f"bench_stops_timeline_{kind}") for kind in kinds}
    for url in dbs.values():
        _migrate(url)

    def sync(kind: str, label: str) -> None:
        print(f"--- {kind}: {label} (seconds since the process started, the step's own seconds, peak RSS so far)", flush=True)
        argv = [sys.executable, str(Path(__file__).resolve()), "--min-ms", str(args.min_ms), "--child", dbs[kind], base_url]
        subprocess.run(argv, env={**os.environ, **ENV}, cwd=ROOT, check=True)

    try:
        for kind in kinds:
            sync(kind, "first load")
        parent.send(("churn", args.churn))
        churn = parent.recv()
        print(f"upstream churn: {churn['removed']:,} removed, {churn['added']:,} added")
        for kind in kinds:
            sync(kind, "re-sync")
            sync(kind, "no-change re-sync")
    finally:
        parent.send(("stop", None))
        sim.join(10)


if __name__ == "__main__":
    main()
