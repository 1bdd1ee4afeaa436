"""Stop-list sync: the API's whole STOP list → `stop_periods`, as history, in one transaction.

The API has no paging and no "since" filter (REFERENCE §3.10, quirk 23), so every sync reads the
whole list. It is streamed (bounded memory for 1,000,000 entries) into a session-private staging
table, then the difference is applied set-based, one statement per kind of change:

- an API id with no open period opens one (a number back after removal opens a *new* period);
- a STOP pushed by callback (no API id yet) is adopted by the list entry with the same number;
- an open period whose number or ``createdAt`` changed is corrected in place;
- an open period whose id vanished from the list is closed (``removed_how='api_missing'``).

The few rows that differ are collected first, then written by key. SQLite and MariaDB find the
new and changed entries in one pass over the list and count the rest: the open periods are scanned
for vanished ids only when the counts say some vanished. PostgreSQL finds all three kinds in one
full join (a merge join when the list came in id order, as the API sends it). A first load into an
empty table builds the indexes (and on PostgreSQL the foreign keys) after the rows.

Unchanged rows are not written. Everything, and the run's `sync_runs` row, commits in one
transaction: a failure anywhere (HTTP fault after retries, malformed answer, DB error, SIGKILL)
leaves the previous state exactly as it was.

The guard: an empty list, or one that would close more than ``stops.max_removed_share`` of the
open periods, is refused with `SyncRefused` unless forced — an empty answer from a broken API
must never "remove" every opt-out.

An entry that cannot be read is quarantined (`etl.quarantine`, issue 16), and read fail-closed
(`_Unreadable`): with its id and number readable it is still a stop (its date NULL,
``created_at_unreadable`` set); a removal is never inferred from it (its id's or number's open
period stays open, and an entry naming nothing readable holds back every removal of the run); a
number readable without its id opens a period with no API id, which a later readable entry
adopts. The run then ends ``partial``.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Iterator
from contextlib import nullcontext
from datetime import datetime
from itertools import chain
from operator import lt
from typing import Any, NamedTuple

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    Connection,
    String,
    Table,
    and_,
    delete,
    exists,
    func,
    insert,
    literal,
    or_,
    select,
    update,
)
from sqlalchemy.exc import IntegrityError
from sqlalchemy.sql.expression import ColumnElement, Executable

from etl import quarantine, runlog
from etl.api import retry, stoprows
from etl.db import dialect
from etl.db.schema import stop_periods
from etl.db.types import UtcDateTime, utc_text_suffix
from etl.errors import PayloadError, SyncRefused
from etl.jobs.base import JobContext, RunResult

log = logging.getLogger(__name__)

NAME = "stops"
ENDPOINT = "stop-sms/list"
_PHONE_RAW_WIDTH = 64  # stop_periods.phone_raw
#: SQLite page cache for the sync's connection (default ~2 MB). stop_periods' phone index takes
#: random insertions; with the default cache each one went to the OS: a 1,000,000-row first load
#: spent ~25 s (wall, loaded machine) in one INSERT ... SELECT instead of ~7 s.
_SQLITE_CACHE_MB = 48
#: PostgreSQL work_mem for the sync's transaction (server memory): the diff sorts or hashes the
#: staged list (~110 MB for 1,000,000 stops; with 64 MB the sort went to disk, 0.44 -> 0.57 s, and
#: with the default 4 MB the hash join spilled in 8 batches).
_WORK_MEM_MB = 128


def _staging_table() -> Table:
    return dialect.temp_table(
        "stage_stops",
        Column("api_stop_id", BigInteger, nullable=False),
        Column("phone_e164", String(16)),
        Column("phone_raw", String(_PHONE_RAW_WIDTH), nullable=False),
        Column("api_created_at", UtcDateTime()),
    )


class _Unreadable:
    """The entries of one download that could not be read, and what they hold back (fail-closed).

    Called by the parser for each entry it refuses (`etl.api.stoprows.OnUnreadable`): returns the
    row that still stands for it (id and number readable: a stop, dated NULL), or ``None``.
    """

    def __init__(self) -> None:
        self.rejections: list[quarantine.Rejection] = []
        #: Ids staged with an unreadable date.
        self.undated: list[int] = []
        #: Ids and numbers of entries left out: their open periods must not close.
        self.held_ids: set[int] = set()
        self.held_numbers: set[str] = set()
        #: Numbers readable without their id: (e164, raw), opened with no API id if not open.
        self.idless: dict[str, str] = {}
        #: Entries naming nothing readable: while any, no period may close.
        self.blind = 0

    def __call__(self, item: object, error: PayloadError) -> stoprows.StopRow | None:
        found = stoprows.salvage(item, ENDPOINT)
        if found.is_stop:
            assert found.stop_id is not None and found.phone_raw is not None
            self.undated.append(found.stop_id)
            self._reject(item, f"{error}; kept as a stop, its date unreadable", str(found.stop_id))
            return (found.stop_id, found.phone_e164, found.phone_raw, None)
        if found.stop_id is not None:
            self.held_ids.add(found.stop_id)
            self._reject(item, str(error), str(found.stop_id))
        elif found.phone_e164 is not None and found.phone_raw is not None:
            self.held_numbers.add(found.phone_e164)
            self.idless.setdefault(found.phone_e164, found.phone_raw[:_PHONE_RAW_WIDTH])
            self._reject(item, f"{error}; its number is kept as a stop", found.phone_e164)
        else:
            self.blind += 1
            self._reject(item, f"{error}; no stop closes this run", found.phone_raw)
        return None

    def _reject(self, item: object, reason: str, ref: str | None) -> None:
        self.rejections.append(quarantine.Rejection(ENDPOINT, item, reason, "stop", ref))

    @property
    def left_out(self) -> int:
        """Entries of the list not staged."""
        return len(self.rejections) - len(self.undated)

    @property
    def holds(self) -> bool:
        return bool(self.held_ids or self.held_numbers or self.blind)


def _runs(ctx: JobContext, backend_name: str, unreadable: _Unreadable, budget: retry.RetryBudget) -> Iterator[list[object]]:
    # Flat runs of the staging table's four columns, dates as UTC text, ~12,000 stops a run: no
    # record, no datetime and no tuple handed through a generator per stop (etl.api.stoprows).
    return ctx.client.iter_stop_runs(
        utc_text_suffix(backend_name), max_raw=_PHONE_RAW_WIDTH, on_unreadable=unreadable, budget=budget
    )


_WIDTH = 4  # values per stop in a run: the staging table's columns


class _IdOrder:
    """Watches the ids streaming into the stage: ids that only ever grow cannot repeat, so the
    staged list needs no unique index to prove it (0.17 s on SQLite, 0.2-0.5 s on PostgreSQL for
    1,000,000 ids), and PostgreSQL can merge it with the open periods in id order. The API (and
    the simulator) lists by id; a list in any other order is checked by the index as before."""

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
    backend_name = dialect.backend(conn)
    budget = ctx.client.retry_budget()
    for attempt in retry.build_restarting(budget, endpoint=ENDPOINT):
        with attempt:
            unreadable = _Unreadable()  # a broken attempt's entries are met again
            savepoint = conn.begin_nested()
            try:
                staged = _bulk_load(conn, stage, order.watch(_runs(ctx, backend_name, unreadable, budget)))
            except BaseException:
                savepoint.rollback()
                raise
            savepoint.commit()
    return staged, unreadable


def _bulk_load(conn: Connection, table: Table, runs: Iterator[list[object]]) -> int:
    """``COPY`` on PostgreSQL; elsewhere multi-row ``INSERT``s of `dialect.VALUES_ROWS` rows each.

    On SQLite that is half the CPU of ``executemany`` with one tuple per row (1,000,000 stops:
    1.9-2.2 s -> 0.8-1.1 s).
    """
    if dialect.backend(conn) == "postgresql":
        rows = chain.from_iterable(zip(*[iter(run)] * _WIDTH) for run in runs)
        return dialect.bulk_load(conn, table, rows)
    step = dialect.VALUES_ROWS * _WIDTH
    pieces = (run[start : start + step] for run in runs for start in range(0, len(run), step))
    return dialect.bulk_load_fields(conn, table, pieces)


def _check_guard(ctx: JobContext, listed: int, open_count: int, to_close: int) -> None:
    if ctx.force or open_count == 0:
        return
    if listed == 0:
        raise SyncRefused(
            f"the API returned an empty stop list while {open_count} stops are open; "
            "refusing to close them all (use --force if the account's list really is empty)"
        )
    share = to_close / open_count
    if share > ctx.config.stops.max_removed_share:
        raise SyncRefused(
            f"this sync would close {to_close} of {open_count} open stops ({share:.0%}), more than "
            f"stops.max_removed_share={ctx.config.stops.max_removed_share:.0%}; refusing "
            "(use --force if this is expected)"
        )


def run(ctx: JobContext) -> RunResult:
    stage = _staging_table()
    with ctx.engine.connect() as conn:
        if dialect.backend(conn) != "sqlite":
            with conn.begin():
                dialect.transaction_work_mem(conn, _WORK_MEM_MB)
                loaded = _load(ctx, conn, stage)
                return _apply(ctx, conn, stage, loaded)
        # SQLite: the download is staged in a transaction that writes only the connection's temp
        # database, so it holds no lock on the main file (other jobs keep writing meanwhile); the
        # diff then runs in a BEGIN IMMEDIATE transaction. Atomicity is unchanged: the first
        # transaction wrote nothing any other connection can see.
        conn.execution_options(sqlite_immediate=False)
        try:
            with dialect.sqlite_cache(conn, _SQLITE_CACHE_MB):
                with conn.begin():
                    loaded = _load(ctx, conn, stage)
                conn.execution_options(sqlite_immediate=True)
                with conn.begin():
                    return _apply(ctx, conn, stage, loaded)
        finally:
            # The connection is closed after the sync, not pooled: the staged list goes with its
            # temporary database. Dropping the table walked its pages: 0.2-0.4 s for 1,000,000
            # rows, against ~0.05 s to close.
            conn.detach()


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
    transaction, SQLite's sort for it does not add to the page cache the diff fills later (built
    after the diff: +35 MB peak RSS, and 0.27 s instead of 0.17 s in one timed run). So it is built when the ids do
    not ascend, or on SQLite/MariaDB when open periods exist (a re-sync, not a first load:
    0.17 s saved there); PostgreSQL merges or hashes and never needs it for that.
    """
    dialect.create_temp(conn, stage)
    order = _IdOrder()
    resync = dialect.backend(conn) != "postgresql" and _has_open_periods(conn)
    staged, unreadable = _stage(ctx, conn, stage, order=order)
    indexed = not order.ascending or resync
    if indexed:
        _index_stage(conn, stage)
    # No early exit on shutdown here: the whole sync is one batch, and once the list is downloaded
    # finishing it takes seconds (the daemon's shutdown_timeout bounds it; past that, the
    # transaction is rolled back by the process exit).
    return _Staged(staged, order.ascending, indexed, unreadable)


