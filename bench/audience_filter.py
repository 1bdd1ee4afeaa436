"""Bench for issue 8: the audience filter against its two peers, same files, one run.

    .venv/bin/python bench/audience_filter.py                # 10,000,000 rows vs 1,000,000 stops
    .venv/bin/python bench/audience_filter.py --rows 1000000 # smaller

Files go to bench/out/ (gitignored) and are reused when their parameters match:
- ``stops.sqlite3``: a migrated SQLite database with 1,000,000 open stops and a fresh stops run;
- ``audience.csv``: ``id;first_name;last_name;email;telephone;city`` rows (~100 bytes each, ~1 GB for
  10 M), the phone in messy shapes. The ``id`` ends with the truth, decided at generation time
  from the underlying E.164 number: ``s`` stopped, ``x`` invalid, ``k`` fine. The filter never
  reads it; the bench uses it to count wrongly allowed rows.

Variants (each in its own process, peak RSS from the kernel's accounting of that process):
- ``ours``: the real CLI, ``smspartner-etl filter-audience`` (loads the stops from the database,
  checks freshness, streams the CSV). Its RSS is sampled while it runs, to show it does not grow
  with the input.
- ``duckdb``: exact-string anti-join of the phone column against the stored E.164 strings.
- ``pandas``: pandas + phonenumbers per row on the first 200,000 rows, extrapolated.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import subprocess
import sys
import time
from pathlib import Path

OUT = Path(__file__).resolve().parent / "out"
ROOT = Path(__file__).resolve().parents[1]
PY = sys.executable

FIRST = ["Anna", "Bob", "Chloé", "David", "Émile", "Fatou", "Gaëlle", "Hugo", "Inès", "Jules"]
LAST = ["Martin", "Bernard", "Dubois", "Thomas", "Robert", "Richard", "Petit", "Durand", "Leroy", "Moreau"]
CITY = ["Paris", "Lyon", "Marseille", "Toulouse", "Nice", "Nantes", "Strasbourg", "Lille", "Rennes", "Saint-Denis"]


def mobile_nsns(rng: random.Random, count: int) -> list[str]:
    """Random *valid* French mobile NSNs (9 digits), checked with phonenumbers' own metadata."""
    from etl.phones import e164_int_parser

    valid = e164_int_parser("FR")  # same answers as phonenumbers (tests/test_phones.py), ~30x faster
    result: list[str] = []
    randrange = rng.randrange
    while len(result) < count:
        value = randrange(6 * 10**8, 8 * 10**8)
        nsn = str(value)
        if valid("+33" + nsn):
            result.append(nsn)
    return result


def shape(nsn: str, rng: random.Random) -> str:
    """The same number as people type it (issue 8's list), weighted like a CRM export."""
    r = rng.random()
    g = f"{nsn[0]} {nsn[1:3]} {nsn[3:5]} {nsn[5:7]} {nsn[7:9]}"
    if r < 0.50:
        return "0" + nsn
    if r < 0.62:
        return "+33" + nsn
    if r < 0.72:
        return "0" + g
    if r < 0.77:
        return "0" + g.replace(" ", ".")
    if r < 0.81:
        return "0" + g.replace(" ", "-")
    if r < 0.85:
        return "0033" + nsn
    if r < 0.88:
        return "+33 (0)" + g
    if r < 0.91:
        return "33" + nsn
    if r < 0.93:
        return "+33 " + g
    return '"0' + g + '"'  # quoted field


