"""The web console on a large database (issue 19): the audience check's rows/s beside the CLI's, and overview and
number lookup latency over HTTP.

    python scripts/with_servers.py --postgresql -- .venv/bin/python bench/console.py [--backends sqlite,postgresql]
        [--stops 1000000] [--recipients 2500000] [--events-per 4] [--requests 50] [--reuse]
    .venv/bin/python bench/console.py --only audience [--audience-rows 1000000] [--pairs 3]

Audience: bench/audience_filter.py's files (1 M stops in a SQLite database, a ``--audience-rows`` CSV of messy
numbers, 20 % stopped; reused when they match), then in alternation, ``--pairs`` times: the CLI
(``smspartner-etl filter-audience``, its default workers) timed as a process, and the console over HTTP timed from
the first byte of the upload (streamed, chunked, never in memory) to the last byte of the three downloads, with
``[console] audience_workers`` 1 (the default) and 2. Prints each run's rows/s and the console/CLI ratios of medians.

Per backend: the schema (``db upgrade``), then bench/evidence.py's generator (1 M stop periods, 2.5 M recipients,
10 M status events, set-based in the database, ANALYZE) plus a year of ``sync_runs``; a viewer; the real console
(`etl.console.server.ConsoleServer`, uvicorn on a free port, in this process's threads) signed in to over HTTP with
``requests``, and ``--requests`` GETs of ``/`` and of ``/lookup?number=`` (numbers stopped, texted, both and neither,
in turn). Prints median and p95 per page, then each page's queries (`etl.console.queries`) timed alone, so a slow
page names its slow query, and the funnel as the console read it before its rollup (0010's ``status_funnel`` over
the recipients; migration 0025), checked to give the same counts. The generated recipients bypass the jobs, so the
rollups are rebuilt after the seed, as after a bulk import. ``--reuse`` measures a database an earlier run
generated (``db upgrade`` it first if it predates a migration). Figures: docs/benchmarks.md, "Console at scale".
"""

from __future__ import annotations

import argparse
import os
import re
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from collections.abc import Iterator  # noqa: E402

import audience_filter  # noqa: E402 - bench/audience_filter.py: the 1 M stops database and the campaign file
import evidence as generator  # noqa: E402 - bench/evidence.py: the 1 M stops / 10 M status rows database
import requests  # noqa: E402
from _shared import OUT, ROOT, fresh_database  # noqa: E402
from sqlalchemy import Engine, text  # noqa: E402

from etl.config import Config, load_config  # noqa: E402
from etl.console import pages, queries, users  # noqa: E402
from etl.console.server import ConsoleServer  # noqa: E402
from etl.db import funnel_rollup, spend_rollup  # noqa: E402
from etl.db.engine import make_engine  # noqa: E402
from etl.db.migrate import revision_module, upgrade  # noqa: E402

NOW = generator.NOW
PASSWORD = "bench-console-password"
JOBS = ("stops", "statuses", "rentals", "actions", "contacts", "accounts", "finance", "retention")
GOAL_SECONDS = 0.200


def load() -> str:
    return open("/proc/loadavg").read().split()[0]


def add_runs(url: str, count: int) -> float:
    """``count`` finished runs of the parent account's jobs, one a minute up to `NOW`, mostly successes."""
    engine = make_engine(url)
    dialect = engine.dialect.name
    jobs = "CASE i % 8 " + " ".join(f"WHEN {n} THEN '{job}'" for n, job in enumerate(JOBS)) + " END"
    if dialect == "postgresql":
        at = f"(TIMESTAMPTZ '{NOW.isoformat()}' - i * INTERVAL '1 minute')"
    else:
        at = f"strftime('%Y-%m-%d %H:%M:%f', '{NOW.strftime('%Y-%m-%d %H:%M:%S')}', '-' || i || ' minutes')"
    sql = (f"INSERT INTO sync_runs (job, started_at, finished_at, outcome, rows_added, rows_changed, rows_removed, "
           f"account_id) SELECT {jobs}, {at}, {at}, CASE WHEN i % 50 = 0 THEN 'failed' ELSE 'success' END, 0, 0, 0, 1 "
           f"FROM {generator._series(dialect, count)}")
    started = time.perf_counter()
    with engine.begin() as conn:
        conn.execute(text(sql))
        conn.execute(text("ANALYZE"))
    engine.dispose()
    return time.perf_counter() - started