def _has_open_periods(conn: Connection) -> bool:
    p = stop_periods
    return conn.execute(select(p.c.id).where(p.c.removed_at.is_(None)).limit(1)).first() is not None


def _index_stage(conn: Connection, stage: Table) -> None:
    """The stage's unique id index; refuses a list with a repeated id."""
    try:
        dialect.index_temp(conn, stage, "api_stop_id", unique=True)
    except IntegrityError:
        raise _repeated_id() from None


def _repeated_id() -> PayloadError:
    return PayloadError("the list holds the same stop id twice", endpoint="stop-sms/list", field="data[].id")


def _diff_table() -> Table:
    """What a re-sync changes: listed ids with no open period (``period_id`` NULL), open periods
    whose values changed (the listed values), and open periods whose id is gone (``gone``)."""
    return dialect.temp_table(
        "stage_stop_diff",
        Column("period_id", BigInteger),
        Column("api_stop_id", BigInteger),
        Column("gone", Boolean, nullable=False),
        Column("phone_e164", String(16)),
        Column("phone_raw", String(_PHONE_RAW_WIDTH)),
        Column("api_created_at", UtcDateTime()),
    )


_DIFF_COLUMNS = ["period_id", "api_stop_id", "gone", "phone_e164", "phone_raw", "api_created_at"]


