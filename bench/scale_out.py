"""Instances that split the polling: 1, 2 and 4 real daemons on one PostgreSQL for a fixed window each (issue 20).

    .venv/bin/python scripts/with_servers.py --postgresql -- .venv/bin/python bench/scale_out.py
    .venv/bin/python scripts/with_servers.py --postgresql -- .venv/bin/python bench/scale_out.py --quick

The simulator runs in **its own process** with the issue's network stand-in: ``--status-delay`` (200 ms) on every
status call (bulk-status, multi-status, bulk-status-by-tag) and ``--cost-delay`` (20 ms) on every ``message-status``,
and a ``rate_limit`` fault at the budget (HTTP 429 above ``--budget`` calls in any 60 s of wall time, every endpoint
together). It holds the same sends as the database: ``--sends`` sends of 500 pending recipients plus the
``--cost-due`` final ones (sends of 500), its clock frozen an hour after they went out.

The database is seeded once by SQL (``generate_series``; indexes built after, then ``ANALYZE``): every pending
recipient polled once an hour ago, half of each send due now (one due time per send, spread over the last 30 min),
the other half due in 1-2 h (not due during the bench), and the cost-due recipients final with their first cost read
due. Each run gets its own copy (``CREATE DATABASE … TEMPLATE``), so 1, 2 and 4 instances start from the same rows.

Each instance is a real ``smspartner-etl run statuses`` process with a TOML config (``api.max_calls_per_minute`` =
``--budget``, ``api.concurrency``, ``jobs.statuses.every``, ``daemon.jitter = 0``; ``--config-extra`` appends
TOML). The window opens at the first API call the simulator sees and lasts ``--window`` seconds; then every
instance gets SIGTERM and the bench waits for it to exit. Each call is attributed to its instance by its client port
(the call log's ``peer``, sampled from each process's sockets in /proc).

Per run, printed as one JSON line: pairs/s (due pairs whose poll was stored in the window, ``last_polled_at``),
cost reads/s (``cost_checked_at``), calls per endpoint and per instance, **double polls** (recipients covered by two
status answers in the run, from the call log: a bulk-status answer covers every recipient of its message, a
multi-status one the pairs it was asked; and in the database, ``poll_count`` up by 2 or more), **duplicate cost
reads** (a ``message-status`` of the same pair answered twice), **lost** (a pair the API answered whose answer
never reached the database), and the budget: the most calls in any 60 s window against ``--budget``, and the 429s.
``--repeat`` rounds alternate the counts (1, 2, 4, 1, 2, 4...); then the medians and the ratios 2 vs 1 (goal ≥ 1.9) and
4 vs 1 (goal ≥ 3.5).

**SIGKILL** (``--kill-instances``, default 2): a run in which the busiest instance is killed ``--kill-at`` s into the
window. Its orphans are the claims it still holds (migration 0027's ``poll_claimed_by``/``cost_claimed_by``: a dead
holder's stay written until another instance takes them over) or, before claims, what it had asked the API and not
stored. The run goes on past its window until another instance has asked for every orphan again (at most
``--kill-wait``); printed: that time, the lease (``--claim-lease``, written as ``statuses.claim_lease``), the
survivors' cycles that were running at the kill (``sync_runs``), and orphans never stored. The load average, the
time of day and the peak RSS (the simulator holds ~1 GB for 1 M recipients) are printed too.
"""

from __future__ import annotations

import argparse
import bisect
import json
import multiprocessing as mp
import os
import resource
import signal
import statistics
import subprocess
import sys
import threading
import time
from collections import Counter, defaultdict
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from _shared import ROOT, fresh_database
from sqlalchemy import inspect, text

from etl.db import dialect
from etl.db.engine import make_engine
from etl.db.migrate import upgrade
from etl.db.schema import recipients

KEY = "bench-key-not-a-secret"
PER_SEND = 500
#: The simulator's first message id: the seed gives send ``s`` (1-based) the message id ``FIRST_ID - 1 + s``.
FIRST_ID = 300_001
STATUS_ENDPOINTS = ("bulk-status", "multi-status", "bulk-status-by-tag")
ETL = str(ROOT / ".venv" / "bin" / "smspartner-etl")


def phone(g: int) -> str:
    """The number of recipient ``g`` (0-based over all sends; recipient row id ``g + 1``)."""
    return f"+336{g:08d}"


