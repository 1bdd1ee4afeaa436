"""MariaDB (and MySQL): GET_LOCK session locks, case-folding keys, indexes that differ from the metadata."""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from typing import Any

from sqlalchemy import Connection, Engine, Select, Table, text

from etl.db.backends import Backend, register

#: MariaDB's limit on a GET_LOCK name.
LOCK_NAME_MAX = 64


def lock_name(database: str, name: str) -> str:
    """The GET_LOCK name for ``name`` in ``database``: those names are server-wide, so it carries the
    database (two databases on one server do not block each other); hashed past 64 characters."""
    full = f"{database}.{name}"
    if len(full) <= LOCK_NAME_MAX:
        return full
    return "smspartner-etl:" + hashlib.sha256(full.encode()).hexdigest()[:48]


def _lock_name(conn: Connection, name: str) -> str:
    return lock_name(conn.engine.url.database or "", name)


@register("mariadb", "mysql")
class MariaDB(Backend):
    name = "mariadb"
    session_locks = True
    #: Migration 0001 leaves out the partial indexes MariaDB lacks: its indexes are not the metadata's.
    metadata_indexes = False
    #: utf8mb4_unicode_ci takes "ABC" and "abc" (and "é" and "e") for one key.
    keys_compare_bytewise = False
    partial_indexes = False

    def month_sql(self, date_sql: str) -> str:
        return f"DATE_FORMAT({date_sql}, '%Y-%m')"

    def later_by_sql(self, later_sql: str, earlier_sql: str, seconds: int) -> str:
        return f"{later_sql} > DATE_ADD({earlier_sql}, INTERVAL {int(seconds)} SECOND)"

    def create_temp(self, conn: Connection, table: Table) -> None:
        conn.exec_driver_sql(f"DROP TEMPORARY TABLE IF EXISTS {table.name}")
        super().create_temp(conn, table)

    def drop_temp(self, conn: Connection, table: Table) -> None:
        conn.exec_driver_sql(f"DROP TEMPORARY TABLE IF EXISTS {table.name}")

    def try_lock(self, conn: Connection, name: str) -> bool:
        # 1: taken; 0: held by another session; NULL: an error (treated as not taken).
        return conn.execute(text("SELECT GET_LOCK(:n, 0)"), {"n": _lock_name(conn, name)}).scalar() == 1

    def wait_lock(self, conn: Connection, name: str, timeout_seconds: int) -> None:
        conn.execute(text("SELECT GET_LOCK(:n, :t)"), {"n": _lock_name(conn, name), "t": int(timeout_seconds)})

    def unlock(self, conn: Connection, name: str) -> None:
        conn.execute(text("SELECT RELEASE_LOCK(:n)"), {"n": _lock_name(conn, name)})

    def deadlocked(self, error: BaseException) -> bool:
        # ER_LOCK_DEADLOCK: e.g. two transactions that gap-locked one absent key both insert it.
        return bool(getattr(getattr(error, "orig", None), "args", (None,))[:1] == (1213,))

    def try_transaction_lock(self, conn: Connection, name: str) -> bool:
        # GET_LOCK has no transaction scope: `end_transaction_lock` releases it.
        return self.try_lock(conn, name)

    def end_transaction_lock(self, conn: Connection, name: str) -> None:
        self.unlock(conn, name)

    def claiming(self, engine: Engine) -> Engine:
        # READ COMMITTED: a locking read under REPEATABLE READ also locks the gaps of the range it scans, and
        # the claim's UPDATE moves index entries into gaps another claimer holds: two claimers would deadlock.
        return engine.execution_options(isolation_level="READ COMMITTED")

    def lock_conflict(self, error: BaseException) -> bool:
        # 1213 ER_LOCK_DEADLOCK, 1205 ER_LOCK_WAIT_TIMEOUT
        args: tuple[object, ...] = tuple(getattr(getattr(error, "orig", None), "args", ()))
        return bool(args) and args[0] in (1205, 1213)

    def insert_adding(self, conn: Connection, table: Table, key: Sequence[str], summed: Sequence[str], rows: Select[Any]) -> None:
        from sqlalchemy.dialects import mysql

        stmt = mysql.insert(table).from_select([*key, *summed], rows)
        conn.execute(stmt.on_duplicate_key_update({c: table.c[c] + stmt.inserted[c] for c in summed}))

    def skip_duplicates_clause(self, column: str) -> str:
        # Not INSERT IGNORE: it turns every error into a warning, so an over-long value would be cut
        # and a missing one defaulted. A no-op update on the duplicate key skips only the replay.
        return f" ON DUPLICATE KEY UPDATE {column} = {column}"