def _changed(s: Any, p: Any) -> ColumnElement[bool]:
    """A listed entry's values differ from its open period's."""
    return or_(
        s.phone_e164.is_distinct_from(p.phone_e164),
        s.phone_raw != p.phone_raw,
        s.api_created_at.is_distinct_from(p.api_created_at),
    )


def _collect_listed(conn: Connection, stage: Table, diff: Table) -> int:
    """One pass over the list: each entry with no open period, or whose open period's values
    changed, goes to ``diff``; returns how many entries have no open period (new)."""
    p, s = stop_periods, stage.c
    listed = stage.outerjoin(p, and_(p.c.api_stop_id == s.api_stop_id, p.c.removed_at.is_(None)))
    conn.execute(
        insert(diff).from_select(
            _DIFF_COLUMNS,
            select(p.c.id, s.api_stop_id, literal(False), s.phone_e164, s.phone_raw, s.api_created_at)
            .select_from(listed)
            .where(or_(p.c.id.is_(None), _changed(s, p.c))),
        )
    )
    return _count(conn, diff, diff.c.period_id.is_(None))


def _collect_all(conn: Connection, stage: Table, diff: Table, ascending: bool) -> int:
    """PostgreSQL: new, changed and gone from one full join of the list with the open periods
    (the separate pass for gone ids cost ~1.5 s more on a 1 % churn); returns how many open
    periods are gone.

    A list staged in id order is merged with the open periods read in id order from their unique
    index: 1,000,000 stops 0.77-0.87 s as a hash join, 0.44 s merged. The planner cannot know the
    stage is sorted (it prices the sort as if it were not), so hash joins are ruled out for this
    one statement.
    """
    p, s = stop_periods, stage.c
    listed_open = (
        select(p.c.id, p.c.api_stop_id, p.c.phone_e164, p.c.phone_raw, p.c.api_created_at)
        .where(p.c.removed_at.is_(None), p.c.api_stop_id.is_not(None))
        .subquery()
    )
    o = listed_open.c
    both = stage.outerjoin(listed_open, o.api_stop_id == s.api_stop_id, full=True)
    with dialect.without_hash_joins(conn) if ascending else nullcontext():
        conn.execute(
            insert(diff).from_select(
                _DIFF_COLUMNS,
                select(o.id, s.api_stop_id, s.api_stop_id.is_(None), s.phone_e164, s.phone_raw, s.api_created_at)
                .select_from(both)
                .where(or_(o.id.is_(None), s.api_stop_id.is_(None), _changed(s, o))),
            )
        )
    return _count(conn, diff, diff.c.gone.is_(True))


