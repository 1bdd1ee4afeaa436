"""Settling a write whose outcome is unknown by re-reading the account, never by sending again.

An ``unknown`` row (no answer came) or a ``pending`` one left by a crash mid-call is decided from
the stop list (add, remove), the message's statuses (cancel) or ``subaccount/list`` (the sub-account
writes: `listing.reread`); rows the re-read cannot decide yet
stay as they are and are read again next cycle, for `RESOLVE_WINDOW`. Each account's ``actions`` run
settles that account's rows with that account's key (a stop added with a sub-account's key is looked
for in the sub-account's list); the sub-account writes are the parent's rows.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Engine, or_, select

from etl.accounts import PARENT, AccountRef
from etl.api.protocol import ApiClient
from etl.clock import Clock
from etl.db.engine import writer
from etl.db.schema import write_actions
from etl.errors import ApiError, NotFound
from etl.jobs.actions import listing
from etl.jobs.actions.audit import _close_period, _complete, _open_period
from etl.jobs.actions.listing import SUBACCOUNT_ACTIONS, Effect
from etl.outcome import ActionOutcome

log = logging.getLogger(__name__)

#: A ``pending`` row younger than this may still be in flight in another process: leave it.
PENDING_GRACE = timedelta(minutes=10)
#: Unknown outcomes older than this are no longer re-read every cycle (they stay ``unknown``).
RESOLVE_WINDOW = timedelta(days=7)


@dataclass(frozen=True)
class ResolveSummary:
    resolved: int
    still_unknown: int
    details: tuple[str, ...] = ()


def cancel_outcome(statuses: Sequence[str | None]) -> tuple[ActionOutcome, str] | None:
    """Decide a cancel's outcome from its recipients' statuses; ``None`` when they cannot tell.

    The status of a cancelled message is undocumented (REFERENCE §4). We read: any recipient still
    ``Waiting`` → the send is still scheduled, the cancel did not happen; any ``Delivered`` → it
    went out; every recipient final and none delivered → it will never go out: cancelled.
    """
    known = [s.strip().lower() for s in statuses if s]
    if not known:
        return None
    if any(s == "waiting" for s in known):
        return ActionOutcome.RESOLVED_NOT_DONE, "the send is still scheduled (recipients Waiting): not cancelled; cancel again if still wanted"
    if any(s in ("delivered", "delivrd") for s in known):
        return ActionOutcome.RESOLVED_NOT_DONE, "the message was delivered: it was not cancelled"
    return ActionOutcome.RESOLVED_SUCCESS, "no recipient is waiting or delivered: the send was cancelled"


def _reread(client: ApiClient, row: Any) -> tuple[ActionOutcome, str, int | None] | None:
    """(outcome, message, stop id) from a re-read, or ``None`` when it cannot tell yet."""
    if row.action == "stop_add":
        stop = client.find_stop_by_phone(row.target)
        if stop is None:
            return ActionOutcome.RESOLVED_NOT_DONE, f"{row.target} is not in the stop list: the add did not happen", None
        return ActionOutcome.RESOLVED_SUCCESS, f"{row.target} is in the stop list (stop id {stop.stop_id})", stop.stop_id
    if row.action == "stop_remove":
        if row.api_stop_id is None:
            return None
        if client.stop_exists(int(row.api_stop_id)):
            return ActionOutcome.RESOLVED_NOT_DONE, f"stop id {row.api_stop_id} is still in the stop list: not removed", None
        return ActionOutcome.RESOLVED_SUCCESS, f"stop id {row.api_stop_id} is no longer in the stop list: removed", int(row.api_stop_id)
    if row.action == "message_cancel":
        try:
            items = client.bulk_status(row.target)
        except NotFound:
            return None
        if getattr(items, "unreadable", ()):
            return None  # an unreadable recipient may be the one still Waiting: cannot tell yet
        decided = cancel_outcome([getattr(i, "status", None) for i in items])
        return None if decided is None else (decided[0], decided[1], None)
    return None


def _resolve_row(client: ApiClient, engine: Engine, row: Any, now: datetime) -> tuple[ActionOutcome, str] | None:
    effect: Effect | None = None
    if row.action in SUBACCOUNT_ACTIONS:
        found = listing.reread(client, row)
        if found is None:
            return None
        outcome, message, effect = found
        stop_id = None
    else:
        decided = _reread(client, row)
        if decided is None:
            return None
        outcome, message, stop_id = decided
    previous = f"{row.api_message} | " if row.api_message else ""
    with engine.begin() as conn:
        won = _complete(
            conn, row.id, outcome, now, code=row.api_code, message=f"{previous}re-read: {message}",
            stop_id=stop_id, only_if=(ActionOutcome.PENDING, ActionOutcome.UNKNOWN),
        )
        if won and outcome == ActionOutcome.RESOLVED_SUCCESS:
            if effect is not None:
                effect(conn, now)
            elif row.action == "stop_add" and stop_id is not None:
                _open_period(conn, int(row.account_id), row.target, stop_id, now)
            elif row.action == "stop_remove" and stop_id is not None:
                _close_period(conn, int(row.account_id), stop_id, row.id, now)
    return outcome, message


def _load_row(engine: Engine, action_id: int) -> Any:
    with engine.connect() as conn:
        row = conn.execute(select(write_actions).where(write_actions.c.id == action_id)).one()
        conn.rollback()
    return row


def resolve_unknown_actions(
    client: ApiClient, engine: Engine, now: datetime | Clock, *, account: AccountRef = PARENT
) -> ResolveSummary:
    """Re-read ``account``'s ``unknown`` rows (and ``pending`` rows left by a crash) and settle them;
    ``client`` holds that account's key.

    The sub-account writes are the parent's rows: only the parent's ``subaccount/list`` shows the
    sub-accounts (a sub-account's key lists none, which would read as "not created", "removed")."""
    engine = writer(engine)
    at = now() if callable(now) else now
    w = write_actions.c
    query = select(write_actions).where(
        w.account_id == account.id,
        w.requested_at >= at - RESOLVE_WINDOW,
        or_(w.outcome == ActionOutcome.UNKNOWN.value, (w.outcome == ActionOutcome.PENDING.value) & (w.requested_at < at - PENDING_GRACE)),
    )
    if not account.is_parent:
        query = query.where(w.action.not_in(sorted(SUBACCOUNT_ACTIONS)))
    with engine.connect() as conn:
        rows = conn.execute(query.order_by(w.id)).all()
        conn.rollback()
    resolved = 0
    details: list[str] = []
    for row in rows:
        try:
            decided = _resolve_row(client, engine, row, at)
        except ApiError as exc:
            log.warning("write %d (%s): re-read failed: %s", row.id, row.action, exc)
            decided = None
        if decided is None:
            if row.outcome == ActionOutcome.PENDING:
                with engine.begin() as conn:
                    _complete(conn, row.id, ActionOutcome.UNKNOWN, at, message="the process died during the call", only_if=(ActionOutcome.PENDING,))
            continue
        resolved += 1
        details.append(f"#{row.id} {row.action}={decided[0]}")
        log.info("write %d (%s) resolved: %s", row.id, row.action, decided[1])
    return ResolveSummary(resolved, len(rows) - resolved, tuple(details))
