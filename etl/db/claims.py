"""Claimed work: instances share the recipients' due queues (status polls, cost reads) by claiming batches.

Issue 20, "Split the statuses job". A claim is one short writer transaction:

1. the lapsed claims first (``poll_claimed_by IS NOT NULL AND next_poll_at <= now``, `lapsed_rows`, on the small
   index of claimed rows of migration 0030), then the rest of the batch from the head of the queue:
   ``SELECT … WHERE account_id = ? AND next_poll_at <= ? ORDER BY next_poll_at LIMIT n FOR UPDATE SKIP LOCKED``
   (`etl.db.backends.Backend.claimed`, on both reads): concurrent claimers each get other rows instead of queueing;
2. ``UPDATE`` those rows: ``next_poll_at`` becomes the end of the claim lease and ``poll_claimed_by`` the
   claimer (``cost``: ``next_cost_at``, ``cost_claimed_by``).

The claimer then calls the API outside any transaction and writes the answers in its own short
transactions; the write puts the pair on its ladder and clears the claim (`etl.jobs.status_apply`). Why the
lease lives in the due column itself rather than in a claims table or a ``claim_expires_at`` beside it:

* a pair under a live claim is simply not due (its due time is in the future), so the due query and the
  partial indexes of migration 0023 stay exactly what they were; a separate claim column would make every
  claimer scan past every live claim at the head of the queue (``n`` times the instances, each claim);
* a claim whose holder died (SIGKILL, a lost host) comes due again by itself when its lease ends, and the
  next claimer takes it over: nothing to sweep, nothing lost. It is taken ahead of the queue, not at its lease
  end's place in it: behind a backlog due earlier, it would otherwise wait for all of it (docs/benchmarks.md,
  "Scale-out");
* the owner column makes a late writer harmless: an instance that stalled past its lease and was taken over
  writes nothing for the pairs it no longer holds (`Claim.writable`), so an older answer never overwrites the
  newer one of the instance that took over.

A pair given back unpolled (the run was asked to stop, or a fault ended it) gets its due time back at once
(`release`). The lease counts in the job's clock, the clock of the due columns.

SQLite has one writer for the whole database: one instance runs the statuses job under the job lock, as
before issue 20. There a claim reads the due rows and stamps nothing (``owner`` None): no extra write per
batch, and a crash leaves the pairs due at once, as it always did.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Column, ColumnElement, Connection, Engine, Select, bindparam, or_, select, true, update
from sqlalchemy.exc import OperationalError

from etl.db import backends
from etl.db.engine import writer
from etl.db.schema import recipients

__all__ = ["COST", "POLL", "Claim", "Claimed", "Work", "claim", "due_rows", "instances_share", "lapsed_rows", "release", "write"]

log = logging.getLogger(__name__)

_r = recipients.c

#: Tries at a claim transaction that a lock conflict ended (MariaDB's deadlock victim, PostgreSQL's
#: serialization failure): the claim wrote nothing yet, so trying again is safe.
CLAIM_TRIES = 3
#: An empty claim while due rows exist: every one of them was locked by another transaction for a moment
#: (another instance's claim, or an apply whose scan locks the rows it reads, as InnoDB's do under
#: REPEATABLE READ). Look again after a nap, this many times, before calling the queue empty.
BUSY_TRIES = 20
BUSY_NAP = 0.05


@dataclass(frozen=True)
class Work:
    """One kind of claimed work: the due column it is queued on, and the column naming its holder."""

    name: str
    due: Column[Any]
    owner: Column[Any]


POLL = Work("poll", _r.next_poll_at, _r.poll_claimed_by)
COST = Work("cost", _r.next_cost_at, _r.cost_claimed_by)


@dataclass(frozen=True)
class Claimed:
    """One claimed pair, with its due time before the claim (what `release` gives back)."""

    id: int
    message_id: str
    phone_e164: str
    final_seen_at: datetime | None
    due_at: datetime


@dataclass(frozen=True)
class Claim:
    """A batch held by ``owner`` until ``until`` (``owner`` None: not stamped, one instance only)."""

    work: Work
    owner: str | None
    rows: tuple[Claimed, ...]
    until: datetime | None = None
    #: Rows whose earlier claim had lapsed: its holder died or stalled past its lease.
    taken_over: int = 0

    def writable(self) -> ColumnElement[bool]:
        """The rows an answer of this claim may write: ours, or held by no one (a bulk-status answer also
        covers pairs nobody claimed). A pair another instance holds is left to it."""
        if self.owner is None:
            return true()
        return or_(self.work.owner.is_(None), self.work.owner == self.owner)


def instances_share(bind: Connection | Engine) -> bool:
    """True where several instances may each claim work at once (row locks, ``SKIP LOCKED``); False on
    SQLite, whose one writer runs the job alone under its lock."""
    return backends.of(bind).concurrent_writers


def claim(
    engine: Engine,
    work: Work,
    *,
    account_id: int,
    owner: str,
    due_by: datetime,
    now: datetime,
    lease: float,
    limit: int,
    where: Sequence[ColumnElement[bool]] = (),
    sleep: Callable[[float], None] = time.sleep,
) -> Claim:
    """Claim up to ``limit`` of ``account_id``'s pairs due by ``due_by``, oldest first, for ``lease`` seconds.

    An empty claim means nothing is due: rows due but locked by another transaction for a moment are
    waited for (`BUSY_TRIES`)."""
    conflicts = 0
    for _ in range(BUSY_TRIES):
        try:
            held = _claim_once(engine, work, account_id, owner, due_by, now, lease, limit, where)
        except OperationalError as exc:
            conflicts += 1
            if conflicts >= CLAIM_TRIES or not backends.of(engine).lock_conflict(exc):
                raise
            log.info("claim of %s work: lock conflict (%s), trying again", work.name, type(exc).__name__)
            continue
        if held.rows or held.owner is None or not _any_due(engine, work, account_id, due_by, where):
            return held
        sleep(BUSY_NAP)
    return Claim(work, owner, ())


def due_rows(work: Work, account_id: int, due_by: datetime, limit: int, where: Sequence[ColumnElement[bool]] = ()) -> Select[Any]:
    """The head of ``work``'s queue, oldest first: a range scan of its due index (migration 0023), no sort."""
    return (
        select(_r.id, _r.message_id, _r.phone_e164, _r.final_seen_at, work.due, work.owner)
        .where(_r.account_id == account_id, work.due <= due_by, *where)
        .order_by(work.due)
        .limit(limit)
    )


