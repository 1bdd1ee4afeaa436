"""``spend_days``: the recipients' spend per account, day, country and currency, kept exact by its writers.

Why a rollup: ``spend_daily`` aggregated every recipient of the day it was asked for, 0.9-1.75 s for one day on
large data (issue 20); the rollup row is one key seek (docs/benchmarks.md, "spend_by_day").

Exact, not eventually: every statement that changes a recipient's ``cost``, ``currency`` or ``country`` runs
inside a `SpendMove` of the same recipients, in the same transaction (`etl.db.rollup`: minus what they count for
before, plus what they count for after, one ordered upsert of the difference), so a late cost (NULL to a value),
a corrected one and a currency or country that changes all move the right rows; a recipient with no cost counts
nowhere. Recipients are never deleted and their ``sent_day`` never changes after insert (`etl.tracking`).

`rebuild` recomputes every row from the recipients (after a bulk import that went around the jobs).
"""

from __future__ import annotations

from sqlalchemy import ColumnElement, Connection, Select, func, literal_column, select

from etl.db.rollup import Move, Rollup
from etl.db.schema import recipients, spend_days

__all__ = ["SpendMove", "rebuild"]

KEY = ("account_id", "sent_day", "country", "currency")


def _contributions(ids: Select[tuple[int]] | None, sign: int) -> Select[tuple[object, ...]]:
    """What the recipients (``ids``; all when None) count for per key now, times ``sign``."""
    r = recipients.c
    # Literal text, not bound values: PostgreSQL matches the GROUP BY to the SELECT list by expression.
    none: ColumnElement[str] = literal_column("''")
    times: ColumnElement[int] = literal_column(str(int(sign)))
    key = (r.account_id, r.sent_day, func.coalesce(r.country, none), func.coalesce(r.currency, none))
    query = select(*key, times * func.count(), times * func.sum(r.cost)).where(r.cost.is_not(None))
    if ids is not None:
        query = query.where(r.id.in_(ids))
    return query.group_by(*key)


class SpendMove(Move):
    """One write of recipients' costs: ``take`` before it, ``give`` after it (same ``ids``, same transaction)."""

    rollup = Rollup(spend_days, KEY, ("recipients", "spend"), _contributions)


def rebuild(conn: Connection) -> None:
    """Every row again from the recipients, inside the caller's transaction."""
    SpendMove.rollup.rebuild(conn)
