"""PostgreSQL: COPY for bulk loads, advisory locks, keys dropped and rebuilt around first loads, planner hints."""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from datetime import datetime, timezone
from itertools import chain
from typing import Any, TypeVar

from sqlalchemy import Connection, Table, func, select, text
from sqlalchemy.exc import OperationalError
from sqlalchemy.schema import CreateTable

from etl.db.backends import Backend, register

_T = TypeVar("_T")
_LOCK_NOT_AVAILABLE = "55P03"


def advisory_key(name: str) -> int:
    """An advisory lock key for ``name``: the first 8 bytes of its SHA-256, as a signed bigint
    (stable across versions and hosts)."""
    return int.from_bytes(hashlib.sha256(name.encode()).digest()[:8], "big", signed=True)


@register("postgresql")
class PostgreSQL(Backend):
    name = "postgresql"
    session_locks = True
    alterable_constraints = True
    hash_joins = True
    utc_text_suffix = "+00"  # timestamptz reads a bare time in the session's zone

    def create_temp(self, conn: Connection, table: Table) -> None:
        conn.execute(CreateTable(table))  # ON COMMIT DROP (etl.db.dialect.temp_table): none can be left over

    def drop_temp(self, conn: Connection, table: Table) -> None:
        return None  # dropped at commit

    def bulk_load(self, conn: Connection, table: Table, rows: Iterable[Sequence[Any]]) -> int:
        """``COPY … FROM STDIN`` through psycopg 3 (docs/benchmarks.md: far faster than INSERTs)."""
        names = ", ".join(c.name for c in table.columns)
        count = 0
        raw = conn.connection.driver_connection
        with raw.cursor() as cursor:  # type: ignore[union-attr]
            with cursor.copy(f"COPY {table.name} ({names}) FROM STDIN") as copy:
                for row in rows:
                    copy.write_row(row)
                    count += 1
        return count

    def bulk_load_runs(self, conn: Connection, table: Table, runs: Iterable[Sequence[Any]]) -> int:
        width = len(table.columns)
        return self.bulk_load(conn, table, chain.from_iterable(zip(*[iter(run)] * width) for run in runs))

    def bulk_load_fields(self, conn: Connection, table: Table, runs: Iterable[Sequence[Any]]) -> int:
        raise ValueError("postgresql: use copy_text or bulk_load")

    def copy_text(self, conn: Connection, table: Table, blocks: Iterable[bytes]) -> int:
        names = ", ".join(c.name for c in table.columns)
        count = 0
        raw = conn.connection.driver_connection
        with raw.cursor() as cursor:  # type: ignore[union-attr]
            with cursor.copy(f"COPY {table.name} ({names}) FROM STDIN") as copy:
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

    def try_transaction_lock(self, conn: Connection, name: str) -> bool:
        return bool(conn.execute(text("SELECT pg_try_advisory_xact_lock(:k)"), {"k": advisory_key(name)}).scalar())
