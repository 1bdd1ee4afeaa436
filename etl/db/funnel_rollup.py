"""``funnel_days``: the recipients' delivery funnel per account, Paris day and send, kept exact by its writers.

Why a rollup: ``status_funnel`` aggregated every recipient it covered, and the console's overview sums it over
30 days at each request: 3.2 s on SQLite and 1.2 s on PostgreSQL with 2.5 M recipients in the window, when the
page's goal is 200 ms p95 (issue 19; docs/benchmarks.md, "Console at scale"). The rollup has a row per send and
day instead of one per recipient.

What a recipient counts for is 0010's ``status_funnel`` per recipient: one in ``recipients``, and one in each of
``delivered`` (status ``delivered``, any case), ``failed`` (final, another status), ``pending`` (neither final
nor expired), ``expired`` (expired, not final) and ``not_found`` (no status, an item code) that holds for it.

Exact, not eventually: every statement that changes a recipient's ``status``, ``final``, ``expired`` or
``item_code``, or inserts recipients, runs inside a `FunnelMove` of the same recipients in the same transaction
(`etl.db.rollup`): the status batches (`etl.jobs.status_apply.apply_statuses`), a cost read's "not found"
(``apply_costs``) and new recipients (`etl.tracking.ingest`). A poll that changes nothing the funnel counts
writes no rollup row. Recipients are never deleted, and their ``sent_day`` and ``send_id`` never change.

Lock order between instances (claimed work, `etl.db.claims`): a batch's statuses move the rollup in one upsert,
in key order, so two batches on the same sends wait for each other at most once, never in a cycle. A cost batch
moves it a second time in the same transaction only for a cost read that finds no pair and gives an item code to a
recipient without a status, and a cost is read only once a recipient has a final status: that move writes no row.

`rebuild` recomputes every row from the recipients (after a bulk import that went around the jobs).
"""

from __future__ import annotations

from sqlalchemy import ColumnElement, Connection, Select, and_, case, false, func, literal_column, select, true

from etl.db.rollup import Move, Rollup
from etl.db.schema import funnel_days, recipients

__all__ = ["COUNTS", "FunnelMove", "rebuild"]

KEY = ("account_id", "sent_day", "send_id")
COUNTS = ("recipients", "delivered", "failed", "pending", "expired", "not_found")


def _conditions() -> tuple[ColumnElement[bool], ...]:
    """When a recipient counts in ``delivered``, ``failed``, ``pending``, ``expired`` and ``not_found`` (0010's view)."""
    r = recipients.c
    delivered = func.lower(r.status) == "delivered"
    return (
        delivered,
        and_(r.final == true(), func.lower(r.status) != "delivered"),
        and_(r.final == false(), r.expired == false()),
        and_(r.expired == true(), r.final == false()),
        and_(r.status.is_(None), r.item_code.is_not(None)),
    )


def _contributions(ids: Select[tuple[int]] | None, sign: int) -> Select[tuple[object, ...]]:
    """What the recipients (``ids``; all when None) count for per send and day now, times ``sign``."""
    r = recipients.c
    # Literal text, not bound values: every backend then types the sums as integers.
    times: ColumnElement[int] = literal_column(str(int(sign)))
    one: ColumnElement[int] = literal_column("1")
    zero: ColumnElement[int] = literal_column("0")
    counts = [times * func.sum(case((condition, one), else_=zero)) for condition in _conditions()]
    key = (r.account_id, r.sent_day, r.send_id)
    query = select(*key, times * func.count(), *counts)
    if ids is not None:
        query = query.where(r.id.in_(ids))
    return query.group_by(*key)


class FunnelMove(Move):
    """One write of recipients' statuses (or their insert): ``take`` before, ``give`` after, or ``with``."""

    rollup = Rollup(funnel_days, KEY, COUNTS, _contributions)


def rebuild(conn: Connection) -> None:
    """Every row again from the recipients, inside the caller's transaction."""
    FunnelMove.rollup.rebuild(conn)
