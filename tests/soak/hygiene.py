"""Secret hygiene: everything a soak run produced, searched for the API key.

Searched: every file the run wrote (daemon stdout/stderr logs with their exception texts, configs,
rental spool files), a text dump of every table in the database (``sync_runs.detail`` holds the
error texts), ``ps -eo args`` taken while the daemons ran, and each daemon's last ``/metrics``.
The key is also searched URL-encoded and as it would appear in a query string.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Any
from urllib.parse import quote

from sqlalchemy import MetaData, select

from etl.db.engine import make_engine


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
    needles = {run.key, quote(run.key), f"apiKey={run.key}"}
    hits: Counter[str] = Counter()

    def search(place: str, haystack: str) -> None:
        n = sum(haystack.count(needle) for needle in needles)
        if n:
            hits[place] += n

    files = [p for p in Path(run.workdir).rglob("*") if p.is_file()]
    assert any(p.suffix == ".log" for p in files), "no daemon log to search"
    for path in files:
        search(f"file {path.name}", path.read_text(errors="replace"))
    dump = database_dump(db_url)
    assert "sync_runs" in dump
    search("database dump", dump)
    assert run.ps_snapshots, "no ps snapshot taken"
    for i, snapshot in enumerate(run.ps_snapshots):
        search(f"ps snapshot {i}", snapshot)
    assert run.metrics, "no /metrics scrape"
    for i, metrics in enumerate(run.metrics):
        search(f"metrics {i}", metrics)
    return hits