def generate(rows: int, stops: int, seed: int) -> dict[str, object]:
    OUT.mkdir(exist_ok=True)
    meta_path = OUT / "meta.json"
    wanted = {"rows": rows, "stops": stops, "seed": seed, "version": 2}
    if meta_path.exists() and json.loads(meta_path.read_text()) == wanted:
        return wanted
    rng = random.Random(seed)
    t0 = time.perf_counter()
    stop_nsns = mobile_nsns(rng, stops)
    stop_set = set(stop_nsns)
    # stops database, through the real migrations
    db = OUT / "stops.sqlite3"
    for suffix in ("", "-wal", "-shm"):
        Path(f"{db}{suffix}").unlink(missing_ok=True)
    from datetime import datetime, timezone

    from etl.db.migrate import upgrade

    upgrade(f"sqlite:///{db}")
    import sqlite3

    now = datetime.now(timezone.utc).replace(tzinfo=None).isoformat(sep=" ")
    con = sqlite3.connect(db)
    con.execute("INSERT INTO sync_runs (job, started_at, finished_at, outcome, rows_added, rows_changed, rows_removed)"
                " VALUES ('stops', ?, ?, 'success', ?, 0, 0)", (now, now, stops))
    con.executemany(
        "INSERT INTO stop_periods (api_stop_id, phone_e164, phone_raw, first_seen_at, source) VALUES (?, ?, ?, ?, 'sync')",
        ((i, "+33" + n, "0" + n, now) for i, n in enumerate(stop_nsns, start=1)),
    )
    con.commit()
    con.close()
    (OUT / "stops.csv").write_text("phone_e164\n" + "".join(f"+33{n}\n" for n in stop_nsns))
    # audience
    fresh = iter(mobile_nsns(rng, rows))  # most rows: numbers not in the stop list
    with (OUT / "audience.csv").open("w", encoding="utf-8", newline="") as out:
        out.write("id;first_name;last_name;email;telephone;city\n")
        buf = []
        for i in range(rows):
            r = rng.random()
            if r < 0.20:
                nsn = rng.choice(stop_nsns)
            elif r < 0.99:
                nsn = next(fresh)
            else:
                nsn = ""
            if nsn:
                truth = "s" if nsn in stop_set else "k"
                phone = shape(nsn, rng)
            else:
                truth = "x"
                phone = rng.choice(["n/a", "", "06 12", "0612345678901", "téléphone ?", "+33 7 12 34 56 78"])
            first, last = rng.choice(FIRST), rng.choice(LAST)
            buf.append(f"{i}{truth};{first};{last};{first.lower()}.{last.lower()}{i}@example.org;{phone};{rng.choice(CITY)}\n")
            if len(buf) >= 100_000:
                out.write("".join(buf))
                buf.clear()
        out.write("".join(buf))
    meta_path.write_text(json.dumps(wanted))
    print(f"generated in {time.perf_counter() - t0:.0f} s", file=sys.stderr)
    return wanted


def run_measured(cmd: list[str], env: dict[str, str] | None = None, sample: bool = False) -> dict[str, object]:
    """Run a process; wall time, CPU seconds and peak RSS of *that* process tree from ``os.wait4``.

    ``ru_maxrss`` from ``wait4`` is the largest single process among the child and the descendants
    it waited for (the filter's workers), not a sum; ``samples`` add up the tree's RSS while it runs
    (shared stop-bitmap pages counted once per process, so an upper bound).
    """
    import threading

    import psutil

    t0 = time.perf_counter()
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, cwd=ROOT)
    samples: list[tuple[float, float]] = []
    pss_samples: list[float] = []
    done = threading.Event()

    def sampler() -> None:
        try:
            root = psutil.Process(proc.pid)
        except psutil.Error:
            return
        while not done.wait(0.5):
            try:
                tree = [root, *root.children(recursive=True)]
                samples.append((time.perf_counter() - t0, sum(p.memory_info().rss for p in tree) / 2**20))
                # PSS shares each page among the processes that map it: the forked workers share
                # the parent's stop set, which a plain RSS sum counts once per process.
                pss_samples.append(sum(p.memory_full_info().pss for p in tree) / 2**20)
            except psutil.Error:
                pass

    thread = threading.Thread(target=sampler, daemon=True)
    if sample:
        thread.start()
    reader = threading.Thread(target=lambda: setattr(proc, "_out", (proc.stdout.read(), proc.stderr.read())))  # type: ignore[union-attr]
    reader.start()
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - t0
    done.set()
    reader.join()
    proc.returncode = os.waitstatus_to_exitcode(status)
    out, err = (part.decode(errors="replace") for part in proc._out)  # type: ignore[attr-defined]
    return {"wall": wall, "returncode": proc.returncode, "stdout": out, "stderr": err[-2000:],
            "cpu_s": usage.ru_utime + usage.ru_stime, "peak_rss_mb": usage.ru_maxrss / 1024, "samples": samples,
            "tree_pss_mb_max": max(pss_samples, default=0.0)}


