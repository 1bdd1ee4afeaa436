"""The retention job on many rows: opt-outs reduced to keyed hashes, reply texts and callback bodies purged (issue 18).

    .venv/bin/python bench/retention.py                                     # SQLite
    python scripts/with_servers.py --postgresql --mariadb -- .venv/bin/python bench/retention.py \\
        --backends sqlite,postgresql,mariadb

Each backend gets a fresh database (``db upgrade``) with ``--periods`` stop periods closed 4 years ago (past the
3-year ``optout_age``), ``--replies`` STOP-channel callbacks 200 days old (past the 90-day ``reply_text_age``) with
their ``replies`` rows, and as many recent ones that must stay, all generated in the database (no Python object per
row). Then the job's three steps run once each through `etl.jobs.retention`, default batch (5,000), hash key set,
timed apart: reply texts, callback bodies, opt-outs (HMAC, ``optout_hashes`` insert, pointer reset, delete and a
chain entry per batch). Prints one JSON line per backend with the seconds, the rows each step changed and the
1-minute load average before and after. Figures: docs/benchmarks.md, "Retention job".
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from _shared import OUT, fresh_database  # noqa: E402
from sqlalchemy import text  # noqa: E402

from etl.config import load_config  # noqa: E402
from etl.db.engine import make_engine  # noqa: E402
from etl.db.migrate import upgrade  # noqa: E402
from etl.jobs import retention  # noqa: E402
from etl.jobs.base import JobContext  # noqa: E402

NOW = datetime(2030, 6, 1, 12, 0, tzinfo=timezone.utc)
KEY = "bench-hash-key-not-secret"


def _series(dialect: str, n: int) -> str:
    """A table of integers 1..n named ``g`` with column ``i``."""
    if dialect == "postgresql":
        return f"generate_series(1, {n}) AS g(i)"
    if dialect in ("mysql", "mariadb"):
        return f"(SELECT seq AS i FROM seq_1_to_{n}) g"  # MariaDB's SEQUENCE engine
    return f"(WITH RECURSIVE c(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM c WHERE i < {n}) SELECT i FROM c) g"


def _digits(dialect: str, expr: str, width: int) -> str:
    if dialect == "sqlite":
        return f"substr('{'0' * width}' || ({expr}), -{width})"
    if dialect == "postgresql":
        return f"lpad(CAST(({expr}) AS TEXT), {width}, '0')"
    return f"LPAD({expr}, {width}, '0')"


def _concat(dialect: str, *parts: str) -> str:
    return f"CONCAT({', '.join(parts)})" if dialect in ("mysql", "mariadb") else " || ".join(parts)


def seed(url: str, periods: int, replies: int) -> float:
    engine = make_engine(url)
    dialect = engine.dialect.name
    started = time.perf_counter()
    old_period, old_reply, recent = NOW - timedelta(days=4 * 365), NOW - timedelta(days=200), NOW - timedelta(days=10)
    if dialect == "sqlite":  # as UtcDateTime stores them (raw SQL bypasses the type)
        stamps = {k: v.replace(tzinfo=None).isoformat(sep=" ", timespec="microseconds")
                  for k, v in (("old_period", old_period), ("old_reply", old_reply), ("recent", recent))}
    else:
        stamps = {"old_period": old_period, "old_reply": old_reply, "recent": recent}
        if dialect != "postgresql":
            stamps = {k: v.replace(tzinfo=None) for k, v in stamps.items()}
    phone = _concat(dialect, "'+336'", _digits(dialect, "i", 8))
    with engine.begin() as conn:
        conn.execute(text(
            f"INSERT INTO stop_periods (api_stop_id, phone_e164, phone_raw, first_seen_at, removed_at, removed_how, source, "
            f"account_id) SELECT i, {phone}, 'x', :old_period, :old_period, 'api_missing', 'sync', 1 FROM {_series(dialect, periods)}"),
            stamps)
        for age, offset in (("old_reply", 0), ("recent", replies)):
            content_hash = _concat(dialect, "'h'", _digits(dialect, f"i + {offset}", 10))
            conn.execute(text(
                f"INSERT INTO push_inbox (channel, kind, content_hash, received_at, body, state, attempts, account_id) "
                f"SELECT 'stop', 'reply', {content_hash}, :at, "
                f"'{{\"text\":\"merci de ne plus m''envoyer\"}}', 'applied', 1, 1 FROM {_series(dialect, replies)}"),
                {"at": stamps[age]})
        sender = _concat(dialect, "'+337'", _digits(dialect, "id", 8))
        conn.execute(text(
            f"INSERT INTO replies (inbox_id, kind, phone_e164, phone_raw, text, received_at) "
            f"SELECT id, 'response', {sender}, 'x', 'merci de ne plus m''envoyer', "
            f"received_at FROM push_inbox"))
    with engine.begin() as conn:
        for table in ("stop_periods", "push_inbox", "replies"):
            conn.exec_driver_sql(f"ANALYZE {table}" if dialect != "mariadb" and dialect != "mysql" else f"ANALYZE TABLE {table}")
    engine.dispose()
    return time.perf_counter() - started


def measure(kind: str, periods: int, replies: int) -> dict[str, object]:
    url = fresh_database(kind, "bench_retention") if kind != "mariadb" else _mariadb()
    upgrade(url)
    seeded = seed(url, periods, replies)
    config_path = OUT / "retention.toml"
    config_path.write_text(f'[database]\nurl = "{url}"\n')
    config = load_config(config_path, {"SMSPARTNER_ETL_HASH_KEY": KEY})
    os.environ["SMSPARTNER_ETL_HASH_KEY"] = KEY
    engine = make_engine(url)
    ctx = JobContext(config=config, client=None, engine=engine, now=lambda: NOW, run_id=0)  # type: ignore[arg-type]
    compliance = config.compliance
    figures: dict[str, object] = {"backend": kind, "periods": periods, "old_replies": replies, "seed_s": round(seeded, 1),
                                  "load_before": round(os.getloadavg()[0], 2), "at": datetime.now(timezone.utc).strftime("%H:%M UTC")}
    steps = (
        ("reply_texts", lambda: retention._purge_replies(ctx, NOW - timedelta(seconds=compliance.reply_text_age))),
        ("callback_bodies", lambda: retention._purge_bodies(ctx, NOW - timedelta(seconds=compliance.reply_text_age))),
        ("optouts_hashed", lambda: retention._hash_optouts(ctx, retention.optional_hasher(compliance),  # type: ignore[arg-type]
                                                            NOW - timedelta(seconds=compliance.optout_age))),
    )
    for name, step in steps:
        started = time.perf_counter()
        done = step()
        figures[name] = {"rows": done, "seconds": round(time.perf_counter() - started, 2)}
    with engine.connect() as conn:
        figures["left"] = {t: conn.execute(text(q)).scalar_one() for t, q in (
            ("stop_periods", "SELECT count(*) FROM stop_periods"), ("optout_hashes", "SELECT count(*) FROM optout_hashes"),
            ("texts_kept", "SELECT count(*) FROM replies WHERE text IS NOT NULL"),
            ("bodies_kept", "SELECT count(*) FROM push_inbox WHERE body <> ''"))}
    engine.dispose()
    figures["load_after"] = round(os.getloadavg()[0], 2)
    return figures


def _mariadb(name: str = "bench_retention") -> str:
    """A fresh database on ``$SMSETL_MARIADB_URL``'s server (`fresh_database` knows SQLite and PostgreSQL)."""
    from sqlalchemy.engine import make_url

    url = make_url(os.environ["SMSETL_MARIADB_URL"])
    admin = make_engine(url.set(database="mysql"), pool=False)
    with admin.begin() as conn:
        conn.exec_driver_sql(f"DROP DATABASE IF EXISTS {name}")
        conn.exec_driver_sql(f"CREATE DATABASE {name} CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci")
    admin.dispose()
    return url.set(database=name).render_as_string(hide_password=False)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--backends", default="sqlite")
    parser.add_argument("--periods", type=int, default=100_000)
    parser.add_argument("--replies", type=int, default=200_000, help="old callbacks (and as many recent ones)")
    args = parser.parse_args()
    for kind in args.backends.split(","):
        print(json.dumps(measure(kind, args.periods, args.replies)), flush=True)


if __name__ == "__main__":
    main()
