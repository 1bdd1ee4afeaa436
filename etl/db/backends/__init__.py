"""Database backends behind one registry: one module per backend, named operations, no name checks elsewhere.

Model: sqlalchemy's ``testing/provision.py`` (``register`` + one implementation per backend). `Backend`
holds the portable behaviour; ``sqlite.py``, ``postgresql.py`` and ``mariadb.py`` override what their
server does differently. Code outside ``etl/db/`` calls `of(conn)` (or the thin functions of
`etl.db.dialect`) and asks for an operation or a capability, never for a name (docs/architecture.md).
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from datetime import date, datetime, timezone
from decimal import Decimal
from itertools import islice
from operator import itemgetter
from typing import Any, ClassVar, TypeVar

from sqlalchemy import ColumnElement, Connection, Engine, Select, Table, select
from sqlalchemy.schema import CreateTable, DropTable
from sqlalchemy.types import TypeEngine

_T = TypeVar("_T")

#: A column's value as the batch writes hand it to the driver, and a row of them by column name.
DbValue = str | int | float | Decimal | datetime | date | bytes | None
Row = Mapping[str, DbValue]
_R = TypeVar("_R")

#: Rows per ``executemany`` call of `Backend.bulk_load`.
CHUNK_ROWS = 10_000
#: Rows per statement in `Backend.bulk_load_fields` (SQLite allows 32,766 parameters in one statement).
VALUES_ROWS = 200


def chunks(rows: Iterable[Sequence[Any]], size: int) -> Iterator[list[Sequence[Any]]]:
    iterator = iter(rows)
    while chunk := list(islice(iterator, size)):
        yield chunk


class Backend:
    """The portable behaviour; a backend module overrides what its server does differently."""

    #: The registry name: ``sqlite``, ``postgresql`` or ``mariadb``.
    name: ClassVar[str] = ""
    #: Job locks belong to a database session (they vanish with it) instead of a lease row.
    session_locks: ClassVar[bool] = False
    #: The tables carry exactly the metadata's indexes, so they may be dropped and rebuilt from it.
    metadata_indexes: ClassVar[bool] = True
    #: Unique and foreign-key constraints can be dropped before a bulk load and added after it.
    alterable_constraints: ClassVar[bool] = False
    #: A join of two large tables is planned by hashing, in any row order.
    hash_joins: ClassVar[bool] = False
    #: Two texts are one key only when their characters are (no case- or accent-folding collation).
    keys_compare_bytewise: ClassVar[bool] = True
    #: Alembic must rebuild a table to alter it (``render_as_batch``).
    alter_in_batches: ClassVar[bool] = False
    #: Datetimes in ``COPY``/text loads need this suffix to be read as UTC (see `etl.db.types`).
    utc_text_suffix: ClassVar[str] = ""
    #: An index may carry a ``WHERE`` clause (a partial index).
    partial_indexes: ClassVar[bool] = True
    #: Several transactions may write at once (row locks), rather than one writer for the whole database.
    concurrent_writers: ClassVar[bool] = True

    # --- staging tables and bulk loads -------------------------------------------------------------

    def create_temp(self, conn: Connection, table: Table) -> None:
        conn.execute(CreateTable(table))

    def drop_temp(self, conn: Connection, table: Table) -> None:
        conn.execute(DropTable(table, if_exists=True))

    def recreate_temp(self, conn: Connection, table: Table) -> None:
        """An empty staging table that a step earlier in this transaction may have made and "dropped" already
        (`drop_temp` is a no-op where the table lasts until the commit)."""
        self.create_temp(conn, table)

    def placeholder(self, conn: Connection) -> str:
        return "?" if conn.dialect.paramstyle == "qmark" else "%s"

    def bulk_load(self, conn: Connection, table: Table, rows: Iterable[Sequence[Any]], columns: Sequence[str] | None = None) -> int:
        """``executemany`` in chunks on the DBAPI cursor of the caller's transaction (SQLAlchemy's
        ``exec_driver_sql`` costs more per row for nothing needed here: docs/benchmarks.md)."""
        names = list(columns) if columns else [c.name for c in table.columns]
        marker = self.placeholder(conn)
        sql = f"INSERT INTO {table.name} ({', '.join(names)}) VALUES ({', '.join(marker for _ in names)})"
        count = 0
        cursor = conn.connection.driver_connection.cursor()  # type: ignore[union-attr]
        try:
            for chunk in chunks(rows, CHUNK_ROWS):
                cursor.executemany(sql, chunk)
                count += len(chunk)
        finally:
            cursor.close()
        return count

    def bulk_load_fields(
        self, conn: Connection, table: Table, runs: Iterable[Sequence[Any]], columns: Sequence[str] | None = None
    ) -> int:
        """Rows given as flat runs of field values, one multi-row ``INSERT … VALUES`` per run; ``columns``:
        the fields of a row when not all the table's (the others take their defaults, an id its next value)."""
        names = list(columns) if columns else [c.name for c in table.columns]
        one = f"({', '.join(self.placeholder(conn) for _ in names)})"
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

    def bulk_load_runs(
        self, conn: Connection, table: Table, runs: Iterable[Sequence[Any]], columns: Sequence[str] | None = None
    ) -> int:
        """Rows as flat runs of field values, any length: cut into `VALUES_ROWS`-row statements."""
        step = VALUES_ROWS * (len(columns) if columns else len(table.columns))
        pieces = (run[start : start + step] for run in runs for start in range(0, len(run), step))
        return self.bulk_load_fields(conn, table, pieces, columns)

    def stage_then_apply(
        self, conn: Connection, load: Callable[[], _T], apply: Callable[[_T], _R], *, cache_mb: int, work_mem_mb: int
    ) -> _R:
        """Stage a download (``load``) and apply it (``apply``) atomically: here in one transaction."""
        with conn.begin():
            self.transaction_work_mem(conn, work_mem_mb)
            return apply(load())

    def drop_stage(self, conn: Connection, table: Table) -> None:
        """Drop a table staged inside `stage_then_apply`, before its commit."""
        self.drop_temp(conn, table)

    def copy_text(self, conn: Connection, table: Table, blocks: Iterable[bytes]) -> int:
        raise ValueError(f"{self.name}: COPY text is PostgreSQL's; use bulk_load")

    def driver_datetime(self, value: datetime) -> Any:
        """An aware datetime as the raw driver stores it for a `UtcDateTime` column: naive UTC."""
        return value.astimezone(timezone.utc).replace(tzinfo=None)

    def driver_value(self, value: Any) -> Any:
        """A Python value as the raw driver wants it in a bulk load that bypasses SQLAlchemy types."""
        return self.driver_datetime(value) if isinstance(value, datetime) else value

    def converts(self, column_type: TypeEngine[Any]) -> bool:
        """Whether values of this column type need `driver_value` before a raw bulk load."""
        from etl.db.types import UtcDateTime

        return isinstance(column_type, UtcDateTime)

    # --- migrations ---------------------------------------------------------------------------------

    def before_migrations(self, conn: Connection) -> None:
        """Prepare the connection for Alembic (called under the migration lock, before any statement)."""
        return None

    def check_after_migrations(self, conn: Connection) -> None:
        """Refuse to commit migrations that left the data inconsistent (raise)."""
        return None

    def month_sql(self, date_sql: str) -> str:
        """SQL text of the ``YYYY-MM`` month of the DATE expression ``date_sql`` (views group by it)."""
        raise NotImplementedError(f"{self.name}: no month expression")

    def later_by_sql(self, later_sql: str, earlier_sql: str, seconds: int) -> str:
        """SQL text of "timestamp ``later_sql`` is more than ``seconds`` after ``earlier_sql``" (breach grace)."""
        return f"{later_sql} > {earlier_sql} + make_interval(secs => {int(seconds)})"

    # --- session tuning (no-ops where the server needs none) -----------------------------------------

    @contextmanager
    def bigger_cache(self, conn: Connection, mebibytes: int) -> Iterator[None]:
        yield

    def transaction_work_mem(self, conn: Connection, mebibytes: int) -> None:
        return None

    @contextmanager
    def without_hash_joins(self, conn: Connection) -> Iterator[None]:
        yield

    def analyze(self, conn: Connection, table: Table) -> None:
        return None

    def analyze_stage(self, conn: Connection, table: Table) -> None:
        # MariaDB estimates a temporary table's rows from the engine's own count: nothing to refresh.
        return None

    def short_lock_wait(self, conn: Connection, milliseconds: int) -> None:
        """Wait at most this long for the database's write lock on this connection (where it queues writers)."""
        return None

    def within_lock_wait(self, conn: Connection, ddl: Callable[[], _T], wait: str) -> _T | None:
        """Run ``ddl``; where DDL can queue behind readers, give up after ``wait`` and return None."""
        return ddl()

    # --- session locks (backends with ``session_locks``) -----------------------------------------------

    def try_lock(self, conn: Connection, name: str) -> bool:
        """Take the session lock ``name`` at once or return False."""
        raise NotImplementedError(f"{self.name}: no session locks; use a lease (etl/locking.py)")

    def wait_lock(self, conn: Connection, name: str, timeout_seconds: int) -> None:
        """Take the session lock ``name``, waiting up to ``timeout_seconds``."""
        raise NotImplementedError(f"{self.name}: no session locks; use a lease (etl/locking.py)")

    def unlock(self, conn: Connection, name: str) -> None:
        raise NotImplementedError(f"{self.name}: no session locks; use a lease (etl/locking.py)")

    def waits_in_transaction(self, conn: Connection, name: str) -> bool:
        """Wait for lock ``name`` held to the end of the current transaction; False where locks have no such
        scope (the caller then takes a session lock)."""
        return False

    def try_transaction_lock(self, conn: Connection, name: str) -> bool:
        """Take lock ``name`` for the current transaction without waiting; `end_transaction_lock` after."""
        raise NotImplementedError(f"{self.name}: no transaction locks")

    def end_transaction_lock(self, conn: Connection, name: str) -> None:
        """Release what `try_transaction_lock` took, where the server does not at commit."""
        return None

    def deadlocked(self, error: BaseException) -> bool:
        """Whether ``error`` is the server ending a transaction as a deadlock's victim (retry or give up)."""
        return False

    # --- row locks -------------------------------------------------------------------------------------

    def locked(self, stmt: Select[Any]) -> Select[Any]:
        """``stmt`` locking the rows it reads until the transaction ends (``SELECT … FOR UPDATE``): a
        second transaction reading them so waits for the first's commit (the audit chain's head row)."""
        return stmt.with_for_update()

    def claimed(self, stmt: Select[Any]) -> Select[Any]:
        """``stmt`` locking the rows it reads, skipping rows another transaction holds (``FOR UPDATE
        SKIP LOCKED``; MariaDB ≥ 10.6): concurrent claimers each get a different row instead of queueing."""
        return stmt.with_for_update(skip_locked=True)

    def claiming(self, engine: Engine) -> Engine:
        """``engine`` as a claim transaction wants it (`etl.db.claims`): here as it is."""
        return engine

    def lock_conflict(self, error: BaseException) -> bool:
        """True when ``error`` ended a transaction only for its locks (a deadlock victim, a serialization
        failure): the transaction may simply be tried again."""
        return False

    # --- batch writes through the driver (the push inbox and its applier) ------------------------------
    #
    # SQLAlchemy's per-row parameter processing cost more than the database (docs/benchmarks.md,
    # push_receiver): these send plain values to the driver; the only conversion is the UTC
    # timestamps' (`driver_datetime`, as `UtcDateTime` stores them), and a naive one is refused.

    def insert_rows(self, conn: Connection, table: Table, rows: Sequence[Row], *, skip_duplicates_of: str | None = None) -> None:
        """``INSERT`` rows (mappings with the same keys) with the driver's ``executemany`` (PyMySQL
        makes it one multi-row INSERT); ``skip_duplicates_of``: a unique column whose conflicts are skipped."""
        if not rows:
            return
        columns = tuple(rows[0])
        tail = self.skip_duplicates_clause(skip_duplicates_of) if skip_duplicates_of else ""
        sql = _insert_sql(self.placeholder(conn), table, columns, tail)
        conn.exec_driver_sql(sql, self.driver_rows(table, columns, rows))

    def skip_duplicates_clause(self, column: str) -> str:
        """The tail of an ``INSERT`` that skips a row whose ``column`` (unique) already exists."""
        return f" ON CONFLICT ({column}) DO NOTHING"

    def insert_ignore_returning(
        self, conn: Connection, table: Table, rows: Sequence[Row], key: str, constants: Row | None = None
    ) -> set[DbValue]:
        """Insert rows in order, skipping those whose unique ``key`` is stored already; returns the keys
        stored. ``constants``: columns with one value for every row. Portable form: the stored keys are
        looked up first (an ``ON DUPLICATE KEY`` insert cannot say which rows it skipped)."""
        known: set[DbValue] = set()
        wanted = [row[key] for row in rows]
        for start in range(0, len(wanted), LOOKUP_CHUNK):
            part = wanted[start : start + LOOKUP_CHUNK]
            known.update(conn.execute(select(table.c[key]).where(table.c[key].in_(part))).scalars())
        fresh = [{**row, **(constants or {})} for row in rows if row[key] not in known]
        self.insert_rows(conn, table, fresh, skip_duplicates_of=key)
        return {row[key] for row in fresh}

    def update_rows(self, conn: Connection, table: Table, key: str, rows: Sequence[Row], *, increment: Sequence[str] = ()) -> None:
        """``UPDATE`` one row per mapping (found by ``key``) to its values, adding 1 to each ``increment`` column."""
        if not rows:
            return
        columns = tuple(name for name in rows[0] if name != key)
        mark = self.placeholder(conn)
        sets = [f"{name} = {mark}" for name in columns] + [f"{name} = {name} + 1" for name in increment]
        sql = f"UPDATE {table.name} SET {', '.join(sets)} WHERE {key} = {mark}"
        conn.exec_driver_sql(sql, self.driver_rows(table, (*columns, key), rows))

    def insert_adding(self, conn: Connection, table: Table, key: Sequence[str], summed: Sequence[str], rows: Select[Any]) -> None:
        """``INSERT … SELECT`` of ``rows`` (the ``key`` columns, then the ``summed`` ones); where a key is stored
        already its ``summed`` columns get the row's values added instead (``ON CONFLICT … DO UPDATE``)."""
        from sqlalchemy.dialects.sqlite import insert  # PostgreSQL's construct takes the same arguments

        stmt = insert(table).from_select([*key, *summed], rows)
        conn.execute(stmt.on_conflict_do_update(
            index_elements=list(key), set_={c: table.c[c] + stmt.excluded[c] for c in summed}))

    def in_values(self, column: ColumnElement[_T], values: Sequence[_T]) -> ColumnElement[bool]:
        """``column IN (values)``, for lookups of a batch's keys."""
        return column.in_(values)

    def driver_rows(self, table: Table, columns: tuple[str, ...], rows: Iterable[Row]) -> list[tuple[DbValue, ...]]:
        """Rows' values for the raw driver, in ``columns`` order, UTC timestamps converted (a naive one refused)."""
        values: list[tuple[DbValue, ...]]
        if len(columns) == 1:
            values = [(row[columns[0]],) for row in rows]
        else:
            get = itemgetter(*columns)
            values = [get(row) for row in rows]
        stamps = [i for i, stamp in enumerate(utc_columns(table, columns)) if stamp]
        if not stamps:
            return values
        convert = self.driver_datetime
        out = []
        for value in values:
            fixed = list(value)
            for i in stamps:
                stamp = aware(fixed[i])
                if isinstance(stamp, datetime):
                    fixed[i] = convert(stamp)
            out.append(tuple(fixed))
        return out

    def __repr__(self) -> str:
        return f"<backend {self.name}>"