def _count(conn: Connection, table: Table, condition: ColumnElement[bool]) -> int:
    return int(conn.execute(select(func.count()).select_from(table).where(condition)).scalar_one())


def _collect_gone(conn: Connection, stage: Table, diff: Table) -> None:
    """Open periods whose API id is not in the list go to ``diff`` as ``gone`` (pushed periods,
    with no API id, are never closed by a sync)."""
    p, s = stop_periods, stage.c
    conn.execute(
        insert(diff).from_select(
            ["period_id", "gone"],
            select(p.c.id, literal(True)).where(
                p.c.removed_at.is_(None),
                p.c.api_stop_id.is_not(None),
                ~exists().where(s.api_stop_id == p.c.api_stop_id),
            ),
        )
    )


def _write_diff(ctx: JobContext, conn: Connection, diff: Table, now: datetime, previous: datetime) -> tuple[int, int, int]:
    """Open the new periods, correct the changed ones, close the gone ones; (added, changed, removed).

    ``diff`` is small (a 1 % churn: ~10,000 rows of 1,000,000), so each write goes by key.
    """
    p, d = stop_periods, diff.c
    added = _open_periods(ctx, conn, diff, now, d.period_id.is_(None))
    dialect.index_temp(conn, diff, "period_id", unique=True)
    # Without statistics PostgreSQL plans the updates below for a diff of any size: a hash join
    # over all of stop_periods (0.2 s for 5,000 closed of 1,000,000) instead of key lookups.
    dialect.analyze(conn, diff)

    def listed_value(column: Column[object]) -> object:
        return select(column).where(d.period_id == p.c.id).scalar_subquery()

    changed = conn.execute(
        update(p)
        .where(p.c.id.in_(select(d.period_id).where(d.gone.is_(False), d.period_id.is_not(None))))
        .values(
            phone_e164=listed_value(d.phone_e164),
            phone_raw=listed_value(d.phone_raw),
            api_created_at=listed_value(d.api_created_at),
            created_at_unreadable=False,  # a date read now; `_fail_closed` flags the unreadable again
        )
    ).rowcount
    removed = conn.execute(
        update(p)
        .where(p.c.id.in_(select(d.period_id).where(d.gone.is_(True))))
        .values(removed_at=now, removed_how="api_missing", closed_by_run_id=ctx.run_id, last_seen_at=previous)
    ).rowcount
    return added, changed, removed