def row_id(e164: str) -> int:
    return int(e164[4:]) + 1


def load() -> str:
    return " ".join(f"{x:.2f}" for x in os.getloadavg())


# ---------------------------------------------------------------------------------------------------------------
# The simulator, in its own process; the pipe carries its call log
# ---------------------------------------------------------------------------------------------------------------


def _compact(call: Any) -> tuple[str, int, float, int | None, Any]:
    """(endpoint, HTTP status, wall time, client port, what it asked: a message id, a pair, or a list of pairs)."""
    p = call.params
    if call.endpoint == "multi-status":
        items = p.get("SMSStatut_List") or []
        asked: Any = [(str(i.get("messageId")), str(i.get("phoneNumber"))) for i in items if isinstance(i, dict)]
    elif call.endpoint == "message-status":
        asked = (str(p.get("messageId")), str(p.get("phoneNumber")))
    else:
        asked = str(p.get("messageId", p.get("tag", "")))
    return call.endpoint, call.http_status, call.wall_at.timestamp(), call.peer, asked


def _serve(conn: Any, sends: int, status_delay: float, cost_delay: float, budget: int) -> None:
    from etl.simulator import Simulator, SimulatorServer

    sim = Simulator(api_key=KEY, seed=11)
    sim.max_calls = 10_000_000
    sim.balance = sim.balance * 100_000
    for s in range(sends):
        mid = sim.send([phone(s * PER_SEND + k) for k in range(PER_SEND)], "bench")
        assert int(mid) == FIRST_ID + s, mid
    sim.clock.advance(timedelta(hours=1))  # frozen there: every run reads the same answers
    for endpoint in STATUS_ENDPOINTS:
        sim.faults.inject(endpoint, "delay", count=None, seconds=status_delay)
    sim.faults.inject("message-status", "delay", count=None, seconds=cost_delay)
    if budget:
        sim.faults.inject("*", "rate_limit", limit=budget, window=60)
    server = SimulatorServer(sim).start()
    conn.send((server.base_url, server.port))
    while True:
        command, arg = conn.recv()
        if command == "stop":
            conn.send(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)
            break
        with sim.lock:
            calls = list(sim.calls)
            if command == "take":
                sim.reset_calls()
        if command == "first":
            conn.send(min((c.wall_at.timestamp() for c in calls), default=None))
        else:  # "take" (and forget) or "peek" since ``arg``
            conn.send([_compact(c) for c in calls if c.wall_at.timestamp() >= (arg or 0)])
    server.stop()


class Sim:
    """The simulator process and its pipe."""

    def __init__(self, sends: int, status_delay: float, cost_delay: float, budget: int) -> None:
        self._pipe, child = mp.Pipe()
        self._lock = threading.Lock()
        self.proc = mp.Process(target=_serve, args=(child, sends, status_delay, cost_delay, budget), daemon=True)
        self.proc.start()
        self.base_url, self.port = self._pipe.recv()

    def ask(self, command: str, arg: Any = None) -> Any:
        with self._lock:
            self._pipe.send((command, arg))
            return self._pipe.recv()

    def stop(self) -> float:
        """Stop it; its peak RSS in MB (the bench stays well under 2 GB: 1 M recipients are ~0.6 GB there)."""
        self._pipe.send(("stop", None))
        peak = float(self._pipe.recv())
        self.proc.join(30)
        return peak


# ---------------------------------------------------------------------------------------------------------------
# The database: seeded once by SQL, one copy per run
# ---------------------------------------------------------------------------------------------------------------


