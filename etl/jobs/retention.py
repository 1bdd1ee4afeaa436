"""Retention (issue 18): purge reply texts and raw callback bodies past their age; closed opt-outs past
``compliance.optout_age`` (≥ 3 years) reduced to a keyed hash in ``optout_hashes`` (docs/compliance.md, "Retention").

Set-based, in batches of ``compliance.batch_size`` ids, one transaction each, for this run's account. Open stop
periods are never touched: they are current opt-outs. Without a hash key the opt-outs are kept readable (nothing
is lost) and the run says so. Numbers of rentals no longer followed are deleted ``rental_numbers_age`` after
the rental was dropped, those that ever carried a stop flag only after ``optout_age`` (docs/retention.md).
Each batch of reduced opt-outs appends a ``retention_hashed`` entry to the audit chain (their period ids, no
number), so `verify-audit` tells that reduction from a deletion behind the tool's back.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import delete, exists, false, insert, select, true, update
from sqlalchemy.engine import Connection, Row

from etl.compliance import chain
from etl.compliance.hashing import NumberHasher, optional_hasher
from etl.db.engine import writer
from etl.db.schema import breaches, optout_hashes, push_inbox, rental_number_events, rental_numbers, rentals, replies, stop_periods
from etl.jobs.base import JobContext, RunResult

NAME = "retention"


def run(ctx: JobContext) -> RunResult:
    compliance = ctx.config.compliance
    now = ctx.now()
    texts = _purge_replies(ctx, now - timedelta(seconds=compliance.reply_text_age))
    bodies = _purge_bodies(ctx, now - timedelta(seconds=compliance.reply_text_age))
    hasher = optional_hasher(compliance)
    hashed = _hash_optouts(ctx, hasher, now - timedelta(seconds=compliance.optout_age)) if hasher else 0
    rental = _purge_rental_numbers(ctx, now - timedelta(seconds=compliance.rental_numbers_age),
                                   now - timedelta(seconds=compliance.optout_age))
    note = "" if hasher else "; no hash key: old opt-outs kept readable"
    return RunResult(changed=texts + bodies, removed=hashed + rental,
                     detail=f"reply_texts={texts} callback_bodies={bodies} optouts_hashed={hashed} "
                            f"rental_numbers={rental}{note}")


# Each step walks its table in id order from where the last batch ended: without the ``id >`` bound each
# batch scanned again every row the batches before it had purged, and the periods a breach keeps readable
# (docs/benchmarks.md, "Retention job").


def _purge_replies(ctx: JobContext, before: datetime) -> int:
    inbox = push_inbox.c
    r = replies.c
    done = last = 0
    while not ctx.should_stop():
        with ctx.engine.begin() as conn:
            ids = conn.execute(
                select(r.id).join(push_inbox, inbox.id == r.inbox_id)
                .where(r.id > last, inbox.account_id == ctx.account.id, r.received_at < before, r.text.is_not(None))
                .order_by(r.id).limit(ctx.config.compliance.batch_size)
            ).scalars().all()
            if not ids:
                break
            conn.execute(update(replies).where(r.id.in_(ids)).values(text=None, text_purged_at=ctx.now()))
        done, last = done + len(ids), ids[-1]
    return done


def _purge_bodies(ctx: JobContext, before: datetime) -> int:
    inbox = push_inbox.c
    done = last = 0
    while not ctx.should_stop():
        with ctx.engine.begin() as conn:
            ids = conn.execute(
                select(inbox.id).where(inbox.id > last, inbox.account_id == ctx.account.id, inbox.received_at < before,
                                       inbox.body_purged_at.is_(None), inbox.state != "new")
                .order_by(inbox.id).limit(ctx.config.compliance.batch_size)
            ).scalars().all()
            if not ids:
                break
            conn.execute(update(push_inbox).where(inbox.id.in_(ids)).values(body="", body_purged_at=ctx.now()))
        done, last = done + len(ids), ids[-1]
    return done


def _purge_rental_numbers(ctx: JobContext, before: datetime, stopped_before: datetime) -> int:
    """Numbers (and their history) of this account's rentals dropped before ``before``; a number that ever
    carried a stop flag is an opt-out and waits until ``stopped_before`` (docs/retention.md)."""
    n, r, e = rental_numbers.c, rentals.c, rental_number_events.c
    ever_stopped = n.stop | exists().where(e.rental_id == n.rental_id, e.phone_key == n.phone_key, e.stop == true())
    due = (r.removed_at < stopped_before) | ((r.removed_at < before) & ~ever_stopped)
    done = 0
    while not ctx.should_stop():
        with ctx.engine.begin() as conn:
            found = conn.execute(
                select(n.id, n.rental_id, n.phone_key).join(rentals, r.id == n.rental_id)
                .where(r.account_id == ctx.account.id, r.active == false(), r.removed_at.is_not(None), due)
                .order_by(n.id).limit(ctx.config.compliance.batch_size)
            ).all()
            if not found:
                break
            for rental_id in sorted({row.rental_id for row in found}):
                keys = [row.phone_key for row in found if row.rental_id == rental_id]
                conn.execute(delete(rental_number_events).where(e.rental_id == rental_id, e.phone_key.in_(keys)))
            conn.execute(delete(rental_numbers).where(n.id.in_([row.id for row in found])))
        done += len(found)
    return done


def _hash_optouts(ctx: JobContext, hasher: NumberHasher, before: datetime) -> int:
    p = stop_periods.c
    done = last = 0
    while not ctx.should_stop():
        with writer(ctx.engine).begin() as conn:  # the chain's head is written: SQLite's write lock at BEGIN
            rows = conn.execute(
                select(stop_periods).where(p.id > last, p.account_id == ctx.account.id, p.removed_at.is_not(None),
                                           p.removed_at < before, p.phone_e164.is_not(None),
                                           # a breach's period stays readable: it is evidence of a finding
                                           ~exists().where(breaches.c.stop_period_id == p.id))
                .order_by(p.id).limit(ctx.config.compliance.batch_size)
            ).all()
            if not rows:
                break
            _move(conn, ctx, hasher, rows)
        done, last = done + len(rows), int(rows[-1].id)
    return done


def _move(conn: Connection, ctx: JobContext, hasher: NumberHasher, rows: Sequence[Row[Any]]) -> None:
    hashes = hasher.hash_many([row.phone_e164 for row in rows])
    now = ctx.now()
    conn.execute(insert(optout_hashes), [
        dict(stop_period_id=row.id, phone_hash=h, hash_key_id=hasher.key_id, api_stop_id=row.api_stop_id,
             api_created_at=row.api_created_at, first_seen_at=row.first_seen_at, last_seen_at=row.last_seen_at,
             removed_at=row.removed_at, removed_how=row.removed_how, removed_by_action_id=row.removed_by_action_id,
             source=row.source, hashed_at=now, account_id=row.account_id)
        for row, h in zip(rows, hashes)
    ])
    ids = [row.id for row in rows]
    # Rows that point at the period lose the pointer; the period lives on in optout_hashes.stop_period_id.
    conn.execute(update(push_inbox).where(push_inbox.c.stop_period_id.in_(ids)).values(stop_period_id=None))
    conn.execute(delete(stop_periods).where(stop_periods.c.id.in_(ids)))
    # Chained with the move: verify-audit then expects these periods gone and their optout_hashes rows kept.
    chain.append_reduction(conn, ctx.account.id, ids, hash_key_id=hasher.key_id, at=now)
