"""The only place that branches on the backend's name: staging tables and bulk loads.

Why bulk paths: row-by-row ORM inserts load 1,000,000 rows into PostgreSQL in ~25 s, ``COPY`` in
~2 s; SQLite's ``executemany`` in one transaction takes ~1.5 s (``../shared/PERF-FACTS.md``).
Indexes on staging tables are built *after* the load for the same reason.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from itertools import islice
from typing import Any, TypeVar

from sqlalchemy import (
    Column,
    Connection,
    CursorResult,
    ForeignKeyConstraint,
    Index,
    MetaData,
    Table,
    UniqueConstraint,
    func,
    select,
)
from sqlalchemy.exc import OperationalError
from sqlalchemy.schema import (
    AddConstraint,
    CreateIndex,
    CreateTable,
    DropConstraint,
    DropIndex,
    DropTable,
)

CHUNK_ROWS = 10_000


def backend(conn: Connection) -> str:
    """``sqlite``, ``postgresql`` or ``mariadb`` (MySQL counts as mariadb)."""
    name = conn.dialect.name
    return "mariadb" if name in ("mysql", "mariadb") else name


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
    if backend(conn) != "postgresql":
        conn.exec_driver_sql(f"DROP TABLE IF EXISTS {table.name}") if backend(conn) == "sqlite" else conn.exec_driver_sql(
            f"DROP TEMPORARY TABLE IF EXISTS {table.name}"
        )
    conn.execute(CreateTable(table))


def drop_temp(conn: Connection, table: Table) -> None:
    """Drop a staging table before commit (PostgreSQL drops it at commit by itself)."""
    if backend(conn) == "mariadb":
        conn.exec_driver_sql(f"DROP TEMPORARY TABLE IF EXISTS {table.name}")
    elif backend(conn) == "sqlite":
        conn.execute(DropTable(table, if_exists=True))


def index_temp(conn: Connection, table: Table, *column_names: str, unique: bool = False) -> None:
    """Index a staging table once it is loaded; a unique index also rejects duplicate keys."""
    index = Index(f"ix_{table.name}_{'_'.join(column_names)}", *(table.c[c] for c in column_names), unique=unique)
    conn.execute(CreateIndex(index))


#: Backends whose tables carry exactly the indexes of the metadata (MariaDB lacks the partial ones,
#: see migration 0001), so that `drop_indexes` / `create_indexes` may rebuild them from it.
METADATA_INDEXES = frozenset({"sqlite", "postgresql"})


def drop_indexes(conn: Connection, table: Table) -> None:
    """Drop ``table``'s secondary indexes (before a bulk load into it; inside the caller's transaction)."""
    if backend(conn) not in METADATA_INDEXES:
        raise ValueError(f"{backend(conn)}: indexes differ from the metadata; not rebuilt")
    for index in sorted(table.indexes, key=lambda ix: str(ix.name)):
        conn.execute(DropIndex(index))


def create_indexes(conn: Connection, table: Table) -> None:
    """Build ``table``'s secondary indexes again, as the metadata (and the migrations) define them."""
    for index in sorted(table.indexes, key=lambda ix: str(ix.name)):
        conn.execute(CreateIndex(index))


@contextmanager
def sqlite_cache(conn: Connection, mebibytes: int) -> Iterator[None]:
    """A bigger SQLite page cache for this connection while the block runs (no-op elsewhere).

    The pool hands the connection to others afterwards, so the old size is put back.
    """
    if backend(conn) != "sqlite":
        yield
        return
    # On the DBAPI connection: a PRAGMA is no transaction, and SQLAlchemy would autobegin one.
    raw = conn.connection.driver_connection
    before = raw.execute("PRAGMA cache_size").fetchone()[0]  # type: ignore[union-attr]
    raw.execute(f"PRAGMA cache_size=-{int(mebibytes) * 1024}")  # type: ignore[union-attr]
    try:
        yield
    finally:
        raw.execute(f"PRAGMA cache_size={int(before)}")  # type: ignore[union-attr]


def transaction_work_mem(conn: Connection, mebibytes: int) -> None:
    """PostgreSQL: sort and hash memory for the rest of this transaction only (no-op elsewhere).

    A sync's diff or sort over hundreds of thousands of rows spills to disk with the default 4 MB.
    """
    if backend(conn) == "postgresql":
        conn.exec_driver_sql(f"SET LOCAL work_mem = '{int(mebibytes)}MB'")