def seed_sql(pending_sends: int, cost_sends: int, at: datetime) -> list[str]:
    t = f"TIMESTAMPTZ '{at.isoformat()}'"
    n, total = pending_sends * PER_SEND, (pending_sends + cost_sends) * PER_SEND
    send_of = "((i - 1) / 500 + 1)"
    sent = f"CASE WHEN i <= {pending_sends} THEN {t} - INTERVAL '1 hour' ELSE {t} - INTERVAL '4 hours' END"
    r_sent = sent.replace("i <=", f"{send_of} <=")
    pending = f"i <= {n}"
    due = "mod(i, 2) = 0"
    return [
        "INSERT INTO sends (id, message_id, kind, sent_at, started_at, sent_day, source, created_at, account_id) "
        f"SELECT i, ({FIRST_ID - 1} + i)::text, 'message', {sent}, {sent}, ({sent})::date, 'bench', {sent}, 1 "
        f"FROM generate_series(1, {pending_sends + cost_sends}) AS g(i)",
        "INSERT INTO recipients (id, send_id, message_id, phone_e164, phone_raw, sent_day, status, status_at, final, "
        "final_seen_at, expired, poll_until, next_poll_at, poll_count, last_polled_at, cost_checks, next_cost_at, "
        "first_seen_at, account_id) "
        f"SELECT i, {send_of}, ({FIRST_ID - 1} + {send_of})::text, '+336' || lpad((i - 1)::text, 8, '0'), "
        f"'+336' || lpad((i - 1)::text, 8, '0'), ({r_sent})::date, "
        f"CASE WHEN {pending} THEN NULL ELSE 'Delivered' END, CASE WHEN {pending} THEN NULL ELSE {t} - INTERVAL '3 hours' END, "
        f"NOT ({pending}), CASE WHEN {pending} THEN NULL ELSE {t} - INTERVAL '3 hours' END, FALSE, "
        f"({r_sent}) + INTERVAL '48 hours', "
        # Due: one time per send over the last 30 min; not due: 1-2 h ahead. Cost-due rows are final.
        f"CASE WHEN NOT ({pending}) THEN NULL WHEN {due} THEN {t} - mod({send_of}, 1800) * INTERVAL '1 second' "
        f"ELSE {t} + (3600 + mod({send_of}, 3600)) * INTERVAL '1 second' END, "
        f"CASE WHEN {pending} THEN 1 ELSE 2 END, {t} - INTERVAL '1 hour', 0, "
        f"CASE WHEN {pending} THEN NULL ELSE {t} - mod(i, 600) * INTERVAL '1 second' END, ({r_sent}), 1 "
        f"FROM generate_series(1, {total}) AS g(i)",
    ]


def seed(url: str, pending_sends: int, cost_sends: int, at: datetime) -> float:
    upgrade(url)
    engine = make_engine(url)
    started = time.perf_counter()
    with engine.begin() as conn:
        dialect.transaction_work_mem(conn, 512)
        dialect.drop_indexes(conn, recipients)
        dropped = dialect.drop_constraints(conn, recipients)
        for statement in seed_sql(pending_sends, cost_sends, at):
            conn.exec_driver_sql(statement)
        dialect.add_constraints(conn, dropped)
        dialect.create_indexes(conn, recipients)
    with engine.connect() as conn:
        for table in ("sends", "recipients"):
            conn.exec_driver_sql(f"SELECT setval('{table}_id_seq', (SELECT MAX(id) FROM {table}))")
        conn.exec_driver_sql("ANALYZE")
        conn.commit()
    engine.dispose()
    return time.perf_counter() - started


def copy_database(template_url: str, name: str) -> str:
    """A fresh database ``name``, a file copy of the seeded one (which must have no connection)."""
    import psycopg
    from sqlalchemy.engine import make_url

    url = make_url(template_url)
    with psycopg.connect(host=url.host, port=url.port, user=url.username, dbname="postgres", autocommit=True) as admin:
        admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.execute(f'CREATE DATABASE "{name}" TEMPLATE "{url.database}"')
    return url.set(database=name).render_as_string(hide_password=False)


def drop_database(db_url: str) -> None:
    import psycopg
    from sqlalchemy.engine import make_url

    url = make_url(db_url)
    with psycopg.connect(host=url.host, port=url.port, user=url.username, dbname="postgres", autocommit=True) as admin:
        admin.execute(f'DROP DATABASE IF EXISTS "{url.database}" WITH (FORCE)')


# ---------------------------------------------------------------------------------------------------------------
# Instances
# ---------------------------------------------------------------------------------------------------------------


def write_config(path: Path, base_url: str, db_url: str, args: argparse.Namespace) -> None:
    path.write_text(
        f'[api]\nbase_url = "{base_url}"\nmax_calls_per_minute = {args.budget}\nconcurrency = {args.concurrency}\n'
        f'[database]\nurl = "{db_url}"\n'
        '[daemon]\njitter = 0\nhealth_port = 0\nlog_format = "text"\n'
        f'[jobs.statuses]\nevery = "{args.every}s"\n'
        + (f'[statuses]\nclaim_lease = "{args.claim_lease}s"\n' if args.claim_lease else "")
        + (args.config_extra.replace("\\n", "\n") + "\n" if args.config_extra else "")
    )


