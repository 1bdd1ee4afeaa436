"""What applying a stored callback does. Helpers take a `Connection` and never commit.

Order, and why:

1. `etl.push.store.store` writes each accepted callback to ``push_inbox`` (state ``new``) and the
   caller commits *before* answering 200 (see there).
2. `apply_new` takes ``new`` rows (``FOR UPDATE SKIP LOCKED`` on PostgreSQL/MariaDB, so a receiver
   and a daemon applying at once never take the same row; SQLite has one writer anyway) and:

   - **STOP** → an open stop period (``source='push'``, ``api_stop_id`` NULL) **unless the number
     already has an open period**: a push only ever adds an opt-out. The stop sync adopts the period
     by number at its next run (etl/jobs/stops.py step 1), so the number has one period, not two.
     The "already open?" check and the insert run while holding the ``stops`` job lock (a
     transaction-scoped advisory lock on PostgreSQL, ``GET_LOCK`` on MariaDB, the single SQLite
     writer): otherwise a sync running in between could open its own period for the same number,
     and the next sync's adoption would give two open periods one API id. When the lock is busy
     (a sync is running) STOPs stay ``new`` and are applied on the next pass, seconds later.
   - **reply and STOP** → a ``replies`` row (one per inbox row).
   - **delivery report** → a ``status_events`` row (``source='push'``) when the recipient is
     tracked and the report is news by the rule in `supersedes`; else the row waits (``waiting``)
     for `resolve_pending`.

Every row is applied to its own account (``push_inbox.account_id``, the URL it came to): a STOP opens a
period in that account's stop list under that account's ``stops`` lock, a report looks for that account's
recipients. Each lookup names the account first, so it uses the account-leading indexes.

Polling stays the source of truth. A push never writes the ``recipients`` row's status, ``final``
or poll counts, nor its cost unless ``statuses.cost_source = "announced"`` (`etl.push.dlr_cost`)
(the statuses job's invariants: ``next_poll_at`` is NULL exactly when final);
a final status pushed only brings ``next_poll_at`` forward to now, so the next statuses cycle
polls that recipient and confirms (or corrects) it.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Connection, Engine, func, select, update

from etl.accounts import lock_name_of
from etl.api.parse import is_final
from etl.compliance.intent import classify
from etl.db import backends
from etl.db.schema import push_inbox, recipients, replies, status_events, stop_periods
from etl.locking import end_transaction_lock, try_transaction_lock
from etl.push import dlr_cost
from etl.push.dlr_cost import PricedReport
from etl.push.parse import Callback, CallbackRejected, parse_callback
from etl.quarantine import Rejection, record

log = logging.getLogger(__name__)

__all__ = ["ApplyResult", "apply_new", "apply_pass", "release_stops_lock", "resolve_pending", "supersedes", "STOPS_LOCK_JOB"]

#: The job whose lock guards stop_periods (etl/jobs/stops.py).
STOPS_LOCK_JOB = "stops"
#: A delivery report for an unknown message waits this long before it is marked ``unmatched``.
DEFAULT_MAX_WAIT = timedelta(days=7)
#: Keys per lookup (SQLite's default limit on bound parameters is 32766; stay far below it).
CHUNK = backends.LOOKUP_CHUNK


@dataclass
class ApplyResult:
    """Counts of one pass; ``by_detail`` counts what happened per outcome label."""

    applied: int = 0
    waiting: int = 0
    failed: int = 0
    deferred: int = 0
    unmatched: int = 0
    by_detail: dict[str, int] = field(default_factory=dict)

    def count(self, detail: str) -> None:
        self.by_detail[detail] = self.by_detail.get(detail, 0) + 1

    def add(self, other: ApplyResult) -> None:
        self.applied += other.applied
        self.waiting += other.waiting
        self.failed += other.failed
        self.deferred += other.deferred
        self.unmatched += other.unmatched
        for key, value in other.by_detail.items():
            self.by_detail[key] = self.by_detail.get(key, 0) + value


# --- pure decisions ---------------------------------------------------------------------------------


def supersedes(current: str | None, current_at: datetime | None, new: str, new_at: datetime | None) -> bool:
    """Does a pushed status replace the recipient's current one?

    No when the current status is final (a poll or an earlier push said so: polling confirms or
    corrects it, a later push never flips it); no when it is the same status; no when the push is
    older than what we hold (callbacks arrive out of order). Otherwise yes.
    """
    if current is not None and is_final(current):
        return False
    if current is not None and current == new:
        return False
    if current_at is not None and new_at is not None and new_at < current_at:
        return False
    return True


# --- applying -----------------------------------------------------------------------------------------


@dataclass
class _Row:
    id: int
    channel: str
    kind: str
    body: str
    received_at: datetime
    account_id: int
    callback: Callback | None = None
    state: str = "applied"
    detail: str | None = None
    stop_period_id: int | None = None


def _claim(
    conn: Connection, states: Sequence[str], limit: int, extra: Any = None, parsed: dict[str, Callback] | None = None
) -> list[_Row]:
    query = (
        select(push_inbox.c.id, push_inbox.c.channel, push_inbox.c.kind, push_inbox.c.body, push_inbox.c.received_at,
               push_inbox.c.content_hash, push_inbox.c.account_id)
        .where(push_inbox.c.state.in_(states))
        .order_by(push_inbox.c.id)
        .limit(limit)
        .with_for_update(skip_locked=True)  # ignored by SQLite, whose writer is alone anyway
    )
    if extra is not None:
        query = query.where(extra)
    out = []
    for r in conn.execute(query):
        row = _Row(r.id, r.channel, r.kind, r.body, r.received_at, int(r.account_id))
        cached = parsed.pop(r.content_hash, None) if parsed is not None else None
        if cached is not None:
            row.callback = cached
            out.append(row)
            continue
        try:
            row.callback = parse_callback(r.channel, r.body.encode("utf-8"), account_id=row.account_id)
        except CallbackRejected as exc:  # stored by an older version with other rules
            row.state, row.detail = "failed", f"unparseable: {exc.reason}"
        out.append(row)
    return out


def _try_stops_lock(conn: Connection, account_id: int) -> bool:
    """Take the account's stops job lock for this transaction, without waiting (see the module docstring)."""
    return try_transaction_lock(conn, lock_name_of(account_id, STOPS_LOCK_JOB))


