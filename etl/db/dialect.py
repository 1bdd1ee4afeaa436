"""Staging tables, bulk loads and session tuning, as functions of a connection.

Each function calls the connection's backend (`etl.db.backends`: one module per backend); nothing
here or in the jobs compares backend names. Why bulk paths at all: row-by-row inserts are an order
of magnitude slower than ``COPY`` or one ``executemany`` (``../shared/PERF-FACTS.md``); indexes on
staging tables are built *after* the load for the same reason.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any, TypeVar

from sqlalchemy import (
    Column,
    Connection,
    Constraint,
    CursorResult,
    ForeignKeyConstraint,
    Index,
    MetaData,
    Table,
    UniqueConstraint,
)
from sqlalchemy.schema import (
    AddConstraint,
    CreateIndex,
    DropConstraint,
    DropIndex,
)
from sqlalchemy.types import TypeEngine

from etl.db import backends

_T = TypeVar("_T")
_R = TypeVar("_R")


def backend(conn: Connection) -> str:
    """``sqlite``, ``postgresql`` or ``mariadb`` (MySQL counts as mariadb): for logs and figures only;
    to choose behaviour ask `backends.of` for an operation or capability."""
    return backends.of(conn).name


def inserted_id(result: CursorResult[Any]) -> int:
    """The id of the row a single-row ``INSERT`` wrote (SQLAlchemy types the key as optional)."""
    key = result.inserted_primary_key
    if key is None:
        raise ValueError("not a single-row INSERT: no inserted primary key")
    return int(key[0])


def temp_table(name: str, *columns: Column[Any]) -> Table:
    """A session-private staging table (dropped at commit on PostgreSQL, explicitly elsewhere)."""
    return Table(
        name,
        MetaData(),
        *columns,
        prefixes=["TEMPORARY"],
        postgresql_on_commit="DROP",
    )


def create_temp(conn: Connection, table: Table) -> None:
    """Create a staging table, replacing one a failed run left behind."""
    backends.of(conn).create_temp(conn, table)


def recreate_temp(conn: Connection, table: Table) -> None:
    """Create a staging table that an earlier step of the same transaction may have created and dropped: a
    rollup's stage, used by every write that moves it (PostgreSQL drops a staging table only at commit)."""
    backends.of(conn).recreate_temp(conn, table)


def drop_temp(conn: Connection, table: Table) -> None:
    """Drop a staging table before commit (PostgreSQL drops it at commit by itself)."""
    backends.of(conn).drop_temp(conn, table)


def index_temp(conn: Connection, table: Table, *column_names: str, unique: bool = False) -> None:
    """Index a staging table once it is loaded; a unique index also rejects duplicate keys."""
    index = Index(f"ix_{table.name}_{'_'.join(column_names)}", *(table.c[c] for c in column_names), unique=unique)
    conn.execute(CreateIndex(index))


def metadata_indexes(conn: Connection) -> bool:
    """True where the tables carry exactly the metadata's indexes (MariaDB lacks the partial ones,
    see migration 0001), so that `drop_indexes` / `create_indexes` may rebuild them from it."""
    return backends.of(conn).metadata_indexes


def drop_indexes(conn: Connection, table: Table) -> None:
    """Drop ``table``'s secondary indexes (before a bulk load into it; inside the caller's transaction)."""
    if not metadata_indexes(conn):
        raise ValueError(f"{backend(conn)}: indexes differ from the metadata; not rebuilt")
    for index in sorted(table.indexes, key=lambda ix: str(ix.name)):
        conn.execute(DropIndex(index))


def create_indexes(conn: Connection, table: Table) -> None:
    """Build ``table``'s secondary indexes again, as the metadata (and the migrations) define them."""
    for index in sorted(table.indexes, key=lambda ix: str(ix.name)):
        conn.execute(CreateIndex(index))


@contextmanager
def sqlite_cache(conn: Connection, mebibytes: int) -> Iterator[None]:
    """A bigger SQLite page cache for this connection while the block runs (no-op elsewhere)."""
    with backends.of(conn).bigger_cache(conn, mebibytes):
        yield


def transaction_work_mem(conn: Connection, mebibytes: int) -> None:
    """PostgreSQL: sort and hash memory for the rest of this transaction only (no-op elsewhere)."""
    backends.of(conn).transaction_work_mem(conn, mebibytes)


