"""PostgreSQL: COPY for bulk loads, advisory locks, keys dropped and rebuilt around first loads, planner hints."""

from __future__ import annotations

import functools
import hashlib
import re
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from datetime import datetime, timezone
from itertools import chain
from typing import Any, TypeVar

from sqlalchemy import BigInteger, ColumnElement, Connection, Dialect, Integer, Select, String, Table, any_, bindparam, delete, func, select, text
from sqlalchemy.dialects import postgresql
from sqlalchemy.exc import OperationalError
from sqlalchemy.schema import CreateTable

from etl.db.backends import Backend, DbValue, Row, aware, register, utc_columns

_T = TypeVar("_T")
_LOCK_NOT_AVAILABLE = "55P03"


def advisory_key(name: str) -> int:
    """An advisory lock key for ``name``: the first 8 bytes of its SHA-256, as a signed bigint
    (stable across versions and hosts)."""
    return int.from_bytes(hashlib.sha256(name.encode()).digest()[:8], "big", signed=True)


@contextmanager
def _copy(conn: Connection, table: Table, columns: Sequence[str] | None = None) -> Iterator[Any]:
    """A psycopg ``COPY table (columns) FROM STDIN`` on the connection's own transaction (all columns by default)."""
    names = ", ".join(columns or [c.name for c in table.columns])
    raw = conn.connection.driver_connection
    with raw.cursor() as cursor:  # type: ignore[union-attr]
        with cursor.copy(f"COPY {table.name} ({names}) FROM STDIN") as copy:
            yield copy