def _release_stops_lock(conn: Connection, account_id: int) -> None:
    end_transaction_lock(conn, lock_name_of(account_id, STOPS_LOCK_JOB))


def _by_account(rows: Iterable[_Row]) -> dict[int, list[_Row]]:
    out: dict[int, list[_Row]] = {}
    for row in rows:
        out.setdefault(row.account_id, []).append(row)
    return out


def _open_periods_of(conn: Connection, account_id: int, numbers: Sequence[str]) -> dict[str, int]:
    """The first open period of each number in the account's stop list."""
    p = stop_periods.c
    found: dict[str, int] = {}
    for start in range(0, len(numbers), CHUNK):
        query = (
            select(p.phone_e164, func.min(p.id))
            .where(p.account_id == account_id, p.removed_at.is_(None), backends.of(conn).in_values(p.phone_e164, numbers[start : start + CHUNK]))
            .group_by(p.phone_e164)
        )
        found.update({phone: pid for phone, pid in conn.execute(query)})
    return found


def _apply_stops(conn: Connection, rows: list[_Row]) -> None:
    for account_id, mine in _by_account(rows).items():
        _apply_account_stops(conn, account_id, mine)


def _apply_account_stops(conn: Connection, account_id: int, rows: list[_Row]) -> None:
    numbers = sorted({r.callback.phone_e164 for r in rows if r.callback and r.callback.phone_e164})
    open_by_phone = _open_periods_of(conn, account_id, numbers)
    to_open: dict[str, dict[str, Any]] = {}
    for row in rows:
        cb = row.callback
        assert cb is not None
        if cb.phone_e164 is None:
            row.state, row.detail = "failed", "unparseable number"
            continue
        existing = open_by_phone.get(cb.phone_e164)
        if existing is not None:
            row.detail, row.stop_period_id = "already_stopped", existing
        elif cb.phone_e164 in to_open:
            row.detail = "already_stopped"  # a second STOP from the number in this batch
        else:
            row.detail = "opened"
            to_open[cb.phone_e164] = {
                "api_stop_id": None,
                "phone_e164": cb.phone_e164,
                "phone_raw": cb.phone_raw[:64],
                "api_created_at": cb.event_at,
                "first_seen_at": row.received_at,
                "last_seen_at": None,
                "removed_at": None,
                "removed_how": None,
                "removed_by_action_id": None,
                "source": "push",
                "opened_by_run_id": None,
                "closed_by_run_id": None,
                "account_id": account_id,
            }
    if not to_open:
        return
    backends.of(conn).insert_rows(conn, stop_periods, list(to_open.values()))
    opened = _open_periods_of(conn, account_id, sorted(to_open))
    for row in rows:
        cb = row.callback
        if row.stop_period_id is None and cb is not None and cb.phone_e164 in opened and row.state != "failed":
            row.stop_period_id = opened[cb.phone_e164]