def verify(allowed: Path, blocked: Path) -> dict[str, int]:
    """Wrongly allowed = stopped or invalid truth in the allowed file; wrongly blocked = fine ones blocked."""
    wrong_allowed = allowed_rows = 0
    with allowed.open(encoding="utf-8") as handle:
        next(handle, None)
        for line in handle:
            allowed_rows += 1
            truth = line.split(";", 1)[0][-1:]
            if truth in ("s", "x"):
                wrong_allowed += 1
    wrong_blocked = 0
    with blocked.open(encoding="utf-8") as handle:
        next(handle, None)
        for line in handle:
            if line.split(";", 1)[0][-1:] == "k" and not line.rstrip("\r\n").endswith(";duplicate"):
                wrong_blocked += 1
    return {"allowed_rows": allowed_rows, "wrongly_allowed": wrong_allowed, "wrongly_blocked": wrong_blocked}


def _duckdb_anti_join(con: "duckdb.DuckDBPyConnection") -> None:  # noqa: F821 - imported lazily
    """The peer's whole job: audience rows whose phone text is not a stored E.164 string."""
    con.execute("SET threads TO 2")
    con.execute(f"""
        COPY (
          SELECT a.* FROM read_csv('{OUT / "audience.csv"}', delim=';', header=true, all_varchar=true) a
          ANTI JOIN read_csv('{OUT / "stops.csv"}', header=true, all_varchar=true) s
            ON a.telephone = s.phone_e164
        ) TO '{OUT / "duckdb_allowed.csv"}' (DELIMITER ';', HEADER true)
    """)


def peer_duckdb() -> None:
    """Exact-string anti-join: phone NOT IN stored E.164 strings (what a plain SQL join does)."""
    import duckdb

    t0 = time.perf_counter()
    con = duckdb.connect()
    _duckdb_anti_join(con)
    rows, wrong = con.execute(f"""
        SELECT count(*), count(*) FILTER (WHERE right(id, 1) IN ('s', 'x'))
          FROM read_csv('{OUT / "duckdb_allowed.csv"}', delim=';', header=true, all_varchar=true)
    """).fetchone()
    stopped_let_through = con.execute(f"""
        SELECT count(*) FROM read_csv('{OUT / "duckdb_allowed.csv"}', delim=';', header=true, all_varchar=true)
         WHERE right(id, 1) = 's'
    """).fetchone()[0]
    print(json.dumps({"seconds_incl_verify": time.perf_counter() - t0, "allowed_rows": rows,
                      "wrongly_allowed": wrong, "stopped_let_through": stopped_let_through}))


def peer_duckdb_timed() -> None:
    import duckdb

    t0 = time.perf_counter()
    con = duckdb.connect()
    _duckdb_anti_join(con)
    print(json.dumps({"seconds": time.perf_counter() - t0}))