#: Keys per lookup statement (SQLite's default limit on bound parameters is 32766).
LOOKUP_CHUNK = 500


def aware(value: DbValue) -> DbValue:
    """``value``, refused when it is a naive datetime given to a UTC column (as `UtcDateTime` refuses it)."""
    if isinstance(value, datetime) and value.tzinfo is None:
        raise ValueError(f"naive datetime {value!r} given to a UTC column")
    return value


@functools.cache
def utc_columns(table: Table, columns: tuple[str, ...]) -> tuple[bool, ...]:
    """Which of ``columns`` are `UtcDateTime` columns."""
    from etl.db.types import UtcDateTime

    return tuple(isinstance(table.c[name].type, UtcDateTime) for name in columns)


@functools.cache
def _insert_sql(mark: str, table: Table, columns: tuple[str, ...], tail: str) -> str:
    return f"INSERT INTO {table.name} ({', '.join(columns)}) VALUES ({', '.join([mark] * len(columns))}){tail}"


_REGISTRY: dict[str, Backend] = {}


def register(*dialect_names: str) -> Callable[[type[Backend]], type[Backend]]:
    """Class decorator: the backend for these SQLAlchemy dialect names (``mysql`` and ``mariadb`` share one)."""

    def decorate(cls: type[Backend]) -> type[Backend]:
        instance = cls()
        for dialect_name in dialect_names:
            _REGISTRY[dialect_name] = instance
        return cls

    return decorate


def of(bind: Connection | Engine) -> Backend:
    """The backend of a connection or engine."""
    try:
        return _REGISTRY[bind.dialect.name]
    except KeyError:
        raise ValueError(f"unsupported database backend {bind.dialect.name!r}; use SQLite, PostgreSQL or MariaDB") from None


# Importing the modules registers them (as sqlalchemy's dialects/*/provision.py do).
from etl.db.backends import mariadb, postgresql, sqlite  # noqa: E402, F401