def _open_periods(
    ctx: JobContext, conn: Connection, listed: Table, now: datetime, where: ColumnElement[bool] | None = None
) -> int:
    """Open a period, seen now by this run, for each row of ``listed`` (the stage or the diff, both
    with the list's columns) matching ``where``; returns how many."""
    c = listed.c
    rows = select(
        c.api_stop_id,
        c.phone_e164,
        c.phone_raw,
        c.api_created_at,
        literal(now, UtcDateTime()),
        literal("sync"),
        literal(ctx.run_id, BigInteger()),
    )
    columns = ["api_stop_id", "phone_e164", "phone_raw", "api_created_at", "first_seen_at", "source", "opened_by_run_id"]
    return _rowcount(conn, insert(stop_periods).from_select(columns, rows if where is None else rows.where(where)))


def _rowcount(conn: Connection, statement: Executable) -> int:
    """Rows an ``INSERT ... SELECT`` wrote (psycopg reports -1 unless asked to keep the count)."""
    return int(conn.execute(statement.execution_options(preserve_rowcount=True)).rowcount)


def _resync(
    ctx: JobContext, conn: Connection, stage: Table, now: datetime, loaded: _Staged, open_counts: tuple[int, int]
) -> tuple[int, int, int]:
    """The diff against open periods; (added, changed, removed). Guarded before anything is written.

    SQLite and MariaDB scan the list once, probing the open periods by id: new and changed
    entries are collected, the others only counted. Unless fewer listed ids were found open than
    the ``open_listed`` open periods hold, none is gone, and the scan of the open periods for ids
    that left is skipped (a no-change re-sync: ~1.0 -> ~0.65 s CPU on SQLite, 1,000,000 stops).
    PostgreSQL gets all three kinds from one full join. ``loaded`` is what `_load` staged (its
    size, whether in id order, whether indexed); ``open_counts`` is (open_count, open_listed).
    """
    staged, held = loaded.rows, loaded.unreadable
    listed = staged + held.left_out
    open_count, open_listed = open_counts
    diff = _diff_table()
    dialect.create_temp(conn, diff)
    if dialect.backend(conn) == "postgresql":
        gone = _collect_all(conn, stage, diff, loaded.ascending)
    else:
        gone = open_listed - (staged - _collect_listed(conn, stage, diff))
        if not held.holds:  # guarded before the scan for gone ids: a refusal skips it
            _check_guard(ctx, listed, open_count, gone)
        if gone:
            if not loaded.indexed:  # a period opened since `_load` looked (one the tool added)
                dialect.index_temp(conn, stage, "api_stop_id")
            _collect_gone(conn, stage, diff)
    if held.holds:
        gone = _hold_back(conn, diff, held)
    if held.holds or dialect.backend(conn) == "postgresql":
        _check_guard(ctx, listed, open_count, gone)
    previous = runlog.last_success(conn, NAME) or now
    result = _write_diff(ctx, conn, diff, now, previous)
    dialect.drop_temp(conn, diff)
    return result