@register("postgresql")
class PostgreSQL(Backend):
    name = "postgresql"
    session_locks = True
    alterable_constraints = True
    hash_joins = True
    utc_text_suffix = "+00"  # timestamptz reads a bare time in the session's zone

    def month_sql(self, date_sql: str) -> str:
        return f"to_char({date_sql}, 'YYYY-MM')"

    def create_temp(self, conn: Connection, table: Table) -> None:
        conn.execute(CreateTable(table))  # ON COMMIT DROP (etl.db.dialect.temp_table): none can be left over

    def drop_temp(self, conn: Connection, table: Table) -> None:
        return None  # dropped at commit

    def recreate_temp(self, conn: Connection, table: Table) -> None:
        # Still there when this transaction made it before (ON COMMIT DROP): emptied and used again.
        conn.execute(CreateTable(table, if_not_exists=True))
        conn.execute(delete(table))

    def bulk_load(self, conn: Connection, table: Table, rows: Iterable[Sequence[Any]], columns: Sequence[str] | None = None) -> int:
        """``COPY … FROM STDIN`` through psycopg 3 (docs/benchmarks.md: far faster than INSERTs)."""
        count = 0
        with _copy(conn, table, columns) as copy:
            for row in rows:
                copy.write_row(row)
                count += 1
        return count

    def bulk_load_runs(
        self, conn: Connection, table: Table, runs: Iterable[Sequence[Any]], columns: Sequence[str] | None = None
    ) -> int:
        width = len(columns) if columns else len(table.columns)
        return self.bulk_load(conn, table, chain.from_iterable(zip(*[iter(run)] * width) for run in runs), columns)

    def bulk_load_fields(
        self, conn: Connection, table: Table, runs: Iterable[Sequence[Any]], columns: Sequence[str] | None = None
    ) -> int:
        raise ValueError("postgresql: use copy_text or bulk_load")

    def copy_text(self, conn: Connection, table: Table, blocks: Iterable[bytes]) -> int:
        count = 0
        with _copy(conn, table) as copy:
            for block in blocks:
                count += block.count(b"\n")
                copy.write(block)
        return count

    def driver_datetime(self, value: datetime) -> Any:
        return value.astimezone(timezone.utc)  # timestamptz takes the aware value as is

    def transaction_work_mem(self, conn: Connection, mebibytes: int) -> None:
        # A sync's diff or sort over hundreds of thousands of rows spills to disk with the default 4 MB.
        conn.exec_driver_sql(f"SET LOCAL work_mem = '{int(mebibytes)}MB'")

    @contextmanager
    def without_hash_joins(self, conn: Connection) -> Iterator[None]:
        # For inputs the caller knows to be in key order; JIT goes too (its cost crosses
        # jit_above_cost on such plans and compiling costs more than it saves). Put back after.
        before = conn.execute(select(func.current_setting("enable_hashjoin"), func.current_setting("jit"))).one()
        conn.execute(select(func.set_config("enable_hashjoin", "off", True), func.set_config("jit", "off", True)))
        yield
        conn.execute(select(func.set_config("enable_hashjoin", before[0], True), func.set_config("jit", before[1], True)))

    def analyze(self, conn: Connection, table: Table) -> None:
        # After a bulk load the next statement would plan for a nearly empty table.
        conn.exec_driver_sql(f"ANALYZE {table.name}")

    def analyze_stage(self, conn: Connection, table: Table) -> None:
        self.analyze(conn, table)  # autovacuum never analyzes temporary tables

    def within_lock_wait(self, conn: Connection, ddl: Callable[[], _T], wait: str) -> _T | None:
        # Key drops take ACCESS EXCLUSIVE locks: queued behind a long reader they would queue every
        # later reader behind them, so give up after a short wait and let the caller go the slow way.
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

    def try_lock(self, conn: Connection, name: str) -> bool:
        return bool(conn.execute(text("SELECT pg_try_advisory_lock(:k)"), {"k": advisory_key(name)}).scalar())

    def wait_lock(self, conn: Connection, name: str, timeout_seconds: int) -> None:
        conn.execute(text("SELECT pg_advisory_lock(:k)"), {"k": advisory_key(name)})  # waits, as before

    def unlock(self, conn: Connection, name: str) -> None:
        conn.execute(text("SELECT pg_advisory_unlock(:k)"), {"k": advisory_key(name)})

    def waits_in_transaction(self, conn: Connection, name: str) -> bool:
        conn.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": advisory_key(name)})
        return True

    def try_transaction_lock(self, conn: Connection, name: str) -> bool:
        return bool(conn.execute(text("SELECT pg_try_advisory_xact_lock(:k)"), {"k": advisory_key(name)}).scalar())

    # --- batch writes as arrays ----------------------------------------------------------------------
    #
    # SQLAlchemy's executemany on psycopg 3 pipelines one Bind/Execute per row, with per-row parameter
    # processing: most of the push receiver's CPU per callback went there (docs/benchmarks.md,
    # push_receiver). One statement over ``unnest`` of one array per column is one message; its text
    # is constant, so prepared once per connection. Arrays are cast to the column's type *without*
    # its length (``varchar[]``): a cast to varchar(n) truncates silently, the assignment to the
    # column refuses an over-long value as an ordinary INSERT does.

    def insert_adding(self, conn: Connection, table: Table, key: Sequence[str], summed: Sequence[str], rows: Select[Any]) -> None:
        stmt = postgresql.insert(table).from_select([*key, *summed], rows)
        conn.execute(stmt.on_conflict_do_update(
            index_elements=list(key), set_={c: table.c[c] + stmt.excluded[c] for c in summed}))

    def insert_rows(self, conn: Connection, table: Table, rows: Sequence[Row], *, skip_duplicates_of: str | None = None) -> None:
        if not rows:
            return
        columns = tuple(rows[0])
        tail = self.skip_duplicates_clause(skip_duplicates_of) if skip_duplicates_of else ""
        conn.exec_driver_sql(_insert_sql(conn.dialect, table, columns, tail), _arrays_of(table, columns, rows))

    def insert_ignore_returning(
        self, conn: Connection, table: Table, rows: Sequence[Row], key: str, constants: Row | None = None
    ) -> set[DbValue]:
        """One statement: rows by position (so ids follow the given order), replays skipped by the
        unique key, the stored keys returned (a key stored by another process in between is skipped too)."""
        if not rows:
            return set()
        columns = tuple(rows[0])
        extra = dict(constants or {})
        sql = _insert_returning_sql(conn.dialect, table, columns, tuple(extra), key)
        params = (*self.driver_rows(table, tuple(extra), [extra])[0], *_arrays_of(table, columns, rows))
        return {k for (k,) in conn.exec_driver_sql(sql, params)}

    def update_rows(self, conn: Connection, table: Table, key: str, rows: Sequence[Row], *, increment: Sequence[str] = ()) -> None:
        if not rows:
            return
        columns = (key, *(name for name in rows[0] if name != key))
        conn.exec_driver_sql(_update_sql(conn.dialect, table, columns, tuple(increment)), _arrays_of(table, columns, rows))

    def lock_conflict(self, error: BaseException) -> bool:
        # 40P01 deadlock_detected, 40001 serialization_failure
        return getattr(getattr(error, "orig", None), "sqlstate", None) in ("40P01", "40001")

    def in_values(self, column: ColumnElement[_T], values: Sequence[_T]) -> ColumnElement[bool]:
        """``column = ANY(array)``: one parameter and a constant statement instead of one cast
        parameter per value; the array type has no length, so a value is never truncated into a match."""
        element = BigInteger() if isinstance(column.type, (BigInteger, Integer)) else String()
        return column == any_(bindparam(None, list(values), type_=postgresql.ARRAY(element)))


