"""Migration 0011 (contact groups, contacts, their events, the contact_stops view): matches the models, goes both ways."""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import inspect, text

from etl.db.engine import make_engine
from etl.db.migrate import downgrade, upgrade
from etl.db.schema import Base

NOW = datetime(2026, 12, 3, tzinfo=timezone.utc)
BEFORE = "0010"
TABLES = {"contact_groups", "contacts", "contact_events"}


def _state(url: str) -> tuple[set[str], set[str], list[Any]]:
    """(contact tables, contact views, model differences in the contact tables)."""
    engine = make_engine(url, pool=False)
    try:
        with engine.connect() as conn:
            inspector = inspect(conn)
            tables = TABLES & set(inspector.get_table_names())
            views = {"contact_stops"} & set(inspector.get_view_names())
            found = compare_metadata(MigrationContext.configure(conn), Base.metadata) if tables else []
    finally:
        engine.dispose()
    return tables, views, [d for d in found if "contact" in repr(d)]


def _seed(url: str) -> list[Any]:
    engine = make_engine(url, pool=False)
    try:
        with engine.begin() as conn:
            conn.execute(text("INSERT INTO contact_groups (group_id, name, followed, first_seen_at, last_seen_at) "
                              "VALUES ('6363', 'VIP', TRUE, :n, :n)"), {"n": NOW})
            conn.execute(text("INSERT INTO contacts (group_id, contact_id, phone_raw, phone_e164, stop_sms, stop_since, "
                              "first_seen_at, last_seen_at) VALUES ('6363', '1', '0611111111', '+33611111111', TRUE, :n, :n, :n), "
                              "('6363', '2', '0622222222', '+33622222222', FALSE, NULL, :n, :n)"), {"n": NOW})
            return [tuple(r) for r in conn.execute(text("SELECT account_id, phone_e164, group_id, account_label FROM contact_stops"))]
    finally:
        engine.dispose()


def test_migration_0011_matches_the_models_and_goes_down_and_up_again(db_url: str) -> None:
    upgrade(db_url)
    assert _state(db_url) == (TABLES, {"contact_stops"}, [])
    assert _seed(db_url) == [(1, "+33611111111", "6363", "main")]
    downgrade(db_url, BEFORE)
    assert _state(db_url) == (set(), set(), [])
    upgrade(db_url)
    assert _state(db_url) == (TABLES, {"contact_stops"}, [])
