"""The only place that branches on the backend's name: staging tables and bulk loads.

Why bulk paths: row-by-row ORM inserts load 1,000,000 rows into PostgreSQL in ~25 s, ``COPY`` in
~2 s; SQLite's ``executemany`` in one transaction takes ~1.5 s (``../shared/PERF-FACTS.md``).
Indexes on staging tables are built *after* the load for the same reason.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from itertools import islice
from typing import Any

from sqlalchemy import Column, Connection, Index, MetaData, Table
from sqlalchemy.schema import CreateIndex, CreateTable, DropIndex, DropTable

CHUNK_ROWS = 10_000


def backend(conn: Connection) -> str:
    """``sqlite``, ``postgresql`` or ``mariadb`` (MySQL counts as mariadb)."""
    name = conn.dialect.name
    return "mariadb" if name in ("mysql", "mariadb") else name


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
