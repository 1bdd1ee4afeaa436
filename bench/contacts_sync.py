"""Contacts sync benchmark: 100 groups × 2,000 contacts (200,000 contacts, 10,100 contact/list pages) against the simulator.

    python scripts/with_servers.py --postgresql -- .venv/bin/python bench/contacts_sync.py [--groups 100] [--contacts 2000]

The simulator runs in its own process; every sync runs in a fresh child process through the real runner, with no
call budget (``max_calls_per_minute = 0``: the default 60 a minute would make this read last ~2.8 h). Its wall time,
the read (HTTP) and apply (database) phases, CPU, peak RSS (``wait4``) and the rows written to each contacts table
(what the driver reports for each ``INSERT``/``UPDATE``) are printed with the load average.

Variants, same data, one runner:
- ``first``   the first sync into an empty database (every contact ``appeared``);
- ``resync``  after 1 % of the contacts flipped their ``stopSms`` upstream (``stop_on``/``stop_off``);
- ``noop``    the same contacts again.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import os
import random
import sys
import time
from pathlib import Path
from typing import Any

from _shared import OUT, ROOT, fresh_database, measure  # noqa: E402 - bench/ is the script's own directory

sys.path.insert(0, str(ROOT))
KEY = "sim-bench-key-not-a-secret"


def _simulator_process(conn: Any, groups: int, contacts: int) -> None:
    from etl.simulator import Simulator, SimulatorServer
    from etl.simulator.seedfile import add_group

    sim = Simulator(api_key=KEY, seed=7)
    for g in range(groups):
        gid, _ = add_group(sim, {"name": f"group {g}", "generate": contacts, "stop_share": 0.05})
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
            rng = random.Random(11)
            picked = rng.sample(sorted(sim.contacts.contacts), int(len(sim.contacts.contacts) * arg))
            with sim.lock:
                for cid in picked:
                    sim.contacts.set_stop(cid, not sim.contacts.contacts[cid].stop_sms)
            conn.send(len(picked))


def _worker(db_url: str, base_url: str) -> None:
    """Child: one contacts sync through the real runner; prints counts and phase timings as JSON."""
    from sqlalchemy import event

    from etl.api.client import SmsPartnerClient
    from etl.config import ApiConfig, Config, ContactsConfig, DatabaseConfig, Secret
    from etl.db.engine import make_engine
    from etl.jobs import contacts
    from etl.runner import run_job

    timings: dict[str, float] = {"read": 0.0, "apply": 0.0}
    written = {table: 0 for table in _WRITTEN}

    def timed(name: str, fn: Any) -> Any:
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            started = time.perf_counter()
            try:
                return fn(*args, **kwargs)
            finally:
                timings[name] += time.perf_counter() - started

        return wrapper

    contacts.read_account = timed("read", contacts.read_account)  # type: ignore[attr-defined]
    contacts.apply = timed("apply", contacts.apply)  # type: ignore[attr-defined]
    config = Config(
        api=ApiConfig(base_url=base_url, read_timeout=60.0), database=DatabaseConfig(url=db_url),
        contacts=ContactsConfig(max_calls_per_minute=0),
    )
    client = SmsPartnerClient(base_url, Secret(os.environ["SMSPARTNER_API_KEY"]), read_timeout=60.0)
    engine = make_engine(db_url)
    event.listen(engine, "after_cursor_execute", lambda _c, cursor, statement, *_a: _count_written(written, cursor, statement))
    started = time.perf_counter()
    report = run_job("contacts", config=config, client=client, engine=engine)
    if report.outcome != "success" or report.result is None:
        raise SystemExit(f"sync {report.outcome}: {report.error}")
    print(json.dumps({
        "added": report.result.added, "changed": report.result.changed, "removed": report.result.removed,
        "calls": report.result.figures.get("calls", 0), "job_s": time.perf_counter() - started,
        **{f"{k}_s": v for k, v in timings.items()}, "cpu_s": time.process_time(), "written": written,
    }))


#: The tables whose written rows the worker counts (rows an INSERT or UPDATE reported, as the driver counts them).
_WRITTEN = ("contacts", "contact_groups", "contact_events")


def _count_written(written: dict[str, int], cursor: Any, statement: str) -> None:
    head = statement.lstrip()[:60].split()
    if len(head) < 2 or head[0] not in ("INSERT", "UPDATE"):
        return
    table = head[2] if head[0] == "INSERT" else head[1]
    if table in written and cursor.rowcount > 0:
        written[table] += cursor.rowcount


def _measured(argv: list[str]) -> dict[str, Any]:
    result = measure(argv, env={"SMSPARTNER_API_KEY": KEY})
    result["loadavg"] = " ".join(Path("/proc/loadavg").read_text().split()[:3])
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--groups", type=int, default=100)
    parser.add_argument("--contacts", type=int, default=2000)
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
    kinds = ["sqlite"] + (["postgresql"] if os.environ.get("SMSETL_POSTGRESQL_URL") else [])
    print(f"groups={args.groups} contacts/group={args.contacts:,} flips={args.flips:.1%} backends={','.join(kinds)}")
    parent, child = mp.Pipe()
    sim = mp.Process(target=_simulator_process, args=(child, args.groups, args.contacts), daemon=True)
    sim.start()
    base_url = parent.recv()
    me = [sys.executable, str(Path(__file__).resolve()), "--worker", "--base-url", base_url, "--db"]
    rows: list[tuple[str, str, dict[str, Any]]] = []
    try:
        dbs = {kind: fresh_database(kind, f"bench_contacts_{kind}") for kind in kinds}
        for url in dbs.values():
            upgrade(url)
        for kind in kinds:
            rows.append((kind, "first", _measured(me + [dbs[kind]])))
        parent.send(("flip", args.flips))
        print(f"upstream: {parent.recv():,} stopSms flags flipped")
        for kind in kinds:
            rows.append((kind, "resync", _measured(me + [dbs[kind]])))
            rows.append((kind, "noop", _measured(me + [dbs[kind]])))
    finally:
        parent.send(("stop", None))
        sim.join(10)
    print(f"\n{'backend':<11} {'variant':<7} {'wall s':>7} {'read s':>7} {'apply s':>7} {'cpu s':>6} {'calls':>6} "
          f"{'peak RSS MB':>12}  {'loadavg':<15} {'written c/g/e':<20} rows")
    for kind, variant, r in rows:
        print(f"{kind:<11} {variant:<7} {r['seconds']:>7.2f} {r['read_s']:>7.2f} {r['apply_s']:>7.2f} {r['cpu_s']:>6.2f} "
              f"{r['calls']:>6} {r['rss_mb']:>12.0f}  {r['loadavg']:<15} {_written(r):<20} +{r['added']} ~{r['changed']} -{r['removed']}")


def _written(result: dict[str, Any]) -> str:
    """Rows written to contacts / contact_groups / contact_events."""
    return "/".join(str(result["written"][table]) for table in _WRITTEN)


if __name__ == "__main__":
    main()