@contextmanager
def without_hash_joins(conn: Connection) -> Iterator[None]:
    """PostgreSQL: plan the statements inside the block with no hash join and no JIT (no-op elsewhere),
    for a join whose inputs the caller knows to be in key order when the planner cannot."""
    with backends.of(conn).without_hash_joins(conn):
        yield


def copy_text(conn: Connection, table: Table, blocks: Iterable[bytes]) -> int:
    """PostgreSQL only: ``COPY table FROM STDIN`` of data already in COPY's text format, passed
    through untouched; returns the number of rows (lines)."""
    return backends.of(conn).copy_text(conn, table, blocks)


def bulk_load(conn: Connection, table: Table, rows: Iterable[Sequence[Any]]) -> int:
    """Load tuples (in ``table.c`` order, driver-ready values: `driver_value`) into ``table``; returns the count.

    PostgreSQL: ``COPY ... FROM STDIN``. SQLite and MariaDB: the driver's ``executemany`` in chunks,
    inside the caller's transaction (PyMySQL rewrites it into multi-row ``INSERT``s).
    """
    return backends.of(conn).bulk_load(conn, table, rows)


#: Rows per statement in `bulk_load_fields` (SQLite allows 32,766 parameters in one statement).
VALUES_ROWS = backends.VALUES_ROWS


def bulk_load_runs(conn: Connection, table: Table, runs: Iterable[Sequence[Any]]) -> int:
    """Load rows given as flat runs of field values of any length (``COPY`` on PostgreSQL, multi-row
    ``INSERT``s of `VALUES_ROWS` rows elsewhere); returns the row count."""
    return backends.of(conn).bulk_load_runs(conn, table, runs)


def stage_then_apply(
    conn: Connection, load: Callable[[], _T], apply: Callable[[_T], _R], *, cache_mb: int, work_mem_mb: int
) -> _R:
    """Stage a download and apply it atomically. One transaction (with ``work_mem_mb`` of PostgreSQL
    sort memory); on SQLite the staging holds no write lock and the apply takes it, with a
    ``cache_mb`` page cache, and the connection is closed afterwards (see `etl.db.backends.sqlite`)."""
    return backends.of(conn).stage_then_apply(conn, load, apply, cache_mb=cache_mb, work_mem_mb=work_mem_mb)


def drop_stage(conn: Connection, table: Table) -> None:
    """Drop a table staged inside `stage_then_apply`, before its commit (a no-op where it goes by itself)."""
    backends.of(conn).drop_stage(conn, table)


def bulk_load_fields(conn: Connection, table: Table, runs: Iterable[Sequence[Any]]) -> int:
    """SQLite and MariaDB: load rows given as flat runs of field values (``len(table.columns)`` values per row,
    in ``table.c`` order, any whole number of rows per run); returns the row count.

    Why: one multi-row ``INSERT … VALUES (…), (…)`` per run costs SQLite about half the CPU of
    ``executemany`` with one tuple per row, and a run is cut from a text file with one ``split``
    instead of one per row (docs/benchmarks.md, "Stop sync").
    """
    return backends.of(conn).bulk_load_fields(conn, table, runs)


def driver_value(conn: Connection, value: Any) -> Any:
    """A Python value as this connection's raw driver wants it in `bulk_load` (datetimes, and on
    SQLite booleans, decimals and dates)."""
    return backends.of(conn).driver_value(value)


def driver_converter(conn: Connection, column_type: TypeEngine[Any]) -> Callable[[Any], Any] | None:
    """The conversion `bulk_load` needs for values of ``column_type`` here, or None when they pass as they are."""
    backend_ = backends.of(conn)
    return backend_.driver_value if backend_.converts(column_type) else None


def alterable_constraints(conn: Connection) -> bool:
    """True where unique and foreign-key constraints can be dropped and added again (PostgreSQL;
    SQLite's belong to its ``CREATE TABLE``, MariaDB rebuilds the table)."""
    return backends.of(conn).alterable_constraints