def lapsed_rows(work: Work, account_id: int, now: datetime, limit: int, where: Sequence[ColumnElement[bool]] = ()) -> Select[Any]:
    """The claims of ``work`` whose lease ended by ``now``, oldest first: their holder died or stalled. Read from the
    index of claimed rows (migration 0030), so they are taken over ahead of the due queue rather than behind every
    pair that came due before their lease ended."""
    return (
        select(_r.id, _r.message_id, _r.phone_e164, _r.final_seen_at, work.due, work.owner)
        .where(_r.account_id == account_id, work.owner.is_not(None), work.due <= now, *where)
        .order_by(work.due)
        .limit(limit)
    )


def _any_due(engine: Engine, work: Work, account_id: int, due_by: datetime, where: Sequence[ColumnElement[bool]]) -> bool:
    """A plain read (no lock, so it waits for none): is anything of ``work`` due?"""
    with engine.connect() as conn:
        found = conn.execute(select(_r.id).where(_r.account_id == account_id, work.due <= due_by, *where).limit(1)).first()
        conn.rollback()
    return found is not None


def _claim_once(
    engine: Engine, work: Work, account_id: int, owner: str, due_by: datetime, now: datetime, lease: float, limit: int,
    where: Sequence[ColumnElement[bool]],
) -> Claim:
    backend = backends.of(engine)
    if not backend.concurrent_writers:  # one instance: a plain read of the due rows, as before claims
        with engine.connect() as conn:
            rows = conn.execute(due_rows(work, account_id, due_by, limit, where)).all()
            conn.rollback()
        return Claim(work, None, tuple(Claimed(i, m, p, f, d) for i, m, p, f, d, _ in rows))
    with backend.claiming(writer(engine)).begin() as conn:
        rows = list(conn.execute(backend.claimed(lapsed_rows(work, account_id, now, limit, where))).all())
        # Lapsed by ``now``, not by ``due_by``: a cycle's ``due_by`` is its start, and a claim that lapses during a
        # long cycle would otherwise wait for the next cycle (the SIGKILL run of bench/scale_out.py).
        if len(rows) < limit:
            # Our own locks are not skipped: the lapsed rows just read would come again from the queue.
            queue = (*where, ~backend.in_values(_r.id, [row[0] for row in rows])) if rows else where
            rows += conn.execute(backend.claimed(due_rows(work, account_id, due_by, limit - len(rows), queue))).all()
        until = now + timedelta(seconds=lease)
        ids = [row[0] for row in rows]
        if ids:
            conn.execute(update(recipients).where(backend.in_values(_r.id, ids)).values({work.due: until, work.owner: owner}))
    lapsed = sum(1 for *_, held_by in rows if held_by is not None and held_by != owner)
    if lapsed:
        log.warning("claim of %s work: took over %d pair(s) whose claim had lapsed", work.name, lapsed)
    return Claim(work, owner, tuple(Claimed(i, m, p, f, d) for i, m, p, f, d, _ in rows), until, lapsed)


def write(engine: Engine, apply: Callable[[Connection], None]) -> None:
    """Run ``apply`` (a claimed batch's answers) in one writer transaction, from the start again when a lock
    conflict ended it (`CLAIM_TRIES` in all): two instances' answers for one send (a bulk-status answer covers
    the send's recipients nobody holds) may update the same rows in another order, and InnoDB then picks one
    transaction as a deadlock's victim. ``apply`` must be safe to run again (its transaction was rolled back)."""
    for attempt in range(1, CLAIM_TRIES + 1):
        try:
            with writer(engine).begin() as conn:
                apply(conn)
            return
        except OperationalError as exc:
            if attempt == CLAIM_TRIES or not backends.of(engine).lock_conflict(exc):
                raise
            log.info("claimed work: a write ended by a lock conflict (%s), trying it again", type(exc).__name__)


def release(engine: Engine, held: Claim, rows: Sequence[Claimed]) -> int:
    """Give ``rows`` of ``held`` back unpolled: due again at once (at their due time before the claim),
    held by no one. Rows another instance has taken over since are left to it. Returns the rows given back."""
    if held.owner is None or not rows:
        return 0
    work = held.work
    stmt = (
        update(recipients)
        .where(_r.id == bindparam("b_id"), work.owner == held.owner)
        .values({work.due: bindparam("b_due"), work.owner: None})
    )
    with writer(engine).begin() as conn:
        result = conn.execute(stmt, [{"b_id": row.id, "b_due": row.due_at} for row in rows])
    return int(result.rowcount or 0)
