"""Migration 0012 (rental_costs, rental_cost_events, the spend_by_day and balance_history views): matches the
models, goes both ways, leaves the older views' columns as they were."""

from __future__ import annotations

from typing import Any

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import inspect

from etl.db.engine import make_engine
from etl.db.migrate import downgrade, upgrade
from etl.db.schema import Base

BEFORE = "0011"
TABLES = {"rental_costs", "rental_cost_events"}
VIEWS = {"spend_by_day", "balance_history"}
#: What BI queries written before 0012 select from the spend views.
KEPT = {
    "spend_daily": ["sent_day", "country", "currency", "recipients", "spend", "account_id", "account_label"],
    "spend_vs_account": [
        "period", "currency", "account_cost", "account_nb_send", "recorded_spend", "recorded_recipients", "difference",
        "account_observed_at", "account_id", "account_label",
    ],
}


def _state(url: str) -> tuple[set[str], set[str], list[Any], dict[str, list[str]]]:
    """(cost tables, new views, model differences in the cost tables, the older spend views' columns)."""
    engine = make_engine(url, pool=False)
    try:
        with engine.connect() as conn:
            inspector = inspect(conn)
            tables = TABLES & set(inspector.get_table_names())
            views = VIEWS & set(inspector.get_view_names())
            found = compare_metadata(MigrationContext.configure(conn), Base.metadata) if tables else []
            kept = {view: [c["name"] for c in inspector.get_columns(view)] for view in KEPT}
    finally:
        engine.dispose()
    return tables, views, [d for d in found if "rental_cost" in repr(d)], kept


def test_migration_0012_matches_the_models_goes_down_and_up_and_keeps_the_spend_views_columns(db_url: str) -> None:
    upgrade(db_url)
    assert _state(db_url) == (TABLES, VIEWS, [], KEPT)
    downgrade(db_url, BEFORE)
    assert _state(db_url) == (set(), set(), [], KEPT)
    upgrade(db_url)
    assert _state(db_url) == (TABLES, VIEWS, [], KEPT)
