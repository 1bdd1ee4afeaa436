"""Nothing open yet: every listed id opens a period, into an empty table with its indexes (and on
PostgreSQL its foreign keys) built after the rows.
"""

from __future__ import annotations

import logging
from datetime import datetime
from typing import Any

from sqlalchemy import (
    Connection,
    Table,
    select,
)
from sqlalchemy.exc import IntegrityError

from etl.db import dialect
from etl.db.schema import stop_periods
from etl.jobs.base import JobContext
from etl.jobs.stops.diff import _open_periods
from etl.jobs.stops.stage import _repeated_id

log = logging.getLogger(__name__)


def _load_all(ctx: JobContext, conn: Connection, stage: Table, now: datetime) -> int:
    """Nothing open: every listed id opens a period (no anti-join).

    Into an empty table (SQLite, PostgreSQL) the indexes are built after the rows, not row by row,
    and on PostgreSQL the foreign keys too (`_drop_keys_if_free`). The partial unique index then
    refuses a repeated id. The download is staged first, so the locks this takes last for the
    database work only, not the download.
    """
    p = stop_periods
    rebuild = dialect.metadata_indexes(conn) and conn.execute(select(p.c.id).limit(1)).first() is None
    keys: list[Any] = []
    if rebuild:
        dialect.drop_indexes(conn, p)
        keys = _drop_keys_if_free(conn)
    added = _open_periods(ctx, conn, stage, now)
    if rebuild:
        try:
            dialect.create_indexes(conn, p)
        except IntegrityError:
            raise _repeated_id() from None
        dialect.add_constraints(conn, keys)
        dialect.analyze(conn, p)
    return added


def _drop_keys_if_free(conn: Connection) -> list[Any]:
    """PostgreSQL: drop ``stop_periods``' foreign keys for a first load, if the tables they refer
    to can be locked within `dialect.DDL_LOCK_WAIT`; returns what to add back (``[]``: keys kept).

    Each key is one trigger call per inserted row; adding them back once costs far less
    (docs/benchmarks.md, "Design figures", S7). Dropping a key locks its table
    (``sync_runs``, ``write_actions``: ACCESS EXCLUSIVE) until commit, so other sessions wait for
    the few seconds of the load; behind a long transaction on them the load keeps its keys
    instead of queueing every other reader behind it.
    """
    if not dialect.alterable_constraints(conn):
        return []
    keys = dialect.within_lock_wait(conn, lambda: dialect.drop_constraints(conn, stop_periods))
    if keys is None:
        log.info("first load keeps stop_periods' foreign keys (their tables were not free within %s)", dialect.DDL_LOCK_WAIT)
        return []
    return keys