def reusable(backend: str) -> str | None:
    """The URL of a database an earlier run generated (the SQLite file, or the database on the same server)."""
    if backend == "sqlite":
        path = OUT / "bench_console.sqlite3"
        url = f"sqlite:///{path}" if path.exists() else None
    else:
        from sqlalchemy.engine import make_url

        url = make_url(os.environ["SMSETL_POSTGRESQL_URL"]).set(database="bench_console").render_as_string(hide_password=False)
    if url is None:
        return None
    engine = make_engine(url)
    try:
        with engine.connect() as conn:
            filled = bool(conn.execute(text("SELECT COUNT(*) FROM sync_runs")).scalar())
    except Exception:  # noqa: BLE001 - no such file, database or table: generate it
        filled = False
    finally:
        engine.dispose()
    return url if filled else None


def database(backend: str, args: argparse.Namespace) -> str | None:
    if backend == "postgresql" and not os.environ.get("SMSETL_POSTGRESQL_URL"):
        print("postgresql: no URL (run under scripts/with_servers.py --postgresql)")
        return None
    url = reusable(backend) if args.reuse else None
    if url is not None:
        print(f"== {backend}: reusing the database generated before", flush=True)
        return url
    url = fresh_database(backend, "bench_console")
    upgrade(url)
    print(f"== {backend}: {args.stops:,} stops, {args.recipients:,} recipients, "
          f"{args.recipients * args.events_per:,} status events, {args.runs:,} runs (load {load()})", flush=True)
    for name, seconds in generator.generate(url, args.stops, args.recipients, args.events_per).items():
        print(f"   {name}: {seconds:.1f} s", flush=True)
    print(f"   generate sync_runs: {add_runs(url, args.runs):.1f} s", flush=True)
    print(f"   rebuild the rollups: {rebuild_rollups(url):.1f} s", flush=True)
    return url


def rebuild_rollups(url: str) -> float:
    """``funnel_days`` and ``spend_days`` from the generated recipients: the generator writes around the jobs, as a
    bulk import does (docs/operations.md)."""
    engine = make_engine(url)
    started = time.perf_counter()
    with engine.begin() as conn:
        funnel_rollup.rebuild(conn)
        spend_rollup.rebuild(conn)
    with engine.begin() as conn:
        conn.execute(text("ANALYZE"))
    engine.dispose()
    return time.perf_counter() - started


def sign_in(base: str, name: str) -> requests.Session:
    session = requests.Session()
    form = session.get(f"{base}/login", timeout=30)
    token = re.search(r'name="csrf" value="([^"]+)"', form.text)
    assert token, form.text
    answer = session.post(f"{base}/login", data={"name": name, "password": PASSWORD, "csrf": token.group(1), "next": "/"},
                          allow_redirects=False, timeout=30)
    assert answer.status_code == 303, answer.text
    return session


def numbers(engine: Engine) -> list[str]:
    """Stopped, texted and unknown numbers, to look up in turn."""
    with engine.connect() as conn:
        stopped = [r[0] for r in conn.execute(text("SELECT phone_e164 FROM stop_periods ORDER BY id LIMIT 4"))]
        texted = [r[0] for r in conn.execute(text("SELECT phone_e164 FROM recipients ORDER BY id DESC LIMIT 4"))]
    return [*stopped, *texted, "+33655555555", "+33799999999"]


def timed(call: Callable[[], Any], count: int) -> list[float]:
    out = []
    for _ in range(count):
        started = time.perf_counter()
        call()
        out.append(time.perf_counter() - started)
    return out


def p95(values: list[float]) -> float:
    return statistics.quantiles(values, n=20, method="inclusive")[-1] if len(values) > 1 else values[0]


def report(name: str, values: list[float]) -> None:
    verdict = "ok" if p95(values) <= GOAL_SECONDS else f"MISSES {GOAL_SECONDS * 1000:.0f} ms"
    print(f"   {name}: median {statistics.median(values) * 1000:.1f} ms, p95 {p95(values) * 1000:.1f} ms, "
          f"max {max(values) * 1000:.1f} ms over {len(values)} ({verdict})", flush=True)


def pages_over_http(config: Config, engine: Engine, count: int) -> None:
    if users.find(engine, "bench") is None:
        users.add(engine, "bench", "viewer", PASSWORD, NOW)
    server = ConsoleServer(config, engine, now=lambda: NOW).start()
    try:
        base = f"http://127.0.0.1:{server.port}"
        session = sign_in(base, "bench")
        wanted = numbers(engine)

        def get(path: str) -> None:
            answer = session.get(base + path, timeout=120)
            assert answer.status_code == 200, (path, answer.status_code)

        timed(lambda: get("/"), 2)  # warm: the first read of each table comes from disk
        report("overview GET /", timed(lambda: get("/"), count))
        turn = iter(range(10**9))
        report("lookup GET /lookup", timed(lambda: get(f"/lookup?number={wanted[next(turn) % len(wanted)]}"), count))
    finally:
        server.stop()


