"""Migration 0016 (breaches, breaches_open, phone indexes): matches the models, goes both ways, keeps the rows."""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import insert, inspect, select

from etl.db.engine import make_engine
from etl.db.migrate import downgrade, upgrade
from etl.db.schema import Base, stop_periods

INDEXES = {("recipients", "ix_recipients_phone_e164"), ("contact_events", "ix_contact_events_phone_e164"),
           ("write_actions", "ix_write_actions_target")}
AT = datetime(2026, 12, 1, 9, 0, tzinfo=timezone.utc)


def _state(url: str) -> tuple[bool, bool, set[tuple[str, str]], list[Any], list[str]]:
    """(table there, view there, phone indexes there, model differences, the stop numbers kept)."""
    engine = make_engine(url, pool=False)
    try:
        with engine.connect() as conn:
            inspector = inspect(conn)
            indexes = {(t, ix["name"]) for t, _ in INDEXES for ix in inspector.get_indexes(t)} & INDEXES
            found = compare_metadata(MigrationContext.configure(conn), Base.metadata)
            kept = [p for (p,) in conn.execute(select(stop_periods.c.phone_e164))]
            return ("breaches" in inspector.get_table_names(), "breaches_open" in inspector.get_view_names(), indexes,
                    [d for d in found if "breach" in repr(d) or "phone_e164" in repr(d) or "target" in repr(d)], kept)
    finally:
        engine.dispose()


def test_migration_0016_matches_the_models_goes_down_and_up_and_keeps_the_stops(db_url: str) -> None:
    upgrade(db_url, "0015")
    engine = make_engine(db_url, pool=False)
    with engine.begin() as conn:
        conn.execute(insert(stop_periods).values(phone_e164="+33612345678", phone_raw="0612345678", first_seen_at=AT, source="sync"))
    engine.dispose()
    upgrade(db_url)
    assert _state(db_url) == (True, True, INDEXES, [], ["+33612345678"])
    downgrade(db_url, "0015")
    assert _state(db_url)[:3] == (False, False, set()) and _state(db_url)[4] == ["+33612345678"]
    upgrade(db_url)
    assert _state(db_url) == (True, True, INDEXES, [], ["+33612345678"])
