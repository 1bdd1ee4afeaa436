"""`make demo`: a seeded simulator, a fresh SQLite file, every job once through the CLI, then a look.

Everything runs through the real command line (``smspartner-etl ...`` in subprocesses, as an
operator would type it) against the simulator on a free loopback port. Files land in ``demo/``.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import textwrap
import time
from collections.abc import Sequence
from datetime import timedelta
from importlib import resources
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, create_engine, inspect, text

from etl.simulator import Simulator, SimulatorServer
from etl.simulator.seedfile import build, load

ROOT = Path.cwd()
DEMO = ROOT / "demo"
DB_PATH = DEMO / "smspartner.db"
#: The demo database's console user: printed at the end, since it exists only in demo/ (never a real password).
DEMO_USER, DEMO_PASSWORD = "demo", "demo-console-1"


def step(title: str) -> None:
    print(f"\n\033[1m== {title}\033[0m" if sys.stdout.isatty() else f"\n== {title}", flush=True)


def etl(*args: str, env: dict[str, str], check: bool = True, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    """Run ``smspartner-etl ARGS`` as a user would, echoing the command and its output (the config file is
    ``$SMSPARTNER_ETL_CONFIG`` in ``env``: `populate` sets it)."""
    command = [sys.executable, "-m", "etl.cli", *args]
    print(f"$ smspartner-etl {' '.join(args)}", flush=True)
    done = subprocess.run(command, env=env, text=True, capture_output=True, input=stdin)
    output = (done.stdout + done.stderr).strip()
    if output:
        print(textwrap.indent(output, "  "), flush=True)
    if check and done.returncode != 0:
        raise SystemExit(f"demo failed: smspartner-etl {' '.join(args)} exited with {done.returncode}")
    return done


def show(conn: Connection, title: str, sql: str, limit: int = 8) -> None:
    rows = conn.execute(text(sql)).fetchmany(limit)
    keys = list(conn.execute(text(sql)).keys())
    print(f"\n-- {title}")
    if not rows:
        print("   (no rows)")
        return
    cells = [[("" if v is None else str(v)) for v in row] for row in rows]
    widths = [min(32, max(len(k), *(len(r[i]) for r in cells))) for i, k in enumerate(keys)]
    print("   " + "  ".join(k[:w].ljust(w) for k, w in zip(keys, widths)))
    for row in cells:
        print("   " + "  ".join(v[:w].ljust(w) for v, w in zip(row, widths)))


def write_config(base_url: str, seed: dict[str, Any], directory: Path) -> Path:
    rentals = "".join(
        f'\n[[rentals.tokens]]\ntoken = "{r["token"]}"\nlabel = "demo rental {i + 1}"\n'
        for i, r in enumerate(seed.get("rentals", []))
    )
    tags = sorted({m["tag"] for m in seed.get("messages", []) if m.get("tag")})
    config = directory / "config.toml"
    config.write_text(
        textwrap.dedent(
            f"""\
            # Written by `make demo`. The API key comes from $SMSPARTNER_API_KEY (the simulator's fake key).
            [api]
            base_url = "{base_url}"
            read_timeout = "10s"
            clock = "simulator"   # follow the simulator's clock, which this demo jumps forward

            [database]
            url = "sqlite:///{directory / DB_PATH.name}"

            [statuses]
            tags = {json.dumps(tags)}
            # Its sends are found by tag and by message id, which announce no cost: read per recipient.
            # "announced" prices from the send's own answer with no read (docs/statuses.md, "Cost source").
            cost_source = "per_recipient"

            [contacts]
            max_calls_per_minute = 600   # the simulator has no limit; the default budget is 60

            [daemon]
            log_format = "text"

            [accounts]
            discover = true       # follow every sub-account subaccount/list returns (keys in memory only)
            """
        )
        + rentals,
        encoding="utf-8",
    )
    return config


def run_daemon(env: dict[str, str], seconds: float = 7.0) -> None:
    fast = {f"SMSPARTNER_ETL__JOBS__{job}__EVERY": "2s" for job in ("STOPS", "STATUSES", "RENTALS", "ACTIONS")}
    fast.update({"SMSPARTNER_ETL__JOBS__FINANCE__ENABLED": "false", "SMSPARTNER_ETL__DAEMON__JITTER": "0"})
    command = [sys.executable, "-m", "etl.cli", "run"]
    print("$ smspartner-etl run   (jobs every 2 s; Ctrl-C or SIGTERM stops it cleanly)", flush=True)
    daemon = subprocess.Popen(command, env={**env, **fast}, text=True, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    time.sleep(seconds)
    daemon.send_signal(signal.SIGTERM)
    output, _ = daemon.communicate(timeout=60)
    lines = output.strip().splitlines()
    print(textwrap.indent("\n".join(lines[-14:]), "  "))
    print(f"  (exit status {daemon.returncode})", flush=True)


def table_counts(conn: Connection, names: Sequence[str]) -> None:
    print("\n-- rows per table")
    for name in names:
        count = conn.execute(text(f"SELECT COUNT(*) FROM {name}")).scalar()
        print(f"   {name:<28} {count:>7}")


def audited_writes(sim: Simulator, env: dict[str, str]) -> None:
    step("audited writes to the account")
    etl("stops", "add", "06 98 76 54 32", "--actor", "demo", "--reason", "asked by phone", env=env)
    etl("stops", "remove", sim.stops()[1][1], "--actor", "demo", "--reason", "opted back in", env=env, check=False)  # no evidence: refused
    etl("stops", "remove", sim.stops()[1][1], "--actor", "demo", "--reason", "opted back in",
        "--consent-evidence", "e-mail of 2026-12-01 (ticket 4711)", env=env)
    scheduled = next((m for m in sim.messages.values() if m.scheduled and m.cancelled_at is None), None)
    if scheduled is not None:
        etl("messages", "cancel", str(scheduled.id), "--actor", "demo", "--reason", "campaign postponed", env=env)
    etl("stops", "add", "not-a-number", env=env, check=False)
    etl("stops", "add", "06 98 76 54 32", "--actor", "demo", env=env, check=False)  # already stopped: refused


def contact_flags(sim: Simulator, env: dict[str, str]) -> None:
    step("a contact group: one contact opts out, one opts back in, one leaves the group")
    members = sorted(sim.contacts.contacts.values(), key=lambda c: c.id)
    on = next(c for c in members if not c.stop_sms)
    off = next(c for c in members if c.stop_sms)
    with sim.lock:
        sim.contacts.set_stop(on.id, True)
        sim.contacts.set_stop(off.id, False)
        sim.contacts.delete_contact(members[-1].id)
    print(f"   {on.phone} flagged stopSms, {off.phone} unflagged, {members[-1].phone} removed from its group")
    sim.clock.advance(timedelta(minutes=10))
    etl("sync", "contacts", "--once", env=env)


def audience_filter(sim: Simulator, env: dict[str, str], directory: Path) -> None:
    step("filter a campaign audience file against the stops (fail closed)")
    audience = directory / "audience.csv"
    stopped = [phone for _sid, phone, _at in sim.stops()[:3]]
    flagged = [c.phone for c in sim.contacts.contacts.values() if c.stop_sms][:1]  # stopSms in a contact group
    rows = ["nom;téléphone"] + [f"stop {i};0{p[3:4]} {p[4:6]} {p[6:8]} {p[8:10]} {p[10:12]}" for i, p in enumerate(stopped)]
    rows += [f"contact stop;{p}" for p in flagged]
    rows += ['=HYPERLINK("http://evil.example","click");06 11 22 33 44']  # a formula cell: neutralised
    rows += ["Alice;06 12 34 56 78", "Bob;+33 (0)7 81 23 45 67", "Carol;0033612345679", "Dup;06.12.34.56.78", "Typo;06 12 34"]
    audience.write_text("\ufeff" + "\n".join(rows) + "\n", encoding="utf-8")
    etl(
        "filter-audience", str(audience), "--allowed", str(directory / "allowed.csv"), "--blocked",
        str(directory / "blocked.csv"), "--report", str(directory / "audience-report.json"), env=env,
    )
    print(textwrap.indent((directory / "allowed.csv").read_text(encoding="utf-8"), "  allowed.csv | "))
    print(textwrap.indent((directory / "blocked.csv").read_text(encoding="utf-8"), "  blocked.csv | "))


#: Opted out in the demo's second sync, then texted two hours later (the provider lets it through: a breach).
TEXTED_AFTER_STOP = "+33699000111"


def texted_after_stop(sim: Simulator, env: dict[str, str], directory: Path) -> None:
    step(f"a campaign reaches {TEXTED_AFTER_STOP} two hours after its STOP: a breach (docs/compliance.md)")
    sim.clock.advance(timedelta(hours=2))
    sim.quirks.send_to_stopped = "deliver"  # the simulator refuses stopped numbers otherwise, as the API documents
    message_id = sim.send([TEXTED_AFTER_STOP, "+33612345678"], tag="relance")
    sim.quirks.send_to_stopped = "refuse"
    sends = directory / "sends.csv"
    sends.write_text(f"message_id,phone,tag\n{message_id},{TEXTED_AFTER_STOP},relance\n{message_id},+33612345678,relance\n")
    etl("track", str(sends), env=env)
    sim.clock.advance(timedelta(minutes=10))
    etl("sync", "statuses", "--once", env=env)
    etl("breaches", "list", env=env)


def what_landed() -> None:
    step("what landed")
    engine = create_engine(f"sqlite:///{DB_PATH}")
    with engine.connect() as conn:
        tables = sorted(t for t in inspect(conn).get_table_names() if t != "alembic_version")
        table_counts(conn, tables)
        show(conn, "accounts: the parent and the sub-accounts discovered (their keys are never stored)",
             "SELECT id, label, type, email, parent_id, gone_since FROM accounts ORDER BY id")
        show(conn, "current_stops per account (view)",
             "SELECT account_label, COUNT(*) AS stops FROM current_stops GROUP BY account_label ORDER BY account_label")
        show(
            conn, "current_stops (view): who may not be texted",
            "SELECT api_stop_id, phone_e164, api_created_at, first_seen_at, source FROM current_stops ORDER BY first_seen_at DESC, api_stop_id", 5,
        )
        show(conn, "stop_removals (view): who left the list, when and how", "SELECT phone_e164, removed_at, removed_how, actor, reason FROM stop_removals")
        show(conn, "rejected_items: what the API sent that could not be read (quarantine)",
             "SELECT endpoint, reason, ref_kind, ref, times_seen FROM rejected_items ORDER BY id")
        show(conn, "write_actions: the audit trail", "SELECT id, action, target, actor, reason, outcome, api_code FROM write_actions ORDER BY id")
        show(conn, "status_funnel (view)", "SELECT * FROM status_funnel", 6)
        show(conn, "spend_daily (view): spend per day, country and currency", "SELECT * FROM spend_daily", 6)
        show(conn, "spend_by_day (view): SMS and rental spend per account, Paris day and currency",
             "SELECT account_label, day, currency, kind, amount, count FROM spend_by_day ORDER BY day, account_label, kind", 6)
        show(conn, "balance_history (view): every balance reading", "SELECT account_label, observed_at, balance, currency "
             "FROM balance_history ORDER BY observed_at DESC", 4)
        show(conn, "rental_numbers_textable (view)", "SELECT * FROM rental_numbers_textable", 3)
        show(conn, "contact_groups: the account's groups and how their last read went",
             "SELECT group_id, name, followed, last_read, last_complete_read_at, gone_since FROM contact_groups ORDER BY group_id")
        show(conn, "contact_stops (view): numbers flagged stopSms in a followed group",
             "SELECT account_id, phone_e164, group_id, since FROM contact_stops ORDER BY group_id, phone_e164", 5)
        show(conn, "contact_events: the flags' history", "SELECT group_id, contact_id, phone_e164, kind, at FROM contact_events "
             "WHERE kind <> 'appeared' ORDER BY id DESC", 5)
        show(
            conn, "sync_runs: the run log",
            "SELECT id, job, outcome, rows_added AS added, rows_changed AS changed, rows_removed AS removed, detail FROM sync_runs ORDER BY id", 40,
        )
    engine.dispose()


def populate(sim: Simulator, seed: dict[str, Any], base_url: str, directory: Path) -> dict[str, str]:
    """The demo's database in ``directory`` (a config file and a SQLite file): the schema, every job against the
    simulator at ``base_url`` over a few simulated hours, writes, a quarantined item, an audience check and a breach.
    Returns the environment `etl` runs the CLI with on it. tests/browser seeds its console with this too."""
    env = {**os.environ, "SMSPARTNER_API_KEY": sim.api_key,
           "SMSPARTNER_ETL_CONFIG": str(write_config(base_url, seed, directory))}

    step("create the schema (Alembic)")
    etl("db", "upgrade", env=env)

    step("run every job once, for the parent and each sub-account (accounts first: it discovers them)")
    etl("sync", "--once", env=env, check=False)

    step("track untagged sends by message id (recipients discovered with bulk-status)")
    untagged = [m for m in sim.messages.values() if m.tag is None and not m.sandbox][:3]
    for message in untagged:
        etl("track", "--message-id", str(message.id), env=env)

    step("three hours later: statuses and costs arrive; the account changes")
    sim.clock.advance(timedelta(hours=3))
    first = sim.stops()[0]
    sim.remove_stop(first[0])
    sim.add_stop("+33699000111")
    etl("sync", "stops", "statuses", "--once", env=env)

    step("four hours more: costs are read once statuses are final (cost_source = per_recipient: message-status)")
    sim.clock.advance(timedelta(hours=4))
    etl("sync", "statuses", "--once", env=env)

    step("one unreadable entry in the stop list: quarantined, the rest applied, the run `partial`")
    sim.faults.inject("stop-sms/list", "malformed_item", index=1, field="createdAt", value="04/12/2026 07:00")
    sim.clock.advance(timedelta(minutes=30))
    etl("sync", "stops", "--once", env=env)

    contact_flags(sim, env)
    audited_writes(sim, env)
    audience_filter(sim, env, directory)
    texted_after_stop(sim, env, directory)
    return env


def main() -> None:
    shutil.rmtree(DEMO, ignore_errors=True)
    DEMO.mkdir(parents=True)
    seed = load(str(resources.files("etl.simulator").joinpath("demo_seed.json")))
    sim = build(seed)
    with SimulatorServer(sim, port=0) as server:
        step(f"simulator: a seeded SMS Partner account on {server.base_url}")
        print(f"   {len(sim.stops())} stops, {len(sim.rentals)} rentals, {len(sim.messages)} sends, "
              f"{len(sim.subaccounts.by_token)} sub-accounts")
        env = populate(sim, seed, server.base_url, DEMO)

        step("the daemon, briefly: `smspartner-etl run` with 2-second intervals, then SIGTERM")
        run_daemon(env)

        step("a web console user (docs/console.md)")
        etl("users", "add", DEMO_USER, "--role", "admin", "--password-stdin", env=env, stdin=DEMO_PASSWORD + "\n")

        what_landed()
        step(f"evidence for {TEXTED_AFTER_STOP}: what the database can prove about it")
        etl("evidence", "06 99 00 01 11", env=env)
    print(f"\nDone. The database is {DB_PATH}; query it with any SQLite client, e.g.\n"
          f"  sqlite3 {DB_PATH.relative_to(ROOT)} 'SELECT * FROM current_stops LIMIT 5'")
    print(f"\nOpen the web console on it (Ctrl-C stops it):\n"
          f"  .venv/bin/smspartner-etl --config {(DEMO / 'config.toml').relative_to(ROOT)} console\n"
          f"  then http://127.0.0.1:8090/ as {DEMO_USER}, password {DEMO_PASSWORD} (a demo-only user of this demo file)")


if __name__ == "__main__":
    main()