def old_funnel(engine: Engine, since: Any) -> list[Any]:
    """The console's funnel as it read 0010's ``status_funnel`` over the recipients, before ``funnel_days`` (0025)."""
    view = revision_module("0010_accounts.py").STATUS_FUNNEL.split(" AS\n", 1)[1]
    sql = text(f"SELECT account_label, SUM(delivered), SUM(failed), SUM(pending), SUM(expired), SUM(not_found) "
               f"FROM ({view}) f WHERE sent_day >= :since GROUP BY account_label ORDER BY account_label")
    with engine.connect() as conn:
        return list(conn.execute(sql, {"since": since}))


def queries_alone(config: Config, engine: Engine, repeat: int) -> None:
    """Each query the two pages run, in this process, so a slow page names its slow query; and the funnel as it
    was read before its rollup, on the same data in the same run."""
    since, _last = queries.chart_window(engine, pages.CHART_DAYS, NOW.date())
    number = numbers(engine)[0]
    calls: dict[str, Callable[[], Any]] = {
        "chart_window": lambda: queries.chart_window(engine, pages.CHART_DAYS, NOW.date()),
        "job_rows": lambda: queries.job_rows(engine, config.jobs, NOW),
        "quarantined": lambda: queries.quarantined(engine),
        "spend": lambda: queries.spend(engine, since),
        "funnel": lambda: queries.funnel(engine, since),
        "number_history": lambda: queries.number_history(engine, number),
        "funnel over the recipients (0010's status_funnel)": lambda: old_funnel(engine, since),
    }
    for name, call in calls.items():
        values = timed(call, 3 if name.startswith("funnel over") else repeat)
        print(f"   query {name}: median {statistics.median(values) * 1000:.1f} ms (max {max(values) * 1000:.1f})", flush=True)
    before = {str(row[0]): [int(v or 0) for v in row[1:]] for row in old_funnel(engine, since)}
    assert before == {k: list(v.values()) for k, v in queries.funnel(engine, since).items()}, "the rollup's funnel differs"


def upload_body(path: Path, token: str, boundary: str) -> Iterator[bytes]:
    """The audience form as a browser sends it (the token first), the file read 1 MiB at a time."""
    yield (f"--{boundary}\r\nContent-Disposition: form-data; name=\"csrf\"\r\n\r\n{token}\r\n--{boundary}\r\n"
           f"Content-Disposition: form-data; name=\"file\"; filename=\"{path.name}\"\r\n"
           f"Content-Type: text/csv\r\n\r\n").encode()
    with path.open("rb") as f:
        while chunk := f.read(1 << 20):
            yield chunk
    yield f"\r\n--{boundary}--\r\n".encode()


def console_check(base: str, session: requests.Session, path: Path, out: Path) -> float:
    """Upload, wait for the check, download the three files; the seconds it took end to end."""
    started = time.perf_counter()
    form = session.get(f"{base}/audience", timeout=30)
    token = re.search(r'name="csrf" value="([^"]+)"', form.text)
    assert token, form.text
    boundary = "benchboundary7f3a"
    answer = session.post(f"{base}/audience", data=upload_body(path, token.group(1), boundary), allow_redirects=False,
                          headers={"Content-Type": f"multipart/form-data; boundary={boundary}"}, timeout=600)
    assert answer.status_code == 303, (answer.status_code, answer.text[:500])
    run = base + answer.headers["location"]
    while True:
        page = session.get(run, timeout=30).text
        status = re.search(r'id="run-status"[^>]*data-status="(\w+)"', page)
        assert status, page[:500]
        if status.group(1) not in ("queued", "running"):
            break
        time.sleep(0.05)
    assert status.group(1) == "done", page[:2000]
    for kind in ("allowed", "blocked", "report"):
        with session.get(f"{run}/{kind}", stream=True, timeout=600) as got, (out / f"console_{kind}").open("wb") as f:
            assert got.status_code == 200, (kind, got.status_code)
            for chunk in got.iter_content(1 << 20):
                f.write(chunk)
    return time.perf_counter() - started