def _chunks(values: Iterable[Any], size: int = 500) -> Iterator[list[Any]]:
    """Bounded ``IN`` lists: a flood of unreadable entries must not build one unbounded statement."""
    items = list(values)
    for start in range(0, len(items), size):
        yield items[start : start + size]


def _hold_back(conn: Connection, diff: Table, held: _Unreadable) -> int:
    """Take out of ``diff`` the gone periods an unreadable entry may stand for; returns the gone left.

    Fail-closed: an entry left out of the stage is not evidence its stop was removed. Its id's or
    number's open period stays open; an entry naming nothing readable could be any of them, so
    then no period closes this run.
    """
    p, d = stop_periods.c, diff.c
    if held.blind:
        conn.execute(delete(diff).where(d.gone.is_(True)))
        return 0
    for column, keys in ((p.api_stop_id, held.held_ids), (p.phone_e164, held.held_numbers)):
        for chunk in _chunks(keys):
            conn.execute(delete(diff).where(d.gone.is_(True), d.period_id.in_(select(p.id).where(column.in_(chunk)))))
    return _count(conn, diff, d.gone.is_(True))


def _keep_stored_dates(conn: Connection, stage: Table, ids: list[int]) -> None:
    """Entries staged with an unreadable date take their open period's stored date: an unreadable
    date is not a change (and must not erase a date read before)."""
    p, s = stop_periods.c, stage.c
    stored = select(p.api_created_at).where(p.api_stop_id == s.api_stop_id, p.removed_at.is_(None)).scalar_subquery()
    for chunk in _chunks(ids):
        conn.execute(update(stage).where(s.api_stop_id.in_(chunk)).values(api_created_at=stored))


def _fail_closed(ctx: JobContext, conn: Connection, unreadable: _Unreadable, now: datetime) -> int:
    """After the diff: flag the periods dated NULL for an unreadable date, open a period (no API
    id, adopted later by a readable entry) for each number read without its id and not open;
    returns how many opened."""
    p = stop_periods.c
    for chunk in _chunks(unreadable.undated):
        conn.execute(
            update(stop_periods)
            .where(p.api_stop_id.in_(chunk), p.removed_at.is_(None), p.api_created_at.is_(None))
            .values(created_at_unreadable=True)
        )
    missing = dict(unreadable.idless)
    for chunk in _chunks(missing):
        for (number,) in conn.execute(select(p.phone_e164).where(p.phone_e164.in_(chunk), p.removed_at.is_(None))):
            missing.pop(number, None)
    if missing:
        conn.execute(
            insert(stop_periods),
            [
                {"phone_e164": e164, "phone_raw": raw, "first_seen_at": now, "source": "sync", "opened_by_run_id": ctx.run_id}
                for e164, raw in missing.items()
            ],
        )
    return len(missing)


def _adopt_pushed(conn: Connection, stage: Table) -> int:
    """A pushed STOP (no API id yet) is adopted by the list entry with the same number.

    (The receiver never pushes a number that already has an open period, so the adopted id cannot
    collide with another open period.) Skipped, index and all, when none is waiting.
    """
    p, s = stop_periods, stage.c
    waiting = (p.c.removed_at.is_(None), p.c.api_stop_id.is_(None), p.c.phone_e164.is_not(None))
    if conn.execute(select(p.c.id).where(*waiting).limit(1)).first() is None:
        return 0
    dialect.index_temp(conn, stage, "phone_e164")
    adopt_id = select(func.min(s.api_stop_id)).where(s.phone_e164 == p.c.phone_e164).scalar_subquery()
    return int(
        conn.execute(
            update(p).where(*waiting, exists().where(s.phone_e164 == p.c.phone_e164)).values(api_stop_id=adopt_id)
        ).rowcount
    )


