"""`verify-audit` on a chain of realistic size: 1 M entries across the chained tables (issue 18).

    .venv/bin/python bench/audit_chain.py                                   # SQLite
    python scripts/with_servers.py --postgresql -- .venv/bin/python bench/audit_chain.py --backends postgresql

Each backend gets a fresh database (``db upgrade``) with ``--actions`` write actions, ``--closures`` stop periods
closed by the tool (each naming its action) and ``--runs`` filter runs, generated in the database. The chain is
then built as the tool builds it, one entry per row in id order (bodies: the rows read back, `chain.canonical`;
hashes: `chain.entry_hash` linked to the entry before), loaded in bulk and sealed by the head row. The CLI
``verify-audit --format json`` is timed as a whole, ``--repeat`` times (wall and the process's peak RSS), and
must report the chain intact. Figures: docs/benchmarks.md, "Evidence and breaches".
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from collections.abc import Iterator
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from _shared import OUT, fresh_database, measure  # noqa: E402
from retention import _concat, _digits, _mariadb, _series  # noqa: E402
from sqlalchemy import Table, select, text, update  # noqa: E402

from etl.compliance import chain  # noqa: E402
from etl.db import backends  # noqa: E402
from etl.db.engine import make_engine  # noqa: E402
from etl.db.migrate import upgrade  # noqa: E402
from etl.db.schema import audit_chain, audit_chain_head, filter_runs, stop_periods, write_actions  # noqa: E402

AT = datetime(2026, 12, 1, 9, 0, tzinfo=timezone.utc)
CHUNK = 20_000


def seed(url: str, actions: int, closures: int, runs: int) -> None:
    engine = make_engine(url)
    dialect = engine.dialect.name
    at: Any = AT if dialect == "postgresql" else AT.replace(tzinfo=None)
    if dialect == "sqlite":
        at = at.isoformat(sep=" ", timespec="microseconds")
    phone = _concat(dialect, "'+336'", _digits(dialect, "i", 8))
    false = "0" if dialect == "sqlite" else "FALSE"
    with engine.begin() as conn:
        conn.execute(text(
            f"INSERT INTO write_actions (action, target, actor, reason, requested_at, completed_at, outcome, account_id) "
            f"SELECT 'stop_add', {phone}, 'bench', 'complaint by phone', :at, :at, 'success', 1 FROM {_series(dialect, actions)}"),
            {"at": at})
        conn.execute(text(
            f"INSERT INTO stop_periods (api_stop_id, phone_e164, phone_raw, first_seen_at, removed_at, removed_how, "
            f"removed_by_action_id, source, account_id) SELECT i, {phone}, 'x', :at, :at, 'tool', i, 'sync', 1 "
            f"FROM {_series(dialect, closures)}"), {"at": at})
        conn.execute(text(
            # Not ``rows``: a reserved word on MariaDB (the counts stay NULL, as for a run that failed early).
            f"INSERT INTO filter_runs (started_at, finished_at, outcome, actor, input_name, input_sha256, allowed, "
            f"blocked_stop_list, allow_stale, accounts, hash_key_id, blocks_recorded) SELECT :at, :at, 'success', 'bench', "
            f"'campaign.csv', 'ab', 900, 100, {false}, 'main', NULL, 0 FROM {_series(dialect, runs)}"), {"at": at})
    engine.dispose()


def _rows(url: str, table: Table, columns: tuple[str, ...] | None) -> Iterator[list[dict[str, Any]]]:
    engine = make_engine(url)
    chosen = [table.c[name] for name in columns] if columns else list(table.columns)
    last = 0
    try:
        while True:
            with engine.connect() as conn:
                part = [dict(r) for r in conn.execute(select(*chosen).where(table.c.id > last).order_by(table.c.id).limit(CHUNK)).mappings()]
            if not part:
                return
            yield part
            last = int(part[-1]["id"])
    finally:
        engine.dispose()


def build_chain(url: str) -> int:
    """One entry per audited row, as `chain.append_row` writes it, loaded in bulk; the head set to the last."""
    seq, prev = 0, chain.GENESIS_HASH
    engine = make_engine(url)
    names = [c.name for c in audit_chain.columns]
    for table, kind, columns in ((write_actions, "stop_add", None), (stop_periods, "stop_period_closed", chain.STOP_CLOSURE_COLUMNS),
                                 (filter_runs, "filter_run_complete", None)):
        for part in _rows(url, table, columns):
            entries = []
            for row in part:
                seq += 1
                body, ref, account = chain.canonical(row), str(row["id"]), int(row.get("account_id") or 1)
                digest = chain.entry_hash(prev, seq, AT, account, kind, table.name, ref, body)
                entries.append({"seq": seq, "recorded_at": AT, "account_id": account, "kind": kind, "ref_table": table.name,
                                "ref_id": ref, "body": body, "prev_hash": prev, "entry_hash": digest})
                prev = digest
            with engine.begin() as conn:
                backend = backends.of(conn)
                backend.bulk_load(conn, audit_chain, ([backend.driver_value(e[n]) for n in names] for e in entries))
    with engine.begin() as conn:
        conn.execute(update(audit_chain_head).where(audit_chain_head.c.id == chain.HEAD_ID).values(seq=seq, entry_hash=prev))
        backends.of(conn).analyze(conn, audit_chain)
    engine.dispose()
    return seq


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--backends", default="sqlite")
    parser.add_argument("--actions", type=int, default=600_000)
    parser.add_argument("--closures", type=int, default=300_000)
    parser.add_argument("--runs", type=int, default=100_000)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    cli = str(Path(sys.executable).with_name("smspartner-etl"))
    for kind in args.backends.split(","):
        url = fresh_database(kind, "bench_audit_chain") if kind != "mariadb" else _mariadb("bench_audit_chain")
        upgrade(url)
        started = time.perf_counter()
        seed(url, args.actions, args.closures, args.runs)
        seeded = time.perf_counter() - started
        entries = build_chain(url)
        built = time.perf_counter() - started - seeded
        config = OUT / "audit_chain.toml"
        config.write_text(f'[database]\nurl = "{url}"\n')
        runs = []
        for _ in range(args.repeat):
            load = os.getloadavg()[0]
            run = measure([cli, "--config", str(config), "verify-audit", "--format", "json"], json_result=False)
            report = json.loads("\n".join(run["lines"]))
            runs.append({"seconds": round(run["seconds"], 2), "rss_mb": round(run["rss_mb"]), "load": [round(load, 2), round(os.getloadavg()[0], 2)],
                         "entries": report.get("entries"), "rows_checked": report.get("rows_checked"),
                         "intact": report.get("intact"), "findings": len(report.get("findings", []))})
        print(json.dumps({"backend": kind, "entries": entries, "seed_s": round(seeded, 1), "chain_build_s": round(built, 1),
                          "verify_median_s": statistics.median(r["seconds"] for r in runs), "runs": runs,
                          "at": datetime.now(timezone.utc).strftime("%H:%M UTC")}), flush=True)


if __name__ == "__main__":
    main()
