"""What recording a filter run's blocked numbers costs: `filter-audience` with and without a hash key (issue 18).

    .venv/bin/python bench/filter_runs.py                          # 1 M rows vs 1 M stops, SQLite, 3 pairs
    python scripts/with_servers.py --postgresql -- .venv/bin/python bench/filter_runs.py --backends postgresql

The files are `bench/audience_filter.py`'s (generated once under bench/out, 20 % of the rows stopped numbers).
Each backend gets one database holding the 1 M stops and a fresh stops run; the CLI is then timed as a whole,
alternating a run without a key (``counts``: the ``filter_runs`` row only) and one with a key (``hashes``: a keyed
hash per blocked number in ``filter_run_blocks``), ``--pairs`` times, on the same database (the blocks of
earlier runs stay, as they do in use). Each run prints its wall and CPU seconds (the process and its filter
workers, from ``wait4``), the blocks stored and the 1-minute load average before and after; the summary gives
the medians and the ratio hashes/counts of each pair. Figures: docs/benchmarks.md, "Filter runs recorded".
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import time
from datetime import datetime, timezone
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from _shared import fresh_database  # noqa: E402
from audience_filter import OUT, generate  # noqa: E402
from sqlalchemy import text  # noqa: E402

from etl.db.engine import make_engine  # noqa: E402
from etl.db.migrate import upgrade  # noqa: E402

KEY = "bench-hash-key-not-secret"


def database(kind: str) -> str:
    """A database with the bench's 1 M stops and a successful stops run (the filter refuses a stale list)."""
    if kind == "sqlite":
        target = OUT / "filter_runs.sqlite3"
        for suffix in ("", "-wal", "-shm"):
            Path(f"{target}{suffix}").unlink(missing_ok=True)
        shutil.copy(OUT / "stops.sqlite3", target)  # made by generate() through the migrations
        url = f"sqlite:///{target}"
        upgrade(url)  # the copy may predate a migration
        return url
    url = fresh_database(kind, "bench_filter_runs")
    upgrade(url)
    engine = make_engine(url)
    now = datetime.now(timezone.utc)
    with engine.begin() as conn:
        raw = conn.connection.driver_connection
        with raw.cursor() as cursor, cursor.copy("COPY stop_periods (api_stop_id, phone_e164, phone_raw, first_seen_at, source) "
                                                 "FROM STDIN") as copy:
            for i, line in enumerate((OUT / "stops.csv").read_text().splitlines()[1:], start=1):
                copy.write_row((i, line, "0" + line[3:], now, "sync"))
        conn.execute(text("INSERT INTO sync_runs (job, started_at, finished_at, outcome, rows_added, rows_changed, rows_removed) "
                          "VALUES ('stops', :now, :now, 'success', 0, 0, 0)"), {"now": now})
        conn.exec_driver_sql("ANALYZE stop_periods")
    engine.dispose()
    return url


def timed(cmd: list[str], env: dict[str, str]) -> dict[str, float]:
    """Wall and CPU seconds (user + system) of one child and the filter workers it reaped, from ``wait4``."""
    started = time.perf_counter()
    child = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    _, status, usage = os.wait4(child.pid, 0)
    wall = time.perf_counter() - started
    child.returncode = os.waitstatus_to_exitcode(status)
    if child.returncode != 0:
        raise SystemExit(f"filter-audience failed ({child.returncode}):\n{child.stderr.read().decode()[-2000:]}")  # type: ignore[union-attr]
    child.stderr.close()  # type: ignore[union-attr]
    return {"wall": wall, "cpu": usage.ru_utime + usage.ru_stime}


def blocks_stored(url: str) -> int:
    engine = make_engine(url, pool=False)
    try:
        with engine.connect() as conn:
            return int(conn.execute(text("SELECT count(*) FROM filter_run_blocks")).scalar_one())
    finally:
        engine.dispose()


