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
from datetime import datetime

from sqlalchemy import Connection, Table, exists, func, select, update

from etl import quarantine, runlog
from etl.db import dialect
from etl.db.schema import stop_periods
from etl.jobs.base import JobContext, Outcome, RunResult
from etl.jobs.stops.diff import _check_guard, _collect_all, _collect_gone, _collect_listed, _diff_table, _write_diff
from etl.jobs.stops.first_load import _load_all
from etl.jobs.stops.stage import _IdOrder as _IdOrder
from etl.jobs.stops.stage import _load, _Staged, _staging_table
from etl.jobs.stops.unreadable import ENDPOINT, _fail_closed, _hold_back, _keep_stored_dates, _Unreadable

__all__ = ["ENDPOINT", "NAME", "run"]

log = logging.getLogger(__name__)

NAME = "stops"

#: SQLite page cache for the sync's connection (default ~2 MB): stop_periods' phone index takes
#: random insertions, which the default cache sends to the OS one by one (docs/benchmarks.md, "Design figures", S1).
_SQLITE_CACHE_MB = 48
#: PostgreSQL work_mem for the sync's transaction (server memory): the diff sorts or hashes the
#: whole staged list, which must not spill to disk (docs/benchmarks.md, "Design figures", S2).
_WORK_MEM_MB = 128


def run(ctx: JobContext) -> RunResult:
    stage = _staging_table()
    with ctx.engine.connect() as conn:
        # Staged, then applied: in one transaction, or on SQLite staged without the write lock
        # (`etl.db.backends`, `Backend.stage_then_apply`; docs/benchmarks.md, "Design figures", S3).
        return dialect.stage_then_apply(
            conn,
            lambda: _load(ctx, conn, stage),
            lambda loaded: _apply(ctx, conn, stage, loaded),
            cache_mb=_SQLITE_CACHE_MB,
            work_mem_mb=_WORK_MEM_MB,
        )


def _apply(ctx: JobContext, conn: Connection, stage: Table, loaded: _Staged) -> RunResult:
    """The set-based diff, the guard and the run row, inside the caller's transaction."""
    p = stop_periods
    staged = loaded.rows
    now = ctx.now()
    account = ctx.account.id
    open_count, open_listed = conn.execute(
        select(func.count(), func.count(p.c.api_stop_id)).select_from(p).where(p.c.account_id == account, p.c.removed_at.is_(None))
    ).one()
    unreadable = loaded.unreadable
    if unreadable.undated and open_count:
        _keep_stored_dates(conn, stage, unreadable.undated, account)
    adopted = _adopt_pushed(conn, stage, account)
    if open_count:
        added, changed, removed = _resync(ctx, conn, stage, now, loaded, (open_count, open_listed + adopted))
    else:
        added, changed, removed = _load_all(ctx, conn, stage, now), 0, 0
    if unreadable.rejections:
        added += _fail_closed(ctx, conn, unreadable, now)
        quarantine.record(conn, unreadable.rejections, now, run_id=ctx.run_id, secrets=ctx.secrets, account_id=ctx.account.id)
    dialect.drop_stage(conn, stage)
    counts = RunResult(added=added, changed=changed + adopted, removed=removed)
    return _finish(ctx, conn, counts, staged=staged, open_count=open_count, adopted=adopted, unreadable=unreadable)


def _resync(
    ctx: JobContext, conn: Connection, stage: Table, now: datetime, loaded: _Staged, open_counts: tuple[int, int]
) -> tuple[int, int, int]:
    """The diff against open periods; (added, changed, removed). Guarded before anything is written.

    SQLite and MariaDB scan the list once, probing the open periods by id: new and changed
    entries are collected, the others only counted. Unless fewer listed ids were found open than
    the ``open_listed`` open periods hold, none is gone, and the scan of the open periods for ids
    that left is skipped (docs/benchmarks.md, "Design figures", S4).
    PostgreSQL gets all three kinds from one full join. ``loaded`` is what `_load` staged (its
    size, whether in id order, whether indexed); ``open_counts`` is (open_count, open_listed).
    """
    staged, held = loaded.rows, loaded.unreadable
    listed = staged + held.left_out
    open_count, open_listed = open_counts
    diff = _diff_table()
    dialect.create_temp(conn, diff)
    if dialect.hash_joins(conn):  # one full join is cheap only where large joins hash
        gone = _collect_all(conn, stage, diff, loaded.ascending, ctx.account.id)
        if held.holds:
            gone = _hold_back(conn, diff, held, ctx.account.id)
        _check_guard(ctx, listed, open_count, gone)
    else:
        gone = open_listed - (staged - _collect_listed(conn, stage, diff, ctx.account.id))
        if not held.holds:  # guarded before the scan for gone ids: a refusal skips it
            _check_guard(ctx, listed, open_count, gone)
        if gone:
            if not loaded.indexed:  # a period opened since `_load` looked (one the tool added)
                dialect.index_temp(conn, stage, "api_stop_id")
            _collect_gone(conn, stage, diff, ctx.account.id)
        if held.holds:
            gone = _hold_back(conn, diff, held, ctx.account.id)
            _check_guard(ctx, listed, open_count, gone)
    previous = runlog.last_success(conn, NAME, ctx.account.id) or now
    result = _write_diff(ctx, conn, diff, now, previous)
    dialect.drop_temp(conn, diff)
    return result


def _adopt_pushed(conn: Connection, stage: Table, account: int) -> int:
    """A pushed STOP (no API id yet) is adopted by the list entry with the same number.

    (The receiver never pushes a number that already has an open period, so the adopted id cannot
    collide with another open period.) Skipped, index and all, when none is waiting.
    """
    p, s = stop_periods, stage.c
    waiting = (p.c.account_id == account, p.c.removed_at.is_(None), p.c.api_stop_id.is_(None), p.c.phone_e164.is_not(None))
    if conn.execute(select(p.c.id).where(*waiting).limit(1)).first() is None:
        return 0
    dialect.index_temp(conn, stage, "phone_e164")
    adopt_id = select(func.min(s.api_stop_id)).where(s.phone_e164 == p.c.phone_e164).scalar_subquery()
    return int(
        conn.execute(
            update(p).where(*waiting, exists().where(s.phone_e164 == p.c.phone_e164)).values(api_stop_id=adopt_id)
        ).rowcount
    )


def _finish(
    ctx: JobContext, conn: Connection, counts: RunResult, *, staged: int, open_count: int, adopted: int, unreadable: _Unreadable
) -> RunResult:
    """The run's result, with its detail and figures, written to its `sync_runs` row."""
    p = stop_periods
    invalid = conn.execute(
        select(func.count()).select_from(p).where(p.c.account_id == ctx.account.id, p.c.removed_at.is_(None), p.c.phone_e164.is_(None))
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
        outcome=Outcome.PARTIAL if rejected else Outcome.SUCCESS,
        detail=detail,
        figures={"list_size": staged, "adopted_pushed": adopted, "quarantined": rejected},
    )
    runlog.finish_run(conn, ctx.run_id, result, ctx.now())
    return result
