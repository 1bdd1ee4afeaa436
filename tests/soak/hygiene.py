"""Secret hygiene: everything a soak run produced, searched for the API key.

Searched: every file the run wrote (daemon stdout/stderr logs with their exception texts, configs,
rental spool files), every column of every row of every table in the database (``sync_runs.detail``
and ``write_actions.api_message`` hold API error texts), ``ps -eo args`` taken while the daemons ran,
and each daemon's last ``/metrics``. The key is searched in any case and URL-encoded (``quote`` and
``quote_plus``), as an API that echoes it might write it.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Any
from urllib.parse import quote, quote_plus

from sqlalchemy import MetaData, select

from etl.db.engine import make_engine
from etl.db.schema import sync_runs


def key_forms(key: str) -> set[str]:
    """The key as it may be written, lower-cased: searches lower-case the haystack too, so any case matches."""
    return {form.lower() for form in (key, quote(key, safe=""), quote(key), quote_plus(key))}


def count_key(haystack: str, key: str) -> int:
    """Occurrences of the key, in any case and URL-encoded, in ``haystack``."""
    lowered = haystack.lower()
    return sum(lowered.count(form) for form in key_forms(key))


def key_in_rows(db_url: str, key: str) -> Counter[str]:
    """``table.column`` -> occurrences of the key, over every row and every column (as text) of every table."""
    engine = make_engine(db_url, pool=False)
    hits: Counter[str] = Counter()
    try:
        meta = MetaData()
        meta.reflect(engine)
        with engine.connect() as conn:
            for table in meta.sorted_tables:
                for row in conn.execute(select(table)):
                    for column, value in zip(table.columns, row):
                        n = count_key(str(value), key) if value is not None else 0
                        if n:
                            hits[f"{table.name}.{column.name}"] += n
            conn.rollback()
    finally:
        engine.dispose()
    return hits


def database_dump(db_url: str) -> str:
    """Every row of every table, as text."""
    engine = make_engine(db_url, pool=False)
    try:
        meta = MetaData()
        meta.reflect(engine)
        out: list[str] = []
        with engine.connect() as conn:
            for table in meta.sorted_tables:
                out.append(f"-- {table.name}")
                out.extend(repr(tuple(row)) for row in conn.execute(select(table)))
            conn.rollback()
        return "\n".join(out)
    finally:
        engine.dispose()


def find_key(run: Any, db_url: str) -> Counter[str]:
    """Where the key appears (place -> occurrences); empty when it never does."""
    hits: Counter[str] = Counter()

    def search(place: str, haystack: str) -> None:
        n = count_key(haystack, run.key)
        if n:
            hits[place] += n

    files = [p for p in Path(run.workdir).rglob("*") if p.is_file()]
    assert any(p.suffix == ".log" for p in files), "no daemon log to search"
    for path in files:
        search(f"file {path.name}", path.read_text(errors="replace"))
    dump = database_dump(db_url)
    assert "sync_runs" in dump
    search("database dump", dump)
    hits.update({f"database {place}": n for place, n in key_in_rows(db_url, run.key).items()})
    assert run.ps_snapshots, "no ps snapshot taken"
    for i, snapshot in enumerate(run.ps_snapshots):
        search(f"ps snapshot {i}", snapshot)
    assert run.metrics, "no /metrics scrape"
    for i, metrics in enumerate(run.metrics):
        search(f"metrics {i}", metrics)
    return hits


def key_echo_summary(sim: Any, db_url: str, hits: Counter[str]) -> str:
    """One line: how many answers quoted the key, how many run rows kept a masked echo, and the leaks."""
    echoed = sum(1 for call in sim.calls if call.fault == "key_echo")
    engine = make_engine(db_url, pool=False)
    try:
        with engine.connect() as conn:
            details = [str(d) for d in conn.execute(select(sync_runs.c.detail)).scalars() if d]
            conn.rollback()
    finally:
        engine.dispose()
    masked = sum(1 for d in details if "Clé API ***" in d or "CLÉ API ***" in d or "apiKey=***" in d)
    return f"key echoes: {echoed} answers quoted the key, {masked} run details keep the echo masked, leaks {sum(hits.values())}"