def one_run(url: str, with_key: bool) -> dict[str, object]:
    config = OUT / "filter_runs.toml"
    config.write_text(f'[database]\nurl = "{url}"\n[audience]\nmax_stop_age = "3650d"\n')
    cli = str(Path(sys.executable).with_name("smspartner-etl"))
    cmd = [cli, "--config", str(config), "filter-audience", str(OUT / "audience.csv"), "--allowed",
           str(OUT / "fr_allowed.csv"), "--blocked", str(OUT / "fr_blocked.csv"), "--report", str(OUT / "fr_report.json")]
    env = {**os.environ, "SMSPARTNER_ETL_HASH_KEY": KEY if with_key else ""}
    before = blocks_stored(url)
    load_before = os.getloadavg()[0]
    run = timed(cmd, env)
    report = json.loads((OUT / "fr_report.json").read_text())
    return {"variant": "hashes" if with_key else "counts", "wall_s": round(run["wall"], 2),
            "cpu_s": round(run["cpu"], 2), "blocked_stop_list": report["blocked_by_reason"]["stop_list"],
            "blocks_added": blocks_stored(url) - before, "blocks_before": before,
            "load_1min": [round(load_before, 2), round(os.getloadavg()[0], 2)],
            "at": datetime.now(timezone.utc).strftime("%H:%M:%S")}  # UTC


def lookups(url: str, count: int = 15) -> dict[str, object]:
    """`evidence`'s filter-run section (`runs_blocking`) for stopped numbers after the runs: the median seconds
    and the plan, to show the (run_id, number_hash) index serves it (one probe per run)."""
    from etl.compliance.evidence_hashed import runs_blocking
    from etl.compliance.hashing import NumberHasher
    from etl.db import backends
    from etl.secrets import Secret

    hasher = NumberHasher.from_key(Secret(KEY))
    numbers = (OUT / "stops.csv").read_text().splitlines()[1 : 1 + count]
    engine = make_engine(url)
    seconds, found = [], []
    try:
        with engine.connect() as conn:
            for number in numbers:
                started = time.perf_counter()
                found.append(len(runs_blocking(conn, number, hasher)))
                seconds.append(time.perf_counter() - started)
            explain = {"sqlite": "EXPLAIN QUERY PLAN ", "postgresql": "EXPLAIN ", "mariadb": "EXPLAIN "}[backends.of(conn).name]
            plan = [" | ".join(str(v) for v in row) for row in conn.execute(text(
                explain + "SELECT r.id, b.reason FROM filter_run_blocks b JOIN filter_runs r ON r.id = b.run_id "
                "WHERE b.run_id IN (SELECT id FROM filter_runs WHERE hash_key_id = :k) AND b.number_hash = :h AND r.hash_key_id = :k"),
                {"h": hasher.hash(numbers[0]), "k": hasher.key_id})]
    finally:
        engine.dispose()
    return {"lookup_median_s": round(statistics.median(seconds), 4), "lookup_max_s": round(max(seconds), 4),
            "runs_found_per_number": found, "plan": plan}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--stops", type=int, default=1_000_000)
    parser.add_argument("--seed", type=int, default=8)
    parser.add_argument("--pairs", type=int, default=3)
    parser.add_argument("--backends", default="sqlite", help="comma-separated: sqlite, postgresql")
    args = parser.parse_args()
    generate(args.rows, args.stops, args.seed)
    for kind in args.backends.split(","):
        url = database(kind)
        runs = []
        for pair in range(args.pairs):
            for with_key in (False, True):
                run = one_run(url, with_key)
                runs.append(run)
                print(json.dumps({"backend": kind, "pair": pair + 1, **run}), flush=True)
        counts = [r for r in runs if r["variant"] == "counts"]
        hashes = [r for r in runs if r["variant"] == "hashes"]
        summary = {"backend": kind, "rows": args.rows, "stops": args.stops}
        for what in ("wall_s", "cpu_s"):
            c, h = [float(r[what]) for r in counts], [float(r[what]) for r in hashes]  # type: ignore[arg-type]
            summary[f"{what}_median_counts"] = statistics.median(c)
            summary[f"{what}_median_hashes"] = statistics.median(h)
            summary[f"{what}_ratio_per_pair"] = [round(b / a, 3) for a, b in zip(c, h)]
            summary[f"{what}_ratio_of_medians"] = round(statistics.median(h) / statistics.median(c), 3)
        summary["evidence_lookup"] = lookups(url)
        print(json.dumps(summary), flush=True)


if __name__ == "__main__":
    main()