def _load_all(ctx: JobContext, conn: Connection, stage: Table, now: datetime) -> int:
    """Nothing open: every listed id opens a period (no anti-join).

    Into an empty table (SQLite, PostgreSQL) the indexes are built after the rows, not row by row,
    and on PostgreSQL the foreign keys too (`_drop_keys_if_free`). The partial unique index then
    refuses a repeated id. The download is staged first, so the locks this takes last for the
    database work only, not the download.
    """
    p = stop_periods
    rebuild = dialect.backend(conn) in dialect.METADATA_INDEXES and conn.execute(select(p.c.id).limit(1)).first() is None
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

    Each key is one trigger call per inserted row: 1,000,000 rows took 17.1-17.8 s with them and
    10.3 s without (rolled-back A/B), adding them back ~0.5 s. Dropping a key locks its table
    (``sync_runs``, ``write_actions``: ACCESS EXCLUSIVE) until commit, so other sessions wait for
    the few seconds of the load; behind a long transaction on them the load keeps its keys
    instead of queueing every other reader behind it.
    """
    if dialect.backend(conn) not in dialect.ALTERABLE_CONSTRAINTS:
        return []
    keys = dialect.within_lock_wait(conn, lambda: dialect.drop_constraints(conn, stop_periods))
    if keys is None:
        log.info("first load keeps stop_periods' foreign keys (their tables were not free within %s)", dialect.DDL_LOCK_WAIT)
        return []
    return keys


def _apply(ctx: JobContext, conn: Connection, stage: Table, loaded: _Staged) -> RunResult:
    """The set-based diff, the guard and the run row, inside the caller's transaction."""
    p = stop_periods
    staged = loaded.rows
    now = ctx.now()
    open_count, open_listed = conn.execute(
        select(func.count(), func.count(p.c.api_stop_id)).select_from(p).where(p.c.removed_at.is_(None))
    ).one()
    unreadable = loaded.unreadable
    if unreadable.undated and open_count:
        _keep_stored_dates(conn, stage, unreadable.undated)
    adopted = _adopt_pushed(conn, stage)
    if open_count:
        added, changed, removed = _resync(ctx, conn, stage, now, loaded, (open_count, open_listed + adopted))
    else:
        added, changed, removed = _load_all(ctx, conn, stage, now), 0, 0
    if unreadable.rejections:
        added += _fail_closed(ctx, conn, unreadable, now)
        quarantine.record(conn, unreadable.rejections, now, run_id=ctx.run_id, secrets=ctx.secrets)
    if dialect.backend(conn) != "sqlite":
        dialect.drop_temp(conn, stage)
    counts = RunResult(added=added, changed=changed + adopted, removed=removed)
    return _finish(ctx, conn, counts, staged=staged, open_count=open_count, adopted=adopted, unreadable=unreadable)


def _finish(
    ctx: JobContext, conn: Connection, counts: RunResult, *, staged: int, open_count: int, adopted: int, unreadable: _Unreadable
) -> RunResult:
    """The run's result, with its detail and figures, written to its `sync_runs` row."""
    p = stop_periods
    invalid = conn.execute(
        select(func.count()).select_from(p).where(p.c.removed_at.is_(None), p.c.phone_e164.is_(None))
    ).scalar_one()
    detail = f"list={staged} open_before={open_count}" + (f" unparseable_numbers={invalid}" if invalid else "")
    rejected = len(unreadable.rejections)
    if rejected:
        held = " no removal this run (an entry names nothing readable)" if unreadable.blind else ""
        detail = f"{quarantine.summary(rejected)}; {detail}{held}"
    result = RunResult(
        added=counts.added,
        changed=counts.changed,
        removed=counts.removed,
        outcome="partial" if rejected else "success",
        detail=detail,
        figures={"list_size": staged, "adopted_pushed": adopted, "quarantined": rejected},
    )
    runlog.finish_run(conn, ctx.run_id, result, ctx.now())
    return result
