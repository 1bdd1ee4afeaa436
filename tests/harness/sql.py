"""One SQL statement on a database URL in its own short-lived engine: what migration tests seed and read with."""

from __future__ import annotations

from typing import Any

from sqlalchemy import text

from etl.db.engine import make_engine


def run_sql(url: str, statement: str, **params: Any) -> list[tuple[Any, ...]]:
    """Run ``statement`` in one transaction on ``url``; its rows as tuples (none for a write)."""
    engine = make_engine(url, pool=False)
    try:
        with engine.begin() as conn:
            result = conn.execute(text(statement), params)
            return [tuple(r) for r in result] if result.returns_rows else []
    finally:
        engine.dispose()
