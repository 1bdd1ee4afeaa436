"""SQLite: one file, one writer; leases instead of session locks, text datetimes in raw loads."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from datetime import date, datetime, timezone
from decimal import Decimal
from typing import Any, TypeVar

from sqlalchemy import Boolean, Connection, Date, Numeric, Select, Table
from sqlalchemy.schema import CreateTable
from sqlalchemy.types import TypeEngine

from etl.db.backends import LOOKUP_CHUNK, Backend, DbValue, Row, register

_T = TypeVar("_T")
_R = TypeVar("_R")


@register("sqlite")
class SQLite(Backend):
    name = "sqlite"
    alter_in_batches = True  # ALTER TABLE cannot drop or change columns and constraints
    concurrent_writers = False

    def create_temp(self, conn: Connection, table: Table) -> None:
        # A temporary table outlives the transaction on SQLite: a failed run may have left one.
        conn.exec_driver_sql(f"DROP TABLE IF EXISTS {table.name}")
        conn.execute(CreateTable(table))

    def before_migrations(self, conn: Connection) -> None:
        # Batch mode rebuilds a table by copy, drop and rename; with foreign keys on, dropping a table
        # that others refer to fails (alembic, "Dealing with Referencing Tables"). Off on the raw
        # connection, outside any transaction (SQLite ignores the pragma inside one, and our engine
        # emits BEGIN on every SQLAlchemy statement), then checked in full before the commit.
        dbapi = conn.connection.dbapi_connection
        assert dbapi is not None
        dbapi.execute("PRAGMA foreign_keys=OFF")

    def check_after_migrations(self, conn: Connection) -> None:
        broken = conn.exec_driver_sql("PRAGMA foreign_key_check").fetchall()
        if broken:
            raise RuntimeError(f"migration left {len(broken)} rows whose foreign key has no parent: {broken[:5]}")

    def month_sql(self, date_sql: str) -> str:
        return f"strftime('%Y-%m', {date_sql})"

    def later_by_sql(self, later_sql: str, earlier_sql: str, seconds: int) -> str:
        # Timestamps are text here; julianday reads both the space and the ``T`` spelling.
        return f"julianday({later_sql}) > julianday({earlier_sql}) + {int(seconds)} / 86400.0"

    def locked(self, stmt: Select[Any]) -> Select[Any]:
        # No row locks: a writer's transaction began IMMEDIATE (etl.db.engine.writer), so it already
        # holds the database's one write lock and no other writer can read-then-write between.
        return stmt

    def claimed(self, stmt: Select[Any]) -> Select[Any]:
        return self.locked(stmt)  # the one writer claims alone (see `locked`)

    def stage_then_apply(
        self, conn: Connection, load: Callable[[], _T], apply: Callable[[_T], _R], *, cache_mb: int, work_mem_mb: int
    ) -> _R:
        # The download is staged in a transaction that writes only the connection's temp database,
        # so it holds no lock on the main file (other jobs keep writing meanwhile); the apply then
        # runs in a BEGIN IMMEDIATE transaction. Atomicity is unchanged: the first transaction wrote
        # nothing any other connection can see.
        conn.execution_options(sqlite_immediate=False)
        try:
            with self.bigger_cache(conn, cache_mb):
                with conn.begin():
                    loaded = load()
                conn.execution_options(sqlite_immediate=True)
                with conn.begin():
                    return apply(loaded)
        finally:
            # The connection is closed after the sync, not pooled: the staged table goes with its
            # temporary database, faster than dropping it page by page (docs/benchmarks.md, "Design figures", S3).
            conn.detach()

    def drop_stage(self, conn: Connection, table: Table) -> None:
        return None  # `stage_then_apply` closes the connection, and its temporary database with it

    def driver_datetime(self, value: datetime) -> Any:
        # SQLAlchemy's SQLite storage format, always with microseconds, so staged values compare
        # equal to stored ones; isoformat, not strftime (docs/benchmarks.md, "Design figures elsewhere in etl/", D3).
        return value.astimezone(timezone.utc).replace(tzinfo=None).isoformat(sep=" ", timespec="microseconds")

    def driver_value(self, value: Any) -> Any:
        if isinstance(value, datetime):
            return self.driver_datetime(value)
        if isinstance(value, bool):
            return int(value)
        if isinstance(value, Decimal):
            return str(value)
        if isinstance(value, date):
            return value.isoformat()
        return value

    def converts(self, column_type: TypeEngine[Any]) -> bool:
        return super().converts(column_type) or isinstance(column_type, (Boolean, Numeric, Date))

    @contextmanager
    def bigger_cache(self, conn: Connection, mebibytes: int) -> Iterator[None]:
        """A bigger page cache for this connection while the block runs; the old size is put back
        (the pool hands the connection to others afterwards)."""
        # On the DBAPI connection: a PRAGMA is no transaction, and SQLAlchemy would autobegin one.
        raw = conn.connection.driver_connection
        before = raw.execute("PRAGMA cache_size").fetchone()[0]  # type: ignore[union-attr]
        raw.execute(f"PRAGMA cache_size=-{int(mebibytes) * 1024}")  # type: ignore[union-attr]
        try:
            yield
        finally:
            raw.execute(f"PRAGMA cache_size={int(before)}")  # type: ignore[union-attr]

    def short_lock_wait(self, conn: Connection, milliseconds: int) -> None:
        conn.exec_driver_sql(f"PRAGMA busy_timeout={int(milliseconds)}")

    def analyze_stage(self, conn: Connection, table: Table) -> None:
        # Without a sqlite_stat1 row a table is guessed at a million rows; the stage's (a few thousand) is
        # one pass over it. ``temp.``: the statistics of a temporary table live in the temp schema.
        conn.exec_driver_sql(f"ANALYZE temp.{table.name}")

    def try_transaction_lock(self, conn: Connection, name: str) -> bool:
        return True  # the writer's BEGIN IMMEDIATE transaction already excludes every other writer

    def insert_ignore_returning(
        self, conn: Connection, table: Table, rows: Sequence[Row], key: str, constants: Row | None = None
    ) -> set[DbValue]:
        """One multi-row ``INSERT … ON CONFLICT DO NOTHING RETURNING`` per chunk: RETURNING tells which
        keys were stored, without a lookup first (docs/benchmarks.md, push_receiver)."""
        if not rows:
            return set()
        extra = dict(constants or {})
        given = tuple(rows[0])
        columns = (*given, *extra)
        marks = "(" + ", ".join("?" * len(columns)) + ")"
        fixed = self.driver_rows(table, tuple(extra), [extra])[0]
        values = [row + fixed for row in self.driver_rows(table, given, rows)]
        stored: set[DbValue] = set()
        for start in range(0, len(values), LOOKUP_CHUNK):
            part = values[start : start + LOOKUP_CHUNK]
            sql = (
                f"INSERT INTO {table.name} ({', '.join(columns)}) VALUES {', '.join([marks] * len(part))} "
                f"ON CONFLICT ({key}) DO NOTHING RETURNING {key}"
            )
            stored.update(k for (k,) in conn.exec_driver_sql(sql, tuple(v for row in part for v in row)))
        return stored