def _arrays_of(table: Table, columns: tuple[str, ...], rows: Sequence[Row]) -> tuple[list[DbValue], ...]:
    stamps = utc_columns(table, columns)
    return tuple([aware(row[name]) for row in rows] if stamp else [row[name] for row in rows] for name, stamp in zip(columns, stamps))


def _element_type(dialect: Dialect, table: Table, name: str) -> str:
    return re.sub(r"\(\d+(,\s*\d+)?\)", "", table.c[name].type.compile(dialect=dialect))


def _arrays(dialect: Dialect, table: Table, columns: tuple[str, ...]) -> str:
    """``%b::type[], …``: binary array parameters, one per column."""
    return ", ".join(f"%b::{_element_type(dialect, table, name)}[]" for name in columns)


@functools.cache
def _insert_sql(dialect: Dialect, table: Table, columns: tuple[str, ...], tail: str) -> str:
    names = ", ".join(columns)
    return f"INSERT INTO {table.name} ({names}) SELECT {names} FROM unnest({_arrays(dialect, table, columns)}) AS t({names}){tail}"


@functools.cache
def _insert_returning_sql(dialect: Dialect, table: Table, columns: tuple[str, ...], constants: tuple[str, ...], key: str) -> str:
    # The constants' %s come before the arrays in the text, as their parameters do.
    picked = ", ".join([f"t.{name}" for name in columns] + [f"%s::{_element_type(dialect, table, name)}" for name in constants])
    return (
        f"INSERT INTO {table.name} ({', '.join((*columns, *constants))}) SELECT {picked} "
        f"FROM unnest({_arrays(dialect, table, columns)}) WITH ORDINALITY AS t({', '.join(columns)}, n) "
        f"ORDER BY t.n ON CONFLICT ({key}) DO NOTHING RETURNING {key}"
    )


@functools.cache
def _update_sql(dialect: Dialect, table: Table, columns: tuple[str, ...], increment: tuple[str, ...]) -> str:
    key = columns[0]
    sets = [f"{name} = t.{name}" for name in columns[1:]] + [f"{name} = p.{name} + 1" for name in increment]
    return (
        f"UPDATE {table.name} AS p SET {', '.join(sets)} "
        f"FROM unnest({_arrays(dialect, table, columns)}) AS t({', '.join(columns)}) WHERE p.{key} = t.{key}"
    )