def sim_ports(pid: int, sim_port: int) -> set[int]:
    """The local ports of ``pid``'s TCP connections to the simulator (IPv4 loopback), read from /proc."""
    inodes = set()
    try:
        for fd in os.listdir(f"/proc/{pid}/fd"):
            try:
                target = os.readlink(f"/proc/{pid}/fd/{fd}")
            except OSError:
                continue
            if target.startswith("socket:["):
                inodes.add(target[8:-1])
        lines = Path(f"/proc/{pid}/net/tcp").read_text().splitlines()[1:]
    except OSError:
        return set()
    ports = set()
    for line in lines:
        fields = line.split()
        local, remote, inode = fields[1], fields[2], fields[9]
        if inode in inodes and int(remote.split(":")[1], 16) == sim_port:
            ports.add(int(local.split(":")[1], 16))
    return ports


class Instances:
    """``n`` daemons; a sampler thread maps each one's client ports to it (ports of exited ones stay mapped)."""

    def __init__(self, n: int, config: Path, sim_port: int, logs: Path) -> None:
        env = {**os.environ, "SMSPARTNER_API_KEY": KEY}
        self.procs = []
        for k in range(n):
            log = (logs / f"instance{k}.log").open("w")
            self.procs.append(subprocess.Popen([ETL, "--config", str(config), "run", "statuses"], env=env, cwd=ROOT,
                                               stdout=subprocess.DEVNULL, stderr=log))
        self.owner: dict[int, int] = {}
        self._stop = threading.Event()
        self._sampler = threading.Thread(target=self._sample, args=(sim_port,), daemon=True)
        self._sampler.start()

    def _sample(self, sim_port: int) -> None:
        while not self._stop.is_set():
            for k, proc in enumerate(self.procs):
                if proc.poll() is None:
                    for port in sim_ports(proc.pid, sim_port):
                        self.owner[port] = k
            self._stop.wait(0.1)

    def kill(self, k: int) -> float:
        self.procs[k].send_signal(signal.SIGKILL)
        return time.time()

    def stop(self) -> list[int | None]:
        for proc in self.procs:
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        codes = []
        for proc in self.procs:
            try:
                codes.append(proc.wait(90))
            except subprocess.TimeoutExpired:
                proc.kill()
                codes.append(None)
        self._stop.set()
        self._sampler.join(5)
        return codes


# ---------------------------------------------------------------------------------------------------------------
# What the call log and the database say
# ---------------------------------------------------------------------------------------------------------------


def covered(call: tuple[Any, ...]) -> Iterable[int]:
    """Recipient ids a status answer covers: every recipient of a bulk-status's message, a multi-status's pairs."""
    endpoint, _status, _wall, _peer, asked = call
    if endpoint == "bulk-status":
        first = (int(asked) - FIRST_ID) * PER_SEND + 1
        return range(first, first + PER_SEND)
    if endpoint == "multi-status":
        return [row_id(p) for _m, p in asked]
    return ()


def most_in_window(walls: list[float], window: float = 60.0) -> int:
    """The most calls in any ``window`` seconds (a window starting at each call)."""
    walls = sorted(walls)
    return max((bisect.bisect_left(walls, w + window) - i for i, w in enumerate(walls)), default=0)


