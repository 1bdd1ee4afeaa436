"""The number tables' keys, dropped for the first file ever into empty tables (PostgreSQL) and built
once after the rows.
"""

from __future__ import annotations

import logging
from typing import Any

from sqlalchemy import (
    Connection,
    Table,
    literal,
    select,
)

from etl.db import dialect
from etl.db.schema import rental_number_events, rental_numbers

log = logging.getLogger(__name__)


def _empty(conn: Connection, table: Table) -> bool:
    return conn.execute(select(literal(1)).select_from(table).limit(1)).first() is None


def _drop_keys_if_empty(conn: Connection) -> list[Any] | None:
    """PostgreSQL, before the first file ever: drop the number tables' foreign keys, unique and
    primary keys and secondary indexes, to build them once after the inserts (`_rebuild_keys`);
    returns the constraints dropped, ``None`` when nothing was. No foreign key refers to either
    table (a primary key could not be dropped then).

    Why: into empty tables, row by row, each number costs two foreign-key trigger calls and seven
    index insertions with their WAL; building the keys afterwards is several times faster, and
    dropping only the foreign keys or only the indexes saves little (docs/benchmarks.md, "Design figures", R4).

    Only when both tables are empty, as the stop sync does: other rentals' rows would be checked
    and indexed again, and the drops lock the tables (and, for the foreign keys, ``rentals`` and
    ``rental_files``) until commit; done first in the transaction, those locks come before any
    other. Not on SQLite, whose keys cannot be dropped: the secondary indexes alone, dropped and
    rebuilt, made its first load no faster (docs/benchmarks.md, "Design figures", R4). Behind a long
    transaction on any of those tables, the keys are kept (`dialect.within_lock_wait`).
    """
    tables = (rental_numbers, rental_number_events)
    if not dialect.alterable_constraints(conn) or not all(_empty(conn, t) for t in tables):
        return None

    def drop() -> list[Any]:
        dropped: list[Any] = []
        for table in tables:
            dialect.drop_indexes(conn, table)
            dropped += dialect.drop_constraints(conn, table) + dialect.drop_primary_key(conn, table)
        return dropped

    dropped = dialect.within_lock_wait(conn, drop)
    if dropped is None:
        log.info("first load keeps the number tables' keys (their tables were not free within %s)", dialect.DDL_LOCK_WAIT)
    return dropped


def _rebuild_keys(conn: Connection, constraints: list[Any]) -> None:
    """Build again what `_drop_keys_if_empty` dropped, as the metadata defines it, and give
    PostgreSQL statistics of the numbers for the re-syncs' plans (a hash join of the file with the
    stored numbers; the events are only appended to, autovacuum's ANALYZE can wait)."""
    for table in (rental_numbers, rental_number_events):
        dialect.create_indexes(conn, table)
    dialect.add_constraints(conn, constraints)
    dialect.analyze(conn, rental_numbers)
