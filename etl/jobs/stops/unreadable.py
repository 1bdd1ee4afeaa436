"""Stop-list entries that cannot be read: quarantined, and read fail-closed (issue 16).

An unreadable entry is never evidence that a stop was removed: the periods it may stand for stay
open (`_hold_back`), its date, if only that is unreadable, never replaces one read before, and a
number read without its id opens a period a later readable entry adopts (`_fail_closed`).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from datetime import datetime
from typing import Any

from sqlalchemy import (
    Connection,
    Table,
    delete,
    insert,
    select,
    update,
)

from etl import quarantine
from etl.api import stoprows
from etl.db.schema import stop_periods
from etl.errors import PayloadError
from etl.jobs.base import JobContext
from etl.jobs.stops.diff import _PHONE_RAW_WIDTH, _count

ENDPOINT = "stop-sms/list"


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


def _chunks(values: Iterable[Any], size: int = 500) -> Iterator[list[Any]]:
    """Bounded ``IN`` lists: a flood of unreadable entries must not build one unbounded statement."""
    items = list(values)
    for start in range(0, len(items), size):
        yield items[start : start + size]


def _hold_back(conn: Connection, diff: Table, held: _Unreadable, account: int) -> int:
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
            mine = select(p.id).where(p.account_id == account, column.in_(chunk))
            conn.execute(delete(diff).where(d.gone.is_(True), d.period_id.in_(mine)))
    return _count(conn, diff, d.gone.is_(True))


def _keep_stored_dates(conn: Connection, stage: Table, ids: list[int], account: int) -> None:
    """Entries staged with an unreadable date take their open period's stored date: an unreadable
    date is not a change (and must not erase a date read before)."""
    p, s = stop_periods.c, stage.c
    stored = (
        select(p.api_created_at)
        .where(p.account_id == account, p.api_stop_id == s.api_stop_id, p.removed_at.is_(None))
        .scalar_subquery()
    )
    for chunk in _chunks(ids):
        conn.execute(update(stage).where(s.api_stop_id.in_(chunk)).values(api_created_at=stored))


def _fail_closed(ctx: JobContext, conn: Connection, unreadable: _Unreadable, now: datetime) -> int:
    """After the diff: flag the periods dated NULL for an unreadable date, open a period (no API
    id, adopted later by a readable entry) for each number read without its id and not open;
    returns how many opened."""
    p, account = stop_periods.c, ctx.account.id
    for chunk in _chunks(unreadable.undated):
        conn.execute(
            update(stop_periods)
            .where(p.account_id == account, p.api_stop_id.in_(chunk), p.removed_at.is_(None), p.api_created_at.is_(None))
            .values(created_at_unreadable=True)
        )
    missing = dict(unreadable.idless)
    for chunk in _chunks(missing):
        open_numbers = select(p.phone_e164).where(p.account_id == account, p.phone_e164.in_(chunk), p.removed_at.is_(None))
        for (number,) in conn.execute(open_numbers):
            missing.pop(number, None)
    if missing:
        conn.execute(
            insert(stop_periods),
            [
                {
                    "phone_e164": e164, "phone_raw": raw, "first_seen_at": now, "source": "sync", "opened_by_run_id": ctx.run_id,
                    "account_id": account,
                }
                for e164, raw in missing.items()
            ],
        )
    return len(missing)