def drop_constraints(conn: Connection, table: Table) -> list[Constraint]:
    """PostgreSQL: drop ``table``'s unique and foreign-key constraints (before a bulk load into an empty
    table, inside the caller's transaction) and return them for `add_constraints`; elsewhere drop
    nothing and return ``[]``.

    Why: PostgreSQL checks a foreign key with one trigger call per inserted row, and a unique key with
    one index insertion per row; added again after the load, each is one set-based check or index
    build. Dropping a foreign key locks the table it refers to (``ACCESS EXCLUSIVE``) until commit.
    """
    if not alterable_constraints(conn):
        return []
    dropped: list[Constraint] = [
        c for c in sorted(table.constraints, key=lambda c: str(c.name))
        if isinstance(c, (ForeignKeyConstraint, UniqueConstraint))
    ]
    for constraint in dropped:
        conn.execute(DropConstraint(constraint))
    return dropped


def drop_primary_key(conn: Connection, table: Table) -> list[Constraint]:
    """PostgreSQL: drop ``table``'s primary key (before a bulk load into an empty table that no
    foreign key refers to) and return it for `add_constraints`; elsewhere ``[]``.

    Why: each inserted row is one more index insertion, with its WAL; building the key once after
    the load is cheaper (docs/benchmarks.md, "Design figures elsewhere in etl/", D1). A key that
    another table's foreign key refers to cannot be dropped (PostgreSQL refuses, the transaction
    fails): callers name tables without one.
    """
    if not alterable_constraints(conn) or table.primary_key is None or not table.primary_key.columns:
        return []
    conn.execute(DropConstraint(table.primary_key))
    return [table.primary_key]


def add_constraints(conn: Connection, constraints: Iterable[Constraint]) -> None:
    """Add constraints dropped by `drop_constraints` again (each checks or indexes every row once)."""
    for constraint in constraints:
        conn.execute(AddConstraint(constraint))


def analyze(conn: Connection, table: Table) -> None:
    """PostgreSQL: fresh statistics for ``table`` (after a bulk load, or the next statement plans for
    a nearly empty table; autovacuum's ANALYZE may come much later). No-op elsewhere."""
    backends.of(conn).analyze(conn, table)


def analyze_stage(conn: Connection, table: Table) -> None:
    """Fresh statistics for a loaded staging table, where the planner would otherwise guess its size
    (a temporary table is never analyzed by autovacuum, nor by SQLite): the stage then drives its join."""
    backends.of(conn).analyze_stage(conn, table)


def hash_joins(conn: Connection) -> bool:
    """True where a join of two large tables is planned by hashing (PostgreSQL), in any row order.

    SQLite (nested loops only) and MariaDB look each row up in an index, several times faster when
    the rows come in key order (docs/benchmarks.md, "Design figures", R1).
    """
    return backends.of(conn).hash_joins


def keys_compare_bytewise(conn: Connection) -> bool:
    """True where two texts are the same key only when their characters are (SQLite's BINARY
    collation, PostgreSQL's deterministic ones). MariaDB's ``utf8mb4_unicode_ci`` takes ``ABC``
    and ``abc`` (and ``é`` and ``e``) for one key: a duplicate check made in Python does not hold
    there.
    """
    return backends.of(conn).keys_compare_bytewise




#: How long a bulk load's key drops wait for their locks before the load keeps the keys instead.
DDL_LOCK_WAIT = "2s"


def within_lock_wait(conn: Connection, ddl: Callable[[], _T], wait: str = DDL_LOCK_WAIT) -> _T | None:
    """Run ``ddl``; on PostgreSQL in a savepoint waiting at most ``wait`` for each lock, returning
    ``None`` (everything it did undone) when a lock was not had in time.

    Why: dropping a key takes ACCESS EXCLUSIVE locks. Queued behind a long transaction (a BI
    query), such a request would in turn queue every later reader of those tables behind it;
    giving up after a short wait lets the caller go on the slower way instead.
    """
    return backends.of(conn).within_lock_wait(conn, ddl, wait)


def utc_text_suffix(conn: Connection) -> str:
    """What makes ``"YYYY-MM-DD HH:MM:SS.ffffff"`` (naive UTC text) a UTC instant for this connection's raw loads.

    SQLite stores that very text and MariaDB's ``DATETIME(6)`` reads it as given (both store naive
    UTC); PostgreSQL's ``timestamptz`` would read a bare time in the session's zone, so ``COPY`` gets
    an explicit ``+00``.
    """
    return backends.of(conn).utc_text_suffix