def _store_replies(conn: Connection, rows: list[_Row]) -> None:
    values: list[backends.Row] = []
    for row in rows:
        cb = row.callback
        if cb is None or row.state == "failed":
            continue
        values.append(
            {
                "inbox_id": row.id,
                "kind": cb.reply_type or cb.kind,
                "phone_e164": cb.phone_e164,
                "phone_raw": cb.phone_raw[:64],
                "message_id": cb.message_id,
                "text": cb.text,
                "keyword": cb.keyword,
                "to_number": cb.to_number,
                "sent_at": cb.event_at,
                "received_at": row.received_at,
                "concat_ref": cb.concat_ref,
                "concat_part": cb.concat_part,
                "concat_total": cb.concat_total,
                "stop_intent": classify(cb.text).stop,
            }
        )
    backends.of(conn).insert_rows(conn, replies, values)
    for row in rows:
        if row.kind == "reply" and row.state != "failed":
            row.detail = "stored"


def _apply_dlrs(conn: Connection, rows: list[_Row], now: datetime, *, dlr_costs: bool = False) -> None:
    """Delivery reports, in inbox order (so two reports for one recipient in a batch chain).

    The recipient row itself (status, final, polling) belongs to the statuses job: a report adds a
    ``status_events`` row with ``source='push'`` and, when final, moves the next poll to now so
    the poll confirms it at the next cycle. What a report is compared with is the later of the
    recipient's polled status and its latest pushed one (`supersedes`).

    With ``dlr_costs`` (``statuses.cost_source = "announced"``), a report that carries a cost stores it
    as its recipient's cost (`etl.push.dlr_cost`), whether or not its status is news.
    """
    if not rows:
        return
    r, e = recipients.c, status_events.c
    tracked: dict[tuple[int, str, str], dict[str, Any]] = {}
    for account_id, mine in _by_account(rows).items():
        wanted = sorted({row.callback.message_id for row in mine if row.callback and row.callback.message_id})
        for start in range(0, len(wanted), CHUNK):
            part = wanted[start : start + CHUNK]
            query = select(r.id, r.message_id, r.phone_e164, r.status, r.status_at, r.next_poll_at).where(
                r.account_id == account_id, backends.of(conn).in_values(r.message_id, part)
            )
            for found in conn.execute(query):
                tracked[(account_id, found.message_id, found.phone_e164)] = dict(found._mapping)
    by_id = {rec["id"]: rec for rec in tracked.values()}
    ids = sorted(by_id)
    for start in range(0, len(ids), CHUNK):
        part = ids[start : start + CHUNK]
        latest = select(func.max(e.id)).where(backends.of(conn).in_values(e.recipient_id, part), e.source == "push").group_by(e.recipient_id)
        for ev in conn.execute(select(e.recipient_id, e.status, e.status_at).where(e.id.in_(latest))):
            rec = by_id[ev.recipient_id]
            if rec["status_at"] is None or (ev.status_at is not None and ev.status_at >= rec["status_at"]):
                rec["status"], rec["status_at"] = ev.status, ev.status_at
    events: list[dict[str, Any]] = []
    priced: list[PricedReport] = []
    bring_forward: set[int] = set()
    for row in rows:
        cb = row.callback
        assert cb is not None
        if cb.status is None:
            row.state, row.detail = "failed", "unknown status"
            continue
        if cb.phone_e164 is None:
            row.state, row.detail = "failed", "unparseable number"
            continue
        known = tracked.get((row.account_id, cb.message_id or "", cb.phone_e164))
        if known is None:
            row.state, row.detail = "waiting", "message not tracked yet"
            continue
        if dlr_costs and cb.cost is not None:
            priced.append((row.account_id, known["message_id"], known["phone_e164"], cb.cost, cb.currency, cb.country))
        if not supersedes(known["status"], known["status_at"], cb.status, cb.event_at):
            row.detail = "same_status" if known["status"] == cb.status else "stale"
            continue
        known["status"], known["status_at"] = cb.status, cb.event_at or known["status_at"]
        if is_final(cb.status) and known["next_poll_at"] is not None and known["next_poll_at"] > now:
            bring_forward.add(known["id"])
            known["next_poll_at"] = now
        events.append(
            {"recipient_id": known["id"], "status": cb.status, "status_at": cb.event_at, "observed_at": row.received_at, "run_id": None, "source": "push"}
        )
        row.detail = "status_recorded"
    backends.of(conn).insert_rows(conn, status_events, events)
    dlr_cost.store(conn, priced, now)
    forward = sorted(bring_forward)
    for start in range(0, len(forward), CHUNK):
        ids_part = forward[start : start + CHUNK]
        # Only ever earlier, never NULL: NULL means "final", which only a poll may decide.
        conn.execute(update(recipients).where(backends.of(conn).in_values(r.id, ids_part), r.next_poll_at > now).values(next_poll_at=now))


