"""The download, streamed into a session-private staging table, restarted within one retry budget.
"""

from __future__ import annotations

from collections.abc import Iterator
from operator import lt
from typing import Any, NamedTuple

from sqlalchemy import (
    BigInteger,
    Column,
    Connection,
    String,
    Table,
    select,
)
from sqlalchemy.exc import IntegrityError

from etl.api import retry, stoprows
from etl.api.lists import STOP_LIST
from etl.db import dialect
from etl.db.schema import stop_periods
from etl.db.types import UtcDateTime
from etl.errors import PayloadError
from etl.jobs.base import JobContext
from etl.jobs.stops.diff import _PHONE_RAW_WIDTH
from etl.jobs.stops.unreadable import ENDPOINT, _Unreadable

_WIDTH = 4  # values per stop in a run: the staging table's columns


def _staging_table() -> Table:
    return dialect.temp_table(
        "stage_stops",
        Column("api_stop_id", BigInteger, nullable=False),
        Column("phone_e164", String(16)),
        Column("phone_raw", String(_PHONE_RAW_WIDTH), nullable=False),
        Column("api_created_at", UtcDateTime()),
    )


def _runs(ctx: JobContext, utc_suffix: str, unreadable: _Unreadable, budget: retry.RetryBudget) -> Iterator[list[int | str | None]]:
    # Flat runs of the staging table's four columns, dates as UTC text, ~12,000 stops a run: no
    # record, no datetime and no tuple handed through a generator per stop (etl.api.stoprows).
    shaper = stoprows.run_shaper(utc_suffix, max_raw=_PHONE_RAW_WIDTH, on_unreadable=unreadable)
    return ctx.client.stream_list(STOP_LIST, shaper, budget=budget)


class _IdOrder:
    """Watches the ids streaming into the stage: ids that only ever grow cannot repeat, so the
    staged list needs no unique index to prove it (docs/benchmarks.md, "Design figures", S8), and PostgreSQL can merge it with the
    open periods in id order. The API (and the simulator) lists by id; a list in any other order
    is checked by the index as before."""

    def __init__(self) -> None:
        self.ascending = True

    def watch(self, runs: Iterator[list[Any]]) -> Iterator[list[Any]]:
        self.ascending = True
        last = None
        for run in runs:
            if self.ascending and run:
                ids = run[::_WIDTH]
                if (last is not None and ids[0] <= last) or not all(map(lt, ids, ids[1:])):
                    self.ascending = False  # no more checks: the index will decide
                last = ids[-1]
            yield run


def _stage(ctx: JobContext, conn: Connection, stage: Table, order: _IdOrder) -> tuple[int, _Unreadable]:
    """Download the list into ``stage``; restart the download after a fault mid-stream.

    The restarts and the retries of each download's start spend one budget (`etl.api.retry`).
    Each attempt runs in a savepoint: on PostgreSQL a ``COPY`` cut short aborts the transaction,
    so the rows of a broken attempt are rolled back to the savepoint, not deleted.
    """
    budget = ctx.client.retry_budget()
    for attempt in retry.build_restarting(budget, endpoint=ENDPOINT):
        with attempt:
            unreadable = _Unreadable()  # a broken attempt's entries are met again
            savepoint = conn.begin_nested()
            try:
                staged = _bulk_load(conn, stage, order.watch(_runs(ctx, dialect.utc_text_suffix(conn), unreadable, budget)))
            except BaseException:
                savepoint.rollback()
                raise
            savepoint.commit()
    return staged, unreadable


def _bulk_load(conn: Connection, table: Table, runs: Iterator[list[object]]) -> int:
    """``COPY`` on PostgreSQL; elsewhere multi-row ``INSERT``s of `dialect.VALUES_ROWS` rows each.

    On SQLite that is half the CPU of ``executemany`` with one tuple per row (docs/benchmarks.md, "Design figures", S9).
    """
    return dialect.bulk_load_runs(conn, table, runs)


class _Staged(NamedTuple):
    """What `_load` staged: how many entries, whether their ids ascended (so none repeats),
    whether the stage's id index was built, and the entries that could not be read."""

    rows: int
    ascending: bool
    indexed: bool
    unreadable: _Unreadable


def _load(ctx: JobContext, conn: Connection, stage: Table) -> _Staged:
    """Stream the list into ``stage`` and index its ids where needed; refuses a repeated id.

    The unique id index rules out repeats, which ids that ascend cannot have. SQLite and MariaDB
    also look ids up in it, in a re-sync's scan for vanished ids: built here, in the first
    transaction, SQLite's sort for it does not add to the page cache the diff fills later
    (docs/benchmarks.md, "Design figures", S10). So it is built when the ids do not ascend, or on SQLite/MariaDB when open periods
    exist (a re-sync, not a first load); PostgreSQL merges or hashes and never needs it for that.
    """
    dialect.create_temp(conn, stage)
    order = _IdOrder()
    resync = not dialect.hash_joins(conn) and _has_open_periods(conn, ctx.account.id)
    staged, unreadable = _stage(ctx, conn, stage, order=order)
    indexed = not order.ascending or resync
    if indexed:
        _index_stage(conn, stage)
    # No early exit on shutdown here: the whole sync is one batch, and once the list is downloaded
    # finishing it takes seconds (the daemon's shutdown_timeout bounds it; past that, the
    # transaction is rolled back by the process exit).
    return _Staged(staged, order.ascending, indexed, unreadable)


def _has_open_periods(conn: Connection, account: int) -> bool:
    p = stop_periods
    return conn.execute(select(p.c.id).where(p.c.account_id == account, p.c.removed_at.is_(None)).limit(1)).first() is not None


def _index_stage(conn: Connection, stage: Table) -> None:
    """The stage's unique id index; refuses a list with a repeated id."""
    try:
        dialect.index_temp(conn, stage, "api_stop_id", unique=True)
    except IntegrityError:
        raise _repeated_id() from None


def _repeated_id() -> PayloadError:
    return PayloadError("the list holds the same stop id twice", endpoint="stop-sms/list", field="data[].id")