def peer_pandas(sample_rows: int) -> None:
    """pandas + phonenumbers on every row of a sample; rows/s extrapolates."""
    import pandas as pd
    import phonenumbers

    t0 = time.perf_counter()
    stops = set(pd.read_csv(OUT / "stops.csv", dtype=str)["phone_e164"])
    t1 = time.perf_counter()
    frame = pd.read_csv(OUT / "audience.csv", sep=";", dtype=str, nrows=sample_rows, keep_default_na=False)

    def e164(raw: str) -> str | None:
        try:
            number = phonenumbers.parse(raw, "FR")
        except phonenumbers.NumberParseException:
            return None
        if not phonenumbers.is_valid_number(number):
            return None
        return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)

    frame["e164"] = frame["telephone"].map(e164)
    keep = frame["e164"].notna() & ~frame["e164"].isin(stops) & ~frame["e164"].duplicated()
    allowed = frame[keep]
    t2 = time.perf_counter()
    wrong = int(allowed["id"].str[-1].isin(["s", "x"]).sum())
    print(json.dumps({"rows": len(frame), "seconds_rows": t2 - t1, "seconds_load_stops": t1 - t0,
                      "wrongly_allowed": wrong}))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=10_000_000)
    parser.add_argument("--stops", type=int, default=1_000_000)
    parser.add_argument("--seed", type=int, default=8)
    parser.add_argument("--sample", type=int, default=200_000, help="rows for the pandas + phonenumbers peer")
    parser.add_argument("--only", choices=["generate", "ours", "duckdb", "pandas"], default=None)
    parser.add_argument("--peer", choices=["duckdb", "duckdb_timed", "pandas"], help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.peer == "duckdb":
        return peer_duckdb()
    if args.peer == "duckdb_timed":
        return peer_duckdb_timed()
    if args.peer == "pandas":
        return peer_pandas(args.sample)
    generate(args.rows, args.stops, args.seed)
    if args.only == "generate":
        return
    size_mb = (OUT / "audience.csv").stat().st_size / 2**20
    print(f"audience: {args.rows:,} rows, {size_mb:,.0f} MB; stops: {args.stops:,}")
    results: dict[str, object] = {}
    if args.only in (None, "ours"):
        config = OUT / "bench.toml"
        config.write_text(f'[database]\nurl = "sqlite:///{OUT / "stops.sqlite3"}"\n[audience]\nmax_stop_age = "3650d"\n')
        cli = str(Path(PY).with_name("smspartner-etl"))
        cmd = [cli, "--config", str(config), "filter-audience", str(OUT / "audience.csv"),
               "--allowed", str(OUT / "ours_allowed.csv"), "--blocked", str(OUT / "ours_blocked.csv"),
               "--report", str(OUT / "ours_report.json")]
        run = run_measured(cmd, sample=True)
        if run["returncode"] != 0:
            print(run["stderr"], file=sys.stderr)
            raise SystemExit(1)
        report = json.loads((OUT / "ours_report.json").read_text())
        check = verify(OUT / "ours_allowed.csv", OUT / "ours_blocked.csv")
        samples = run["samples"]
        quart = [round(samples[int(len(samples) * q)][1]) for q in (0.25, 0.5, 0.75, 0.99)] if samples else []
        results["ours"] = {
            "rows_per_s_whole_process": round(args.rows / run["wall"]),
            "rows_per_s_filter_only": report["rows_per_second"],
            "wall_s": round(run["wall"], 1),
            "cpu_s": round(run["cpu_s"], 1),
            "cpu_us_per_row": round(run["cpu_s"] / args.rows * 1e6, 2),
            "peak_rss_mb_largest_process": round(run["peak_rss_mb"]),
            "tree_rss_mb_max_sampled": round(max((m for _, m in samples), default=0)),
            "tree_pss_mb_max_sampled": round(run["tree_pss_mb_max"]),
            "tree_rss_mb_at_25_50_75_99pct_of_run": quart,
            "blocked_by_reason": report["blocked_by_reason"],
            **check,
        }
        print("ours:", json.dumps(results["ours"]))
    if args.only in (None, "duckdb"):
        run = run_measured([PY, __file__, "--peer", "duckdb_timed"])
        timed = json.loads(run["stdout"])
        peak = run["peak_rss_mb"]
        run2 = run_measured([PY, __file__, "--peer", "duckdb"])
        data = json.loads(run2["stdout"])
        results["duckdb"] = {"rows_per_s": round(args.rows / timed["seconds"]), "seconds": round(timed["seconds"], 1),
                             "peak_rss_mb": round(peak), "cpu_s": round(run["cpu_s"], 1), "allowed_rows": data["allowed_rows"],
                             "wrongly_allowed": data["wrongly_allowed"],
                             "stopped_numbers_let_through": data["stopped_let_through"]}
        print("duckdb exact-string anti-join:", json.dumps(results["duckdb"]))
    if args.only in (None, "pandas"):
        run = run_measured([PY, __file__, "--peer", "pandas", "--sample", str(args.sample)])
        data = json.loads(run["stdout"])
        rate = data["rows"] / data["seconds_rows"]
        results["pandas"] = {"rows_per_s": round(rate), "extrapolated_s_for_all_rows": round(args.rows / rate),
                             "sample_rows": data["rows"], "wrongly_allowed_in_sample": data["wrongly_allowed"],
                             "peak_rss_mb": round(run["peak_rss_mb"])}
        print("pandas + phonenumbers:", json.dumps(results["pandas"]))
    (OUT / "results.json").write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
