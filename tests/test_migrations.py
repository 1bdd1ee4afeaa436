"""Migrations are the schema's history: they must match the models and go both ways on every backend."""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import inspect, text
from sqlalchemy.exc import IntegrityError

from etl.db.engine import make_engine
from etl.db.migrate import downgrade, upgrade
from etl.db.schema import Base

NOW = datetime(2026, 11, 23, tzinfo=timezone.utc)


def _rental_keys(url: str) -> tuple[Any, ...]:
    engine = make_engine(url, pool=False)
    try:
        inspector = inspect(engine)
        return (
            sorted((fk["name"], tuple(fk["constrained_columns"]), fk["referred_table"], tuple(fk["referred_columns"]))
                   for fk in inspector.get_foreign_keys("rental_number_events")),
            sorted((ix["name"], tuple(ix["column_names"])) for ix in inspector.get_indexes("rental_number_events")),
            sorted((ix["name"], tuple(ix["column_names"]), bool(ix["unique"])) for ix in inspector.get_indexes("rental_files")),
        )
    finally:
        engine.dispose()


def _rental_differences(url: str) -> list[Any]:
    engine = make_engine(url, pool=False)
    try:
        with engine.connect() as conn:
            found = compare_metadata(MigrationContext.configure(conn), Base.metadata)
    finally:
        engine.dispose()
    return [d for d in found if "rental" in repr(d)]


def _seed_rental_event(url: str) -> tuple[int, int, int]:
    """Two rentals, a file of the first, one event of that file: (first rental, second rental, file)."""
    engine = make_engine(url, pool=False)
    try:
        with engine.begin() as conn:
            for token in ("t1", "t2"):
                conn.execute(text("INSERT INTO rentals (token, label, source, added_at, active) VALUES (:t, 'l', 'cli', :n, TRUE)"),
                             {"t": token, "n": NOW})
            first, second = conn.execute(text("SELECT id FROM rentals ORDER BY token")).scalars().all()
            conn.execute(text("INSERT INTO rental_files (rental_id, downloaded_at, loaded_at, file_rows, numbers, stopped, "
                              "unparseable, added, removed, stop_on, stop_off) VALUES (:r, :n, :n, 1, 1, 0, 0, 1, 0, 0, 0)"),
                         {"r": first, "n": NOW})
            file_id = conn.execute(text("SELECT id FROM rental_files")).scalar_one()
            conn.execute(text("INSERT INTO rental_number_events (rental_id, file_id, phone_key, phone_e164, event, stop, "
                              "observed_at) VALUES (:r, :f, '+33612345601', '+33612345601', 'added', FALSE, :n)"),
                         {"r": first, "f": file_id, "n": NOW})
    finally:
        engine.dispose()
    return first, second, file_id


def _event_count(url: str) -> int:
    engine = make_engine(url, pool=False)
    try:
        with engine.connect() as conn:
            return int(conn.execute(text("SELECT COUNT(*) FROM rental_number_events")).scalar_one())
    finally:
        engine.dispose()


def test_rental_history_keys_match_the_models_and_survive_a_downgrade_round_trip(db_url: str) -> None:
    upgrade(db_url, "0004")
    _seed_rental_event(db_url)
    before = _rental_keys(db_url)
    upgrade(db_url)
    at_head = _rental_keys(db_url)
    assert at_head != before
    assert _rental_differences(db_url) == []
    downgrade(db_url, "0004")
    assert _rental_keys(db_url) == before
    upgrade(db_url)
    assert _rental_keys(db_url) == at_head
    assert _event_count(db_url) == 1


def test_an_event_whose_rental_is_not_its_files_rental_is_refused(db_url: str) -> None:
    upgrade(db_url)
    _, second, file_id = _seed_rental_event(db_url)
    engine = make_engine(db_url, pool=False)
    try:
        with pytest.raises(IntegrityError), engine.begin() as conn:
            if engine.dialect.name == "sqlite":
                assert conn.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1
            conn.execute(text("INSERT INTO rental_number_events (rental_id, file_id, phone_key, phone_e164, event, stop, "
                              "observed_at) VALUES (:r, :f, 'x', NULL, 'added', FALSE, :n)"),
                         {"r": second, "f": file_id, "n": NOW})
    finally:
        engine.dispose()


def test_the_migrations_have_one_head_numbered_like_their_file() -> None:
    """Two branches landing the same migration number at once leave two heads; git does not flag it."""
    import re

    from alembic.script import ScriptDirectory

    from etl.db.migrate import alembic_config, current_heads

    assert len(current_heads()) == 1, f"several alembic heads: {sorted(current_heads())}"
    for script in ScriptDirectory.from_config(alembic_config("sqlite://")).walk_revisions():
        number = re.match(r"(\d{4})_", script.path.rsplit("/", 1)[-1])
        assert number is not None and number.group(1) == script.revision, script.path