def _finish(conn: Connection, rows: Iterable[_Row], now: datetime, result: ApplyResult) -> None:
    """Each claimed row's outcome, in one batch update (the backend's `update_rows`)."""
    params: list[backends.Row] = []
    for row in rows:
        params.append(
            {
                "id": row.id,
                "state": row.state,
                "detail": (row.detail or "")[:255] or None,
                "applied_at": now if row.state == "applied" else None,
                "stop_period_id": row.stop_period_id,
            }
        )
        if row.state == "applied":
            result.applied += 1
        elif row.state == "waiting":
            result.waiting += 1
        elif row.state == "failed":
            result.failed += 1
        elif row.state == "unmatched":
            result.unmatched += 1
        result.count(row.detail or row.state)
    backends.of(conn).update_rows(conn, push_inbox, "id", params, increment=("attempts",))


def _apply_rows(
    conn: Connection, rows: list[_Row], now: datetime, result: ApplyResult, *, with_stops: bool, locked: list[int],
    dlr_costs: bool = False,
) -> None:
    """Apply claimed rows; appends to ``locked`` each account whose stops lock it takes, as it takes it, so
    that the caller releases them even when applying fails (MariaDB: after the commit, see `apply_pass`).
    An account's STOPs stay ``new`` when ``with_stops`` is false or its lock is busy (its stop sync is
    running): they are stored, and the next pass applies them."""
    usable = [r for r in rows if r.callback is not None and r.state != "failed"]
    stops = [r for r in usable if r.kind == "stop"]
    for account_id in sorted({r.account_id for r in stops}):
        if with_stops and _try_stops_lock(conn, account_id):
            locked.append(account_id)
    busy = {r.account_id for r in stops} - set(locked)
    if busy:
        keep = {r.id for r in stops if r.account_id in busy}
        result.deferred += len(keep)
        rows = [r for r in rows if r.id not in keep]
        usable = [r for r in usable if r.id not in keep]
        stops = [r for r in stops if r.id not in keep]
    _apply_stops(conn, stops)
    _store_replies(conn, [r for r in usable if r.kind in ("stop", "reply")])
    _apply_dlrs(conn, [r for r in usable if r.kind == "dlr"], now, dlr_costs=dlr_costs)
    _finish(conn, rows, now, result)
    _quarantine_failed(conn, rows, now)