def call_figures(calls: list[tuple[Any, ...]], t0: float, t1: float, owner: dict[int, int], budget: int) -> dict[str, Any]:
    """What the call log says; ``_``-keys are the id sets the database figures need (not printed)."""
    answered = [c for c in calls if c[1] == 200]
    in_window = [c for c in answered if t0 <= c[2] < t1]
    coverage: Counter[int] = Counter()
    cost_reads: Counter[int] = Counter()
    for c in answered:
        coverage.update(covered(c))
        if c[0] == "message-status":
            cost_reads[row_id(c[4][1])] += 1
    per_instance: dict[str, Counter[str]] = defaultdict(Counter)
    for c in in_window:
        per_instance[str(owner.get(c[3], "?"))][c[0]] += 1
    let_through = [c[2] for c in calls if c[1] != 429]
    return {
        "calls": dict(Counter(c[0] for c in in_window)),
        "calls_by_instance": {k: dict(v) for k, v in sorted(per_instance.items())},
        "duplicate_cost_reads": sum(1 for n in cost_reads.values() if n > 1),
        "most_calls_in_60s": most_in_window(let_through),
        "arrivals_most_in_60s": most_in_window([c[2] for c in calls]),
        "answered_429": sum(1 for c in calls if c[1] == 429),
        "budget": budget,
        "budget_overruns": max(0, most_in_window(let_through) - budget) if budget else None,
        "_coverage": coverage,
        "_cost_reads": cost_reads,
        "_window_pairs": {i for c in in_window for i in covered(c)},
        "_window_costs": {row_id(c[4][1]) for c in in_window if c[0] == "message-status"},
    }


def stored_since(url: str, column: str, after: float, before: float | None = None) -> set[int]:
    """Ids whose ``column`` (last_polled_at, cost_checked_at: the asked-at time a batch was stored with) is in (after, before)."""
    bounds = {"a": datetime.fromtimestamp(after, UTC), "b": datetime.fromtimestamp(before or 4e9, UTC)}
    engine = make_engine(url)
    with engine.connect() as conn:
        ids = set(conn.execute(text(f"SELECT id FROM recipients WHERE {column} > :a AND {column} < :b"), bounds).scalars())
    engine.dispose()
    return ids


def db_figures(url: str, f: dict[str, Any], seeded_at: float, pending: int, window: float) -> dict[str, Any]:
    """Pairs and cost reads the API answered in the window and the database stored; what it answered and never stored."""
    stored, costed = stored_since(url, "last_polled_at", seeded_at), stored_since(url, "cost_checked_at", seeded_at)
    engine = make_engine(url)
    with engine.connect() as conn:
        polled_twice = conn.execute(text("SELECT COUNT(*) FROM recipients WHERE id <= :n AND poll_count >= 3"), {"n": pending}).scalar_one()
    engine.dispose()
    window_pairs = f.pop("_window_pairs") & stored
    due = {i for i in window_pairs if i <= pending and i % 2 == 0}
    window_costs = f.pop("_window_costs") & costed
    return {
        "due_pairs_polled": len(due),
        "pairs_polled_all": len(window_pairs),
        "cost_reads": len(window_costs),
        "pairs_per_s": round(len(due) / window, 1),
        "cost_reads_per_s": round(len(window_costs) / window, 1),
        "db_polled_twice": polled_twice,
        "lost_pairs": len(set(f["_coverage"]) - stored),
        "lost_cost_reads": len(set(f["_cost_reads"]) - costed),
    }