@contextmanager
def without_hash_joins(conn: Connection) -> Iterator[None]:
    """PostgreSQL: plan the statements run inside the block with no hash join and no JIT (no-op elsewhere).

    For a join whose inputs the caller knows to be in key order when the planner cannot (a
    staged list that arrived sorted): the planner prices a sort of it and hashes instead. JIT
    goes too: the merge plan's cost crosses ``jit_above_cost``, and compiling costs more than it
    saves on a statement this short. The settings are put back when the block ends (after an
    error they are the failed transaction's own, gone with it).
    """
    if backend(conn) != "postgresql":
        yield
        return
    before = conn.execute(select(func.current_setting("enable_hashjoin"), func.current_setting("jit"))).one()
    conn.execute(select(func.set_config("enable_hashjoin", "off", True), func.set_config("jit", "off", True)))
    yield
    conn.execute(select(func.set_config("enable_hashjoin", before[0], True), func.set_config("jit", before[1], True)))


def copy_text(conn: Connection, table: Table, blocks: Iterable[bytes]) -> int:
    """PostgreSQL only: ``COPY table FROM STDIN`` of data already in COPY's text format, passed
    through untouched; returns the number of rows (lines)."""
    if backend(conn) != "postgresql":
        raise ValueError(f"{backend(conn)}: COPY text is PostgreSQL's; use bulk_load")
    names = ", ".join(c.name for c in table.columns)
    count = 0
    raw = conn.connection.driver_connection
    with raw.cursor() as cursor:  # type: ignore[union-attr]
        with cursor.copy(f"COPY {table.name} ({names}) FROM STDIN") as copy:
            for block in blocks:
                count += block.count(b"\n")
                copy.write(block)
    return count


def _chunks(rows: Iterable[Sequence[Any]], size: int) -> Iterator[list[Sequence[Any]]]:
    iterator = iter(rows)
    while chunk := list(islice(iterator, size)):
        yield chunk


def bulk_load(conn: Connection, table: Table, rows: Iterable[Sequence[Any]]) -> int:
    """Load tuples (in ``table.c`` order, driver-ready values) into ``table``; returns the count.

    PostgreSQL: ``COPY ... FROM STDIN`` through psycopg 3. SQLite and MariaDB: the driver's
    ``executemany`` in chunks, inside the caller's transaction (PyMySQL rewrites it into
    multi-row ``INSERT``s).
    """
    names = [c.name for c in table.columns]
    count = 0
    if backend(conn) == "postgresql":
        raw = conn.connection.driver_connection
        with raw.cursor() as cursor:  # type: ignore[union-attr]
            with cursor.copy(f"COPY {table.name} ({', '.join(names)}) FROM STDIN") as copy:
                for row in rows:
                    copy.write_row(row)
                    count += 1
        return count
    marker = "?" if conn.dialect.paramstyle == "qmark" else "%s"
    sql = f"INSERT INTO {table.name} ({', '.join(names)}) VALUES ({', '.join(marker for _ in names)})"
    # The DBAPI cursor of the connection's own transaction: SQLAlchemy's exec_driver_sql costs
    # ~40 % more per row on a million-row executemany, for nothing we need here.
    cursor = conn.connection.driver_connection.cursor()  # type: ignore[union-attr]
    try:
        for chunk in _chunks(rows, CHUNK_ROWS):
            cursor.executemany(sql, chunk)
            count += len(chunk)
    finally:
        cursor.close()
    return count


#: Rows per statement in `bulk_load_fields` (SQLite allows 32,766 parameters in one statement).
VALUES_ROWS = 200


def bulk_load_fields(conn: Connection, table: Table, runs: Iterable[Sequence[Any]]) -> int:
    """SQLite and MariaDB: load rows given as flat runs of field values (``len(table.columns)`` values per row,
    in ``table.c`` order, any whole number of rows per run); returns the row count.

    Why: one multi-row ``INSERT … VALUES (…), (…)`` per run costs SQLite about half the CPU of
    ``executemany`` with one tuple per row (500,000 rows of 5 texts: ~0.6 s instead of ~1.2 s), and a
    run is cut from a text file with one ``split`` instead of one per row.
    """
    if backend(conn) == "postgresql":
        raise ValueError("postgresql: use copy_text or bulk_load")
    names = [c.name for c in table.columns]
    marker = "?" if conn.dialect.paramstyle == "qmark" else "%s"
    one = f"({', '.join(marker for _ in names)})"
    statements: dict[int, str] = {}
    count = 0
    cursor = conn.connection.driver_connection.cursor()  # type: ignore[union-attr]
    try:
        for run in runs:
            rows, extra = divmod(len(run), len(names))
            if extra:
                raise ValueError(f"{table.name}: a run of {len(run)} values is not whole rows of {len(names)}")
            if rows not in statements:
                statements[rows] = f"INSERT INTO {table.name} ({', '.join(names)}) VALUES {', '.join([one] * rows)}"
            cursor.execute(statements[rows], run)
            count += rows
    finally:
        cursor.close()
    return count