def audience(rows: int, pairs: int) -> None:
    meta = audience_filter.generate(rows, 1_000_000, 8)
    csv_path, db = audience_filter.OUT / "audience.csv", audience_filter.OUT / "stops.sqlite3"
    toml = audience_filter.OUT / "bench_console.toml"
    toml.write_text(f'[database]\nurl = "sqlite:///{db}"\n[audience]\nmax_stop_age = "3650d"\n')
    print(f"== audience check: {meta['rows']:,} rows vs {meta['stops']:,} stops, {csv_path.stat().st_size / 2**20:.0f} MiB "
          f"(load {load()})", flush=True)
    cli = [str(Path(sys.executable).with_name("smspartner-etl")), "--config", str(toml), "filter-audience", str(csv_path),
           "--allowed", str(OUT / "cli_allowed.csv"), "--blocked", str(OUT / "cli_blocked.csv"),
           "--report", str(OUT / "cli_report.json")]
    engine = make_engine(f"sqlite:///{db}")
    if users.find(engine, "bench-marketing") is None:
        users.add(engine, "bench-marketing", "marketing", PASSWORD, datetime.now(timezone.utc))
    servers = {}
    for workers in (1, 2):
        config = load_config(str(toml), environ={
            "SMSPARTNER_ETL__CONSOLE__PORT": "0", "SMSPARTNER_ETL__CONSOLE__WORK_DIR": str(OUT / f"console_runs_{workers}"),
            "SMSPARTNER_ETL__CONSOLE__UPLOAD_LIMIT": str(4 << 30), "SMSPARTNER_ETL__CONSOLE__AUDIENCE_WORKERS": str(workers)})
        server = ConsoleServer(config, engine).start()
        base = f"http://127.0.0.1:{server.port}"
        servers[workers] = (server, base, sign_in(base, "bench-marketing"))
    seconds: dict[str, list[float]] = {"cli": [], "console, 1 worker": [], "console, 2 workers": []}
    try:
        for i in range(pairs):
            started = time.perf_counter()
            subprocess.run(cli, check=True, capture_output=True, cwd=ROOT)
            seconds["cli"].append(time.perf_counter() - started)
            for workers in (1, 2):
                _server, base, session = servers[workers]
                name = f"console, {workers} worker" + ("s" if workers > 1 else "")
                seconds[name].append(console_check(base, session, csv_path, OUT))
            print(f"   pair {i + 1}: " + ", ".join(f"{k} {v[-1]:.1f} s" for k, v in seconds.items()) + f" (load {load()})",
                  flush=True)
    finally:
        for server, _base, _session in servers.values():
            server.stop()
        engine.dispose()
    cli_median = statistics.median(seconds["cli"])
    for name, values in seconds.items():
        median = statistics.median(values)
        print(f"   {name}: median {median:.1f} s, {meta['rows'] / median:,.0f} rows/s, "
              f"ratio to the CLI's rows/s {cli_median / median:.2f} (goal >= 0.80)", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--stops", type=int, default=1_000_000)
    parser.add_argument("--recipients", type=int, default=2_500_000)
    parser.add_argument("--events-per", type=int, default=4, help="status_events per recipient (10 M with the defaults)")
    parser.add_argument("--runs", type=int, default=100_000, help="sync_runs rows (a busy mirror's few months)")
    parser.add_argument("--requests", type=int, default=50)
    parser.add_argument("--backends", default="sqlite,postgresql")
    parser.add_argument("--reuse", action="store_true",
                        help="measure the database an earlier run left (bench/out/bench_console.sqlite3, or "
                             "bench_console on the same PostgreSQL) instead of generating it again")
    parser.add_argument("--only", choices=["pages", "audience"], default=None)
    parser.add_argument("--audience-rows", type=int, default=1_000_000)
    parser.add_argument("--pairs", type=int, default=3)
    args = parser.parse_args()
    if args.only in (None, "audience"):
        audience(args.audience_rows, args.pairs)
    if args.only == "audience":
        return
    config = load_config(None, environ={"SMSPARTNER_ETL__CONSOLE__PORT": "0"})
    for backend in args.backends.split(","):
        url = database(backend, args)
        if url is None:
            continue
        engine = make_engine(url)
        print(f"   pages over HTTP (load {load()}, {datetime.now(timezone.utc):%H:%M} UTC)", flush=True)
        pages_over_http(config, engine, args.requests)
        queries_alone(config, engine, 5)
        print(f"   (load {load()})", flush=True)
        engine.dispose()


if __name__ == "__main__":
    main()