def _cpu_of(pid: int) -> float:
    """User + system CPU seconds of ``pid`` so far (0 once it is gone)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def cpu_use(instances: Instances, sim: Sim, db_url: str) -> dict[str, float]:
    """CPU seconds so far: the instances together, the simulator, the run database's server backends (by their
    process title), and the whole box (every core busy, other sessions' work included) against its cores."""
    database = db_url.rsplit("/", 1)[1]
    backends = 0.0
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                title = Path(f"/proc/{entry}/cmdline").read_bytes()
            except OSError:
                continue
            if title.startswith(b"postgres: ") and f" {database} ".encode() in title:
                backends += _cpu_of(int(entry))
    busy = [int(x) for x in Path("/proc/stat").read_text().splitlines()[0].split()[1:]]
    idle = busy[3] + busy[4]  # idle and iowait
    return {"instances": sum(_cpu_of(p.pid) for p in instances.procs), "simulator": _cpu_of(sim.proc.pid or 0),
            "postgres": backends, "box_busy": (sum(busy) - idle) / os.sysconf("SC_CLK_TCK"),
            "box_total": sum(busy) / os.sysconf("SC_CLK_TCK")}


def wait_first_call(sim: Sim, limit: float = 120.0) -> float:
    deadline = time.time() + limit
    while time.time() < deadline:
        first = sim.ask("first")
        if first is not None:
            return float(first)
        time.sleep(0.1)
    raise SystemExit("no instance called the simulator within 2 minutes (see bench/out/scale_out/*.log)")


def one_run(n: int, sim: Sim, template: str, args: argparse.Namespace, logs: Path, *, kill_at: float | None = None) -> dict[str, Any]:
    url = copy_database(template, f"bench_scale_out_run{n}{'_kill' if kill_at is not None else ''}")
    config = logs / f"config{n}.toml"
    write_config(config, sim.base_url, url, args)
    sim.ask("take")  # forget earlier runs' calls
    started_load, started_at = load(), datetime.now(UTC)
    instances = Instances(n, config, sim.port, logs)
    t0 = wait_first_call(sim)
    t1 = t0 + args.window
    cpu_at_t0 = cpu_use(instances, sim, url)
    kill: dict[str, Any] = {}
    if kill_at is not None:
        time.sleep(max(0.0, t0 + kill_at - time.time()))
        kill = sigkill_busiest(sim, instances, url, t0, args)
        time.sleep(max(0.0, t1 - time.time()))
        # Then as long as it takes another instance to ask for every orphan again (a lease, then a new cycle).
        wait_taken_over(sim, instances, kill, kill["t_kill"] + args.kill_wait)
        t1 = max(t1, time.time())
    time.sleep(max(0.0, t1 - time.time()))
    cpu = {k: round(v - cpu_at_t0.get(k, 0.0), 1) for k, v in cpu_use(instances, sim, url).items()}
    stopped = time.time()
    codes = instances.stop()
    stop_s = time.time() - stopped
    calls = sim.ask("take")
    figures = call_figures(calls, t0, t1, instances.owner, args.budget)
    figures.update(db_figures(url, figures, args.seeded_at, args.sends * PER_SEND, t1 - t0))
    reasked: set[int] = set()
    if kill:
        figures["sigkill"], reasked = takeover(kill, calls, instances.owner, url, args.seeded_at)
    coverage: Counter[int] = figures.pop("_coverage")
    figures.pop("_cost_reads")
    # An orphan asked again after its instance died is the recovery, not a double poll.
    figures["double_polls"] = sum(1 for i, k in coverage.items() if k > 1 + (i in reasked))
    drop_database(url)
    figures.update(
        cpu_s=cpu, instances=n, window_s=round(t1 - t0, 1), exit_codes=codes, stop_s=round(stop_s, 1),
        started_utc=started_at.strftime("%H:%M:%S"), loadavg_start=started_load, loadavg_end=load(),
    )
    return figures


# ---------------------------------------------------------------------------------------------------------------
# SIGKILL
# ---------------------------------------------------------------------------------------------------------------


#: Migration 0027's claim columns: which instance (``host:pid:random``) holds a pair's status poll or cost read.
CLAIM_COLUMNS = ("poll_claimed_by", "cost_claimed_by")


def claimed_by(url: str, pid: int) -> set[int] | None:
    """Recipient ids ``pid`` holds a claim on, or None when the schema has no claims (before migration 0027)."""
    engine = make_engine(url)
    try:
        with engine.connect() as conn:
            cols = {c["name"] for c in inspect(conn).get_columns("recipients")}
            if not set(CLAIM_COLUMNS) <= cols:
                return None
            mine = " OR ".join(f"{c} LIKE :me" for c in CLAIM_COLUMNS)
            return set(conn.execute(text(f"SELECT id FROM recipients WHERE {mine}"), {"me": f"%:{pid}:%"}).scalars())
    finally:
        engine.dispose()


def sigkill_busiest(sim: Sim, instances: Instances, url: str, t0: float, args: argparse.Namespace) -> dict[str, Any]:
    """Kill the instance that made the most calls in the last 3 s; its orphans are the claims it still holds (a dead
    holder's claims stay written until taken over) or, before claims, what it had asked and not stored."""
    recent = sim.ask("peek", time.time() - 3)
    busiest = Counter(instances.owner.get(c[3]) for c in recent if instances.owner.get(c[3]) is not None).most_common(1)
    victim = busiest[0][0] if busiest else 0
    t_kill = instances.kill(victim)
    time.sleep(0.3)  # its in-flight answers reach the call log
    claims = claimed_by(url, instances.procs[victim].pid)
    asked = {i for c in sim.ask("peek", t0) if instances.owner.get(c[3]) == victim and c[1] == 200 and c[2] < t_kill
             for i in [*covered(c), *([row_id(c[4][1])] if c[0] == "message-status" else [])]}
    orphans = claims if claims is not None else asked - stored_since(url, "last_polled_at", args.seeded_at, t_kill) \
        - stored_since(url, "cost_checked_at", args.seeded_at, t_kill)
    return {"victim": victim, "t_kill": t_kill, "t0": t0, "claimed": claims, "orphans": orphans,
            "lease_s": args.claim_lease, "every_s": args.every}


def wait_taken_over(sim: Sim, instances: Instances, kill: dict[str, Any], until: float) -> None:
    """Until another instance has asked for every orphan again, or ``until``."""
    left = set(kill["orphans"])
    while left and time.time() < until:
        time.sleep(2)
        for c in sim.ask("peek", kill["t_kill"]):
            if c[1] == 200 and instances.owner.get(c[3]) not in (None, kill["victim"]):
                left.difference_update([*covered(c), *([row_id(c[4][1])] if c[0] == "message-status" else [])])


def cycle_lengths(url: str, t_kill: float) -> list[float]:
    """Seconds each statuses run running at the kill lasted (the survivors' cycles: "one cycle" of the takeover bound)."""
    engine = make_engine(url)
    with engine.connect() as conn:
        rows = conn.execute(text("SELECT started_at, finished_at FROM sync_runs WHERE job LIKE 'statuses%' AND started_at < :k "
                                 "AND finished_at > :k"), {"k": datetime.fromtimestamp(t_kill, UTC)}).all()
    engine.dispose()
    return [round((b - a).total_seconds(), 1) for a, b in rows]


def takeover(
    kill: dict[str, Any], calls: list[tuple[Any, ...]], owner: dict[int, int], url: str, seeded_at: float
) -> tuple[dict[str, Any], set[int]]:
    """When the victim's orphans were asked again by another instance, whether any was never stored; and the orphans."""
    victim, t_kill, t0 = kill["victim"], kill["t_kill"], kill["t0"]
    asked: set[int] = set()
    asked_costs: set[int] = set()
    for c in calls:
        if owner.get(c[3]) == victim and c[2] < t_kill and c[1] == 200:
            asked.update(covered(c))
            if c[0] == "message-status":
                asked_costs.add(row_id(c[4][1]))
    # Stored by the victim before it died: asked at a time before the kill. Anything else it asked is an orphan.
    orphans = (asked - stored_since(url, "last_polled_at", seeded_at, t_kill)) | (kill["claimed"] or set())
    cost_orphans = (asked_costs - stored_since(url, "cost_checked_at", seeded_at, t_kill)) - orphans
    stored_after, costed_after = stored_since(url, "last_polled_at", t_kill), stored_since(url, "cost_checked_at", t_kill)
    first_again: dict[int, float] = {}
    for c in sorted(calls, key=lambda c: c[2]):
        if c[2] < t_kill or c[1] != 200 or owner.get(c[3]) == victim:
            continue
        ids = list(covered(c)) + ([row_id(c[4][1])] if c[0] == "message-status" else [])
        for i in ids:
            if (i in orphans or i in cost_orphans) and i not in first_again:
                first_again[i] = c[2]
    done = max(first_again.values(), default=None)
    undone = len(orphans | cost_orphans) - len(first_again)
    return {
        "victim": victim,
        "killed_at_s": round(t_kill - t0, 1),
        "orphan_pairs": len(orphans),
        "orphan_cost_reads": len(cost_orphans),
        "claims_seen": None if kill["claimed"] is None else len(kill["claimed"]),
        "first_call_by_another_after_s": round(min((c[2] for c in calls if c[2] >= t_kill and owner.get(c[3]) != victim),
                                                   default=t_kill) - t_kill, 2),
        "orphans_done_after_s": None if done is None or undone else round(done - t_kill, 2),
        "orphans_not_asked_again": undone,
        "orphans_never_stored": len(orphans - stored_after) + len(cost_orphans - costed_after),
        "lease_s": kill["lease_s"],
        "every_s": kill["every_s"],
        "survivor_cycles_at_kill_s": cycle_lengths(url, t_kill),
    }, orphans | cost_orphans


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="smoke run: 300 sends, 2,000 cost reads, 15 s windows")
    parser.add_argument("--sends", type=int, default=2_000, help="sends of 500 pending recipients (half of each due)")
    parser.add_argument("--cost-due", type=int, default=10_000, help="final recipients whose cost read is due")
    parser.add_argument("--instances", default="1,2,4")
    parser.add_argument("--window", type=float, default=60.0)
    parser.add_argument("--repeat", type=int, default=1, help="rounds of the instance counts (medians printed)")
    parser.add_argument("--status-delay", type=float, default=0.2)
    parser.add_argument("--cost-delay", type=float, default=0.02)
    parser.add_argument("--budget", type=int, default=20_000, help="api.max_calls_per_minute and the simulator's 429 limit")
    parser.add_argument("--concurrency", type=int, default=1, help="api.concurrency")
    parser.add_argument("--every", type=float, default=2.0, help="jobs.statuses.every, seconds")
    parser.add_argument("--claim-lease", type=float, default=0.0,
                        help="statuses.claim_lease, seconds (once claims exist, migration 0027); 0: not set (before claims, "
                             "the statuses lock dies with the killed instance's session)")
    parser.add_argument("--kill-instances", type=int, default=2, help="instances in the SIGKILL run (0: no such run)")
    parser.add_argument("--kill-at", type=float, default=20.0, help="seconds into the window")
    parser.add_argument("--kill-wait", type=float, default=480.0,
                        help="at most this long after the kill for the orphans to be asked again (the run goes on past its window)")
    parser.add_argument("--config-extra", default="", help="TOML appended to every instance's config ('\\n' for newlines)")
    args = parser.parse_args()
    if args.quick:
        args.sends, args.cost_due, args.window, args.kill_at = 300, 2_000, 15.0, 5.0
    cost_sends = -(-args.cost_due // PER_SEND)
    logs = ROOT / "bench" / "out" / "scale_out"
    logs.mkdir(parents=True, exist_ok=True)
    print(f"load average at start: {load()} ({datetime.now(UTC):%H:%M} UTC)", flush=True)

    sim = Sim(args.sends + cost_sends, args.status_delay, args.cost_delay, args.budget)
    try:
        url = fresh_database("postgresql", "bench_scale_out_seed")
        args.seeded_at = time.time()
        seeded = seed(url, args.sends, cost_sends, datetime.fromtimestamp(args.seeded_at, UTC))
        print(json.dumps({"seed_s": round(seeded, 1), "pending": args.sends * PER_SEND, "due": args.sends * PER_SEND // 2,
                          "cost_due": cost_sends * PER_SEND, "loadavg": load()}), flush=True)
        # Rounds alternate the instance counts (1, 2, 4, 1, 2, 4...), so a change of load hits each alike.
        rates: dict[int, dict[str, list[float]]] = defaultdict(lambda: defaultdict(list))
        for _round in range(args.repeat):
            for n in (int(x) for x in args.instances.split(",")):
                run = one_run(n, sim, url, args, logs)
                print(json.dumps(run), flush=True)
                for key in ("pairs_per_s", "cost_reads_per_s"):
                    rates[n][key].append(run[key])
        medians = {n: {k: statistics.median(v) for k, v in r.items()} for n, r in rates.items()}
        print(json.dumps({"medians": medians, "rounds": args.repeat}), flush=True)
        for n, m in medians.items():
            if n != 1 and 1 in medians:
                base = medians[1]
                print(json.dumps({
                    f"pairs_{n}_vs_1": round(m["pairs_per_s"] / base["pairs_per_s"], 2) if base["pairs_per_s"] else None,
                    f"cost_reads_{n}_vs_1": round(m["cost_reads_per_s"] / base["cost_reads_per_s"], 2)
                    if base["cost_reads_per_s"] else None,
                    "goal": {2: 1.9, 4: 3.5}.get(n),
                }), flush=True)
        if args.kill_instances:
            print(json.dumps(one_run(args.kill_instances, sim, url, args, logs, kill_at=args.kill_at)), flush=True)
    finally:
        sim_mb = sim.stop()
    own_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps({"peak_rss_mb": {"simulator": round(sim_mb), "bench": round(own_mb)}}), flush=True)
    print(f"load average at end: {load()} ({datetime.now(UTC):%H:%M} UTC)", flush=True)


if __name__ == "__main__":
    main()