#: Backends whose unique and foreign-key constraints `drop_constraints` can drop and add again
#: (SQLite's belong to its ``CREATE TABLE``: they cannot be altered).
ALTERABLE_CONSTRAINTS = frozenset({"postgresql"})


def drop_constraints(conn: Connection, table: Table) -> list[Any]:
    """PostgreSQL: drop ``table``'s unique and foreign-key constraints (before a bulk load into an empty
    table, inside the caller's transaction) and return them for `add_constraints`; elsewhere drop
    nothing and return ``[]``.

    Why: PostgreSQL checks a foreign key with one trigger call per inserted row, and a unique key with
    one index insertion per row; added again after the load, each is one set-based check or index
    build. Dropping a foreign key locks the table it refers to (``ACCESS EXCLUSIVE``) until commit.
    """
    if backend(conn) not in ALTERABLE_CONSTRAINTS:
        return []
    dropped = [
        c for c in sorted(table.constraints, key=lambda c: str(c.name))
        if isinstance(c, (ForeignKeyConstraint, UniqueConstraint))
    ]
    for constraint in dropped:
        conn.execute(DropConstraint(constraint))
    return dropped


def drop_primary_key(conn: Connection, table: Table) -> list[Any]:
    """PostgreSQL: drop ``table``'s primary key (before a bulk load into an empty table that no
    foreign key refers to) and return it for `add_constraints`; elsewhere ``[]``.

    Why: each inserted row is one more index insertion, with its WAL; 500,000 rows into the rental
    number tables took 1.3-2.5 s more with their primary keys than without, and each key's build
    afterwards 0.2-0.5 s. A key that another table's foreign key refers to cannot be dropped
    (PostgreSQL refuses, the transaction fails): callers name tables without one.
    """
    if backend(conn) not in ALTERABLE_CONSTRAINTS or table.primary_key is None or not table.primary_key.columns:
        return []
    conn.execute(DropConstraint(table.primary_key))
    return [table.primary_key]


def add_constraints(conn: Connection, constraints: Iterable[Any]) -> None:
    """Add constraints dropped by `drop_constraints` again (each checks or indexes every row once)."""
    for constraint in constraints:
        conn.execute(AddConstraint(constraint))


def analyze(conn: Connection, table: Table) -> None:
    """PostgreSQL: fresh statistics for ``table`` (after a bulk load, or the next statement plans for
    a nearly empty table; autovacuum's ANALYZE may come much later). No-op elsewhere."""
    if backend(conn) == "postgresql":
        conn.exec_driver_sql(f"ANALYZE {table.name}")


def hash_joins(conn: Connection) -> bool:
    """True where a join of two large tables is planned by hashing (PostgreSQL), in any row order.

    SQLite (nested loops only) and MariaDB look each row up in an index: over 500,000 rows, SQLite
    takes 0.3 s when they come in key order and 1.7-2.7 s when they do not.
    """
    return backend(conn) == "postgresql"


def keys_compare_bytewise(conn: Connection) -> bool:
    """True where two texts are the same key only when their characters are (SQLite's BINARY
    collation, PostgreSQL's deterministic ones). MariaDB's ``utf8mb4_unicode_ci`` takes ``ABC``
    and ``abc`` (and ``é`` and ``e``) for one key: a duplicate check made in Python does not hold
    there.
    """
    return backend(conn) != "mariadb"


_T = TypeVar("_T")
_LOCK_NOT_AVAILABLE = "55P03"


#: How long a bulk load's key drops wait for their locks before the load keeps the keys instead.
DDL_LOCK_WAIT = "2s"


def within_lock_wait(conn: Connection, ddl: Callable[[], _T], wait: str = DDL_LOCK_WAIT) -> _T | None:
    """PostgreSQL: run ``ddl`` in a savepoint, waiting at most ``wait`` for each lock;
    returns its result, or ``None`` when a lock was not had in time (everything it did is undone).

    Why: dropping a key takes ACCESS EXCLUSIVE locks. Queued behind a long transaction (a BI
    query), such a request would in turn queue every later reader of those tables behind it;
    giving up after a short wait lets the caller go on the slower way instead.
    """
    savepoint = conn.begin_nested()
    try:
        before = conn.exec_driver_sql("SHOW lock_timeout").scalar_one()
        conn.exec_driver_sql(f"SET LOCAL lock_timeout = '{wait}'")
        result = ddl()
        conn.execute(select(func.set_config("lock_timeout", before, True)))
    except OperationalError as exc:
        if getattr(exc.orig, "sqlstate", None) != _LOCK_NOT_AVAILABLE:
            raise
        savepoint.rollback()
        return None
    savepoint.commit()
    return result