def _quarantine_failed(conn: Connection, rows: Iterable[_Row], now: datetime) -> None:
    """A row that cannot be applied stays in the inbox as ``failed`` and is quarantined as well,
    so ``rejected_items`` is the one place to look for everything unreadable (docs/push.md)."""
    for account_id, mine in _by_account(row for row in rows if row.state == "failed").items():
        failed = [Rejection(f"push/{row.channel}", row.body, row.detail or "failed", "push", str(row.id)) for row in mine]
        record(conn, failed, now, account_id=account_id)


def apply_new(
    conn: Connection, now: datetime, *, limit: int = 1000, with_stops: bool = False, parsed: dict[str, Callback] | None = None,
    locked: list[int] | None = None, dlr_costs: bool = False,
) -> ApplyResult:
    """Apply up to ``limit`` inbox rows in state ``new`` (oldest first). Does not commit.

    With ``with_stops``, each account whose stops lock is taken is appended to ``locked`` as soon as it is
    taken (an exception half-way leaves it filled), and the caller must call `release_stops_lock` for each
    *after* committing or rolling back: only MariaDB's lock outlives the transaction, and a session keeps
    it (recursively) until released. Prefer `apply_pass`, which does all that. ``parsed`` maps content
    hashes to records the caller already parsed (the receiver's), to skip parsing the stored body again.
    """
    result = ApplyResult()
    rows = _claim(conn, ("new",), limit, parsed=parsed)
    if rows:
        _apply_rows(conn, rows, now, result, with_stops=with_stops, locked=[] if locked is None else locked, dlr_costs=dlr_costs)
    return result


def release_stops_lock(conn: Connection, account_id: int) -> None:
    """Release an account's stops lock taken by `apply_new` (a no-op but on MariaDB); after the commit."""
    _release_stops_lock(conn, account_id)


def apply_pass(
    engine: Engine, now: datetime, *, limit: int = 1000, parsed: dict[str, Callback] | None = None, dlr_costs: bool = False
) -> ApplyResult:
    """One transaction applying ``new`` rows, STOPs included; commits. The receiver's applier.
    ``dlr_costs``: a report's cost becomes its recipient's (`etl.push.dlr_cost`)."""
    with engine.connect() as conn:
        locked: list[int] = []
        try:
            with conn.begin():
                result = apply_new(conn, now, limit=limit, with_stops=True, parsed=parsed, locked=locked, dlr_costs=dlr_costs)
        finally:
            for account_id in locked:
                _release_stops_lock(conn, account_id)
            if locked:
                conn.commit()
    return result


def resolve_pending(
    conn: Connection, now: datetime, *, max_wait: timedelta = DEFAULT_MAX_WAIT, limit: int = 5000, dlr_costs: bool = False
) -> ApplyResult:
    """Apply delivery reports that were waiting for their message to be tracked; mark those still
    unknown after ``max_wait`` ``unmatched``; also apply any ``new`` reply or report a crash left
    behind (STOPs are left to the receiver's `apply_pass`, which holds the stops lock).

    Call it once per statuses cycle, inside the job's transaction, *after* new sends/recipients
    are stored (docs/push.md). Does not commit. Cheap when nothing waits (one indexed query).
    """
    result = ApplyResult()
    c, r = push_inbox.c, recipients.c
    known = select(r.id).where(r.account_id == c.account_id, r.message_id == c.message_id, r.phone_e164 == c.phone_e164).exists()
    rows = _claim(conn, ("waiting",), limit, extra=known)
    if rows:
        _apply_rows(conn, rows, now, result, with_stops=False, locked=[], dlr_costs=dlr_costs)
    expired = conn.execute(
        update(push_inbox)
        .where(c.state == "waiting", c.received_at < now - max_wait)
        .values(state="unmatched", detail="message never tracked")
    ).rowcount
    result.unmatched += max(expired, 0)
    leftover = apply_new(conn, now, limit=limit, with_stops=False, dlr_costs=dlr_costs)
    result.add(leftover)
    return result


def inbox_counts(conn: Connection) -> dict[str, int]:
    """Inbox rows per state (for metrics and `receive --status`)."""
    return {state: n for state, n in conn.execute(select(push_inbox.c.state, func.count()).group_by(push_inbox.c.state))}


def body_fields(body: str) -> list[str]:
    """The field names of a stored body (for support questions without printing values)."""
    try:
        return sorted(json.loads(body))
    except ValueError:
        return []

