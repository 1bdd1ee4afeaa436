"""The staged list against the open periods: new, changed and gone entries collected into a small
table, the guard, then one write per kind of change.
"""

from __future__ import annotations

from contextlib import nullcontext
from datetime import datetime
from typing import Any

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    Connection,
    String,
    Table,
    and_,
    exists,
    func,
    insert,
    literal,
    or_,
    select,
    update,
)
from sqlalchemy.sql.expression import ColumnElement, Executable

from etl.db import dialect
from etl.db.schema import stop_periods
from etl.db.types import UtcDateTime
from etl.errors import SyncRefused
from etl.jobs.base import JobContext

_PHONE_RAW_WIDTH = 64  # stop_periods.phone_raw


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


def _collect_listed(conn: Connection, stage: Table, diff: Table, account: int) -> int:
    """One pass over the list: each entry with no open period, or whose open period's values
    changed, goes to ``diff``; returns how many entries have no open period (new)."""
    p, s = stop_periods, stage.c
    listed = stage.outerjoin(p, and_(p.c.account_id == account, p.c.api_stop_id == s.api_stop_id, p.c.removed_at.is_(None)))
    conn.execute(
        insert(diff).from_select(
            _DIFF_COLUMNS,
            select(p.c.id, s.api_stop_id, literal(False), s.phone_e164, s.phone_raw, s.api_created_at)
            .select_from(listed)
            .where(or_(p.c.id.is_(None), _changed(s, p.c))),
        )
    )
    return _count(conn, diff, diff.c.period_id.is_(None))


def _collect_all(conn: Connection, stage: Table, diff: Table, ascending: bool, account: int) -> int:
    """PostgreSQL: new, changed and gone from one full join of the list with the open periods
    (cheaper than a separate pass for gone ids); returns how many open periods are gone.

    A list staged in id order is merged with the open periods read in id order from their unique
    index, faster than hashing (docs/benchmarks.md, "Design figures", S5). The planner cannot know the stage is sorted (it prices
    the sort as if it were not), so hash joins are ruled out for this one statement.
    """
    p, s = stop_periods, stage.c
    listed_open = (
        select(p.c.id, p.c.api_stop_id, p.c.phone_e164, p.c.phone_raw, p.c.api_created_at)
        .where(p.c.account_id == account, p.c.removed_at.is_(None), p.c.api_stop_id.is_not(None))
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


def _collect_gone(conn: Connection, stage: Table, diff: Table, account: int) -> None:
    """Open periods whose API id is not in the list go to ``diff`` as ``gone`` (pushed periods,
    with no API id, are never closed by a sync)."""
    p, s = stop_periods, stage.c
    conn.execute(
        insert(diff).from_select(
            ["period_id", "gone"],
            select(p.c.id, literal(True)).where(
                p.c.account_id == account,
                p.c.removed_at.is_(None),
                p.c.api_stop_id.is_not(None),
                ~exists().where(s.api_stop_id == p.c.api_stop_id),
            ),
        )
    )


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


def _write_diff(ctx: JobContext, conn: Connection, diff: Table, now: datetime, previous: datetime) -> tuple[int, int, int]:
    """Open the new periods, correct the changed ones, close the gone ones; (added, changed, removed).

    ``diff`` is small (a 1 % churn: ~10,000 rows of 1,000,000), so each write goes by key.
    """
    p, d = stop_periods, diff.c
    added = _open_periods(ctx, conn, diff, now, d.period_id.is_(None))
    dialect.index_temp(conn, diff, "period_id", unique=True)
    # Without statistics PostgreSQL plans the updates below for a diff of any size: a hash join
    # over all of stop_periods instead of key lookups (docs/benchmarks.md, "Design figures", S6).
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
        literal(ctx.account.id, BigInteger()),
    )
    columns = [
        "api_stop_id", "phone_e164", "phone_raw", "api_created_at", "first_seen_at", "source", "opened_by_run_id", "account_id",
    ]
    return _rowcount(conn, insert(stop_periods).from_select(columns, rows if where is None else rows.where(where)))


def _rowcount(conn: Connection, statement: Executable) -> int:
    """Rows an ``INSERT ... SELECT`` wrote (psycopg reports -1 unless asked to keep the count)."""
    return int(conn.execute(statement.execution_options(preserve_rowcount=True)).rowcount)
