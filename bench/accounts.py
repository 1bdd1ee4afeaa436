"""Every account: 50 sub-accounts of 20,000 stops and 2,000 contacts each, beside one account holding the same rows.

    python scripts/with_servers.py --postgresql -- .venv/bin/python bench/accounts.py [--subs 50] [--stops 20000]

One full cycle is ``smspartner-etl sync accounts stops contacts`` run as an operator would (a fresh
process, a config file, the key in the environment) into a fresh database; the figures are that
process's wall time and peak RSS (``wait4``) and the API calls the simulator counted, beside the
minimum the documented paging allows. The simulator runs in its own process (its memory is not ours).

- ``many``: the parent with ``--subs`` sub-accounts, followed by discovery (``[accounts] discover``);
- ``one``: one account holding ``--subs`` x the stops and contacts, in one group.

Goal (issue 17): ``many`` within 1.5x ``one``'s wall time, at most 200 MB, calls = the minimum.
"""

from __future__ import annotations

import argparse
import math
import multiprocessing as mp
import os
import sys
from collections import Counter
from pathlib import Path
from typing import Any

from _shared import OUT, fresh_database, measure  # noqa: E402 - bench/ is the script's own directory

KEY = "sim-bench-key-not-a-secret"
JOBS = ["accounts", "stops", "contacts"]
PAGE = 20  # subaccount/list and contact/list page size (ACCOUNTS.md §2.2, §3.9)


def _simulator_process(conn: Any, layout: str, subs: int, stops: int, contacts: int) -> None:
    from etl.simulator import Simulator, SimulatorServer
    from etl.simulator.seedfile import add_group, add_subaccount

    sim = Simulator(api_key=KEY, seed=7)
    if layout == "many":
        for n in range(subs):
            sub = add_subaccount(sim, {"email": f"shop{n:03d}@example.com", "token": f"tok-{n:03d}", "balance": "12.5"})
            sub.account.generate_stops(stops, seed=n + 1)
            add_group(sub.account, {"name": "clients", "generate": contacts, "stop_share": 0.05})
    else:
        sim.generate_stops(stops * subs)
        add_group(sim, {"name": "clients", "generate": contacts * subs, "stop_share": 0.05})
    server = SimulatorServer(sim, port=0)
    server.start()
    conn.send(server.base_url)
    while True:
        command = conn.recv()
        if command == "calls":
            conn.send(dict(Counter(call.endpoint for call in sim.calls)))
            sim.calls.clear()
        else:
            server.stop()
            conn.send("stopped")
            return


def _config_file(name: str, db_url: str, base_url: str, discover: bool) -> Path:
    path = OUT / f"{name}.toml"
    path.write_text(
        f'[api]\nbase_url = "{base_url}"\nread_timeout = "120s"\n'
        f'[database]\nurl = "{db_url}"\n'
        "[stops]\nmax_removed_share = 0.5\n"
        f"[accounts]\ndiscover = {'true' if discover else 'false'}\n"
        # Unspaced: the bench measures our cost, not the configured politeness (60 calls a minute by default).
        "[contacts]\nmax_calls_per_minute = 0\n",
        encoding="utf-8",
    )
    return path


def run_cli(argv: list[str]) -> dict[str, Any]:
    """One command as an operator runs it: wall time, its peak RSS (``wait4``), its output lines."""
    return measure(argv, env={"SMSPARTNER_API_KEY": KEY}, json_result=False)


def contact_pages(contacts: int) -> int:
    """Pages until a short or empty one: what ``total`` counts is undocumented (ACCOUNTS.md §3.9), so a full
    last page costs one more call to see the end."""
    return contacts // PAGE + 1


def minimum_calls(layout: str, subs: int, contacts: int) -> int:
    """One stop list and one group list per account (the parent's too, empty in ``many``), the contact pages, the
    sub-account pages (``total`` is an int there)."""
    if layout == "many":
        return math.ceil(subs / PAGE) + 2 + subs * (2 + contact_pages(contacts))
    return 2 + contact_pages(subs * contacts)


def run_layout(layout: str, kind: str, args: argparse.Namespace) -> dict[str, Any]:
    parent, child = mp.Pipe()
    sim = mp.Process(target=_simulator_process, args=(child, layout, args.subs, args.stops, args.contacts), daemon=True)
    sim.start()
    base_url = parent.recv()
    try:
        db_url = fresh_database(kind, f"bench_accounts_{layout}_{kind}")
        config = _config_file(f"accounts_{layout}_{kind}", db_url, base_url, discover=layout == "many")
        cli = [sys.executable, "-m", "etl.cli", "--config", str(config)]
        run_cli(cli + ["db", "upgrade"])
        parent.send("calls")
        parent.recv()  # forget the set-up's calls
        figures = run_cli(cli + ["sync", *args.jobs])
        parent.send("calls")
        figures["calls"] = parent.recv()
    finally:
        parent.send("stop")
        parent.recv()
        sim.join(10)
    figures["minimum"] = minimum_calls(layout, args.subs, args.contacts)
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--subs", type=int, default=50)
    parser.add_argument("--stops", type=int, default=20_000, help="stops per sub-account")
    parser.add_argument("--contacts", type=int, default=2_000, help="contacts per sub-account")
    parser.add_argument("--jobs", nargs="+", default=JOBS, help="the jobs of one cycle")
    args = parser.parse_args()
    OUT.mkdir(parents=True, exist_ok=True)
    kinds = ["sqlite"] + (["postgresql"] if os.environ.get("SMSETL_POSTGRESQL_URL") else [])
    print(f"subs={args.subs} stops/sub={args.stops:,} contacts/sub={args.contacts:,} backends={','.join(kinds)}")
    print(f"load average at start: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    print(f"{'backend':<11} {'layout':<6} {'wall s':>8} {'peak RSS MB':>12} {'calls':>7} {'minimum':>8}  by endpoint")
    for kind in kinds:
        results = {}
        for layout in ("one", "many"):
            r = results[layout] = run_layout(layout, kind, args)
            total = sum(r["calls"].values())
            by = ", ".join(f"{k} {v}" for k, v in sorted(r["calls"].items()))
            runs = Counter(line.split(": ", 1)[1].split()[0] for line in r["lines"] if ": " in line)
            by += f"; runs {dict(runs)}"
            print(f"{kind:<11} {layout:<6} {r['seconds']:>8.2f} {r['rss_mb']:>12.0f} {total:>7} {r['minimum']:>8}  {by}", flush=True)
        ratio = results["many"]["seconds"] / results["one"]["seconds"]
        print(f"{kind:<11} many/one wall ratio {ratio:.2f} (goal <= 1.5)")
    print(f"load average at end: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")


if __name__ == "__main__":
    main()
