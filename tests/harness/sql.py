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


def indexes_and_drift(url: str, table: str) -> tuple[dict[str, list[str]], list[Any]]:
    """``table``'s indexes as the database at ``url`` has them (name → columns, in order), and the differences
    from the model (`etl.db.schema`) that name it: what a migration test checks after ``upgrade``."""
    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext
    from sqlalchemy import inspect

    from etl.db.schema import Base  # lazily, as conftest's migrated_db_url: the harness predates the schema

    engine = make_engine(url, pool=False)
    try:
        with engine.connect() as conn:
            indexes = {ix["name"]: list(ix["column_names"]) for ix in inspect(conn).get_indexes(table) if ix["name"]}
            drift = [d for d in compare_metadata(MigrationContext.configure(conn), Base.metadata) if table in repr(d)]
            return indexes, drift
    finally:
        engine.dispose()
