"""The account's write operations, audited: add a stop, remove a stop, cancel a scheduled send.

Every operation follows the same three steps, so a compliance officer can read what happened in
`write_actions` whatever the failure:

1. **Before the call**: a ``pending`` row (action, target, actor, reason, requested_at),
   committed on its own. A number is normalised to E.164 first (`etl.phones.normalize`, strict);
   an invalid one is refused with `InvalidPhoneNumber` and no row and no call.
2. **The call**, once. The client never repeats a write unless the request surely never left
   (`etl.api.retry`).
3. **After the call**: the row is completed (``success`` or ``rejected``, API code and message) in
   the same transaction as its effect on our copy: ``stop_remove`` closes the open stop period
   (``removed_how='tool'``, ``removed_by_action_id``); ``stop_add`` opens one (``source='tool'``,
   ``api_stop_id`` from the answer, so the stop sync recognises it and never opens a second).

When the call may have reached the server but no answer came (read timeout, dropped connection,
5xx: `UnknownOutcome`), the row becomes ``unknown`` and is resolved **by re-reading, never by
sending again**: the stop list (add/remove) or the message's statuses (cancel). The operation
tries once at once; what is still ``unknown`` (or ``pending`` after a crash mid-call) is resolved
by `resolve_unknown_actions`, which the ``actions`` job runs every cycle. Resolved rows say
``resolved_success`` or ``resolved_not_done``.

Codes are explained per endpoint (quirk 15: the same code means different things per endpoint).
"""

from __future__ import annotations

import getpass
import logging
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Connection, Engine, func, insert, or_, select, update

from etl import phones, runlog
from etl.api.parse import WriteResult
from etl.api.protocol import ApiClient
from etl.clock import utcnow
from etl.db import dialect
from etl.db.engine import writer
from etl.db.schema import stop_periods, write_actions
from etl.errors import ApiError, ApiRejected, ConnectFailed, InputError, NotFound, UnknownOutcome
from etl.jobs.base import JobContext, RunResult
from etl.outcome import ActionOutcome

log = logging.getLogger(__name__)

NAME = "actions"
#: A ``pending`` row younger than this may still be in flight in another process: leave it.
PENDING_GRACE = timedelta(minutes=10)
#: Unknown outcomes older than this are no longer re-read every cycle (they stay ``unknown``).
RESOLVE_WINDOW = timedelta(days=7)

Clock = Callable[[], datetime]

# --------------------------------------------------------------------------------------------------
# Codes → plain sentences, per endpoint (REFERENCE §3.9, §3.11, §3.12; quirk 15)
# --------------------------------------------------------------------------------------------------

COMMON_CODES = {
    1: "the API key is missing (API code 1): check api.key in the configuration",
    10: "the API key is invalid (API code 10): check api.key in the configuration",
}

CODE_MESSAGES: dict[str, dict[int, str]] = {
    "stop-sms/add": {
        2: "the API says the phone number is missing (API code 2)",
        # WEB and the old site: "already in stop list"; DOC says "message ID required" (quirk 15).
        3: "this number is already in the account's stop list (API code 3)",
        9: "the API refused the number as invalid (API code 9)",
    },
    "stop-sms/delete": {
        2: "the API says a phone number is required (API code 2; this endpoint takes a stop id)",
        3: "the API says the stop id is missing (API code 3)",
        4: "this stop id is not in the account's stop list (API code 4): already removed?",
    },
    "message-cancel": {
        3: "the API says the message id is missing (API code 3)",
        4: "no such message on the account (API code 4)",
        # DOC-err gives 5 = empty number list, 6 = bad format; the cancel page (SEED-002) gives the
        # meanings below, which match what the endpoint does (quirk 15).
        5: "this send was already cancelled (API code 5)",
        6: "too late to cancel: a send cannot be cancelled less than 5 minutes before its scheduled time (API code 6)",
        7: "this message was already sent and cannot be cancelled (API code 7)",
    },
}

ENDPOINT_OF = {"stop_add": "stop-sms/add", "stop_remove": "stop-sms/delete", "message_cancel": "message-cancel"}


def explain(endpoint: str, code: int, api_message: str | None = None) -> str:
    """A plain sentence for control code ``code`` of ``endpoint``."""
    text = CODE_MESSAGES.get(endpoint, {}).get(code) or COMMON_CODES.get(code)
    if text:
        return text
    return f"the API refused the request (API code {code}{': ' + api_message if api_message else ''})"


@dataclass(frozen=True)
class ActionResult:
    """What one write operation did. ``action_id`` is ``None`` for a dry run (no row, no call)."""

    action_id: int | None
    action: str
    target: str
    #: success, rejected, unknown, resolved_success, resolved_not_done, dry_run
    outcome: ActionOutcome
    api_code: int | None
    message: str
    stop_id: int | None = None

    @property
    def ok(self) -> bool:
        return self.outcome.ok


@dataclass(frozen=True)
class ResolveSummary:
    resolved: int
    still_unknown: int
    details: tuple[str, ...] = ()


def default_actor() -> str:
    """The OS user running the command."""
    try:
        return getpass.getuser()
    except Exception:  # noqa: BLE001 - no passwd entry in a container: fall back to the uid
        return f"uid:{os.getuid()}"


# --------------------------------------------------------------------------------------------------
# Audit rows and their effects on our copy (helpers take a connection and never commit)
# --------------------------------------------------------------------------------------------------


def _open_action(
    engine: Engine, action: str, target: str, actor: str | None, reason: str | None, now: datetime, stop_id: int | None = None
) -> int:
    """The ``pending`` row, committed before the call."""
    with engine.begin() as conn:
        result = conn.execute(
            insert(write_actions).values(
                action=action, target=target[:64], actor=(actor or default_actor())[:128], reason=reason,
                requested_at=now, outcome=ActionOutcome.PENDING.value, api_stop_id=stop_id,
            )
        )
        return dialect.inserted_id(result)


def _complete(
    conn: Connection,
    action_id: int,
    outcome: ActionOutcome,
    now: datetime,
    *,
    code: int | None = None,
    message: str | None = None,
    stop_id: int | None = None,
    only_if: Sequence[ActionOutcome] | None = None,
) -> bool:
    values: dict[str, Any] = {"outcome": outcome.value, "completed_at": now, "api_code": code, "api_message": message}
    if stop_id is not None:
        values["api_stop_id"] = stop_id
    stmt = update(write_actions).where(write_actions.c.id == action_id)
    if only_if is not None:
        stmt = stmt.where(write_actions.c.outcome.in_([o.value for o in only_if]))
    return bool(conn.execute(stmt.values(**values)).rowcount)


def _open_period(conn: Connection, phone_e164: str, stop_id: int, now: datetime) -> None:
    """Open a ``tool`` stop period for a stop this tool added, unless one is already open for it."""
    p = stop_periods.c
    is_open = p.removed_at.is_(None)
    if conn.execute(select(p.id).where(is_open, p.api_stop_id == stop_id)).first() is not None:
        return  # the stop sync got there first
    pushed = conn.execute(
        select(p.id).where(is_open, p.api_stop_id.is_(None), p.phone_e164 == phone_e164).limit(1)
    ).scalar()
    if pushed is not None:  # a STOP pushed by callback, not yet confirmed: adopt it
        conn.execute(update(stop_periods).where(p.id == pushed).values(api_stop_id=stop_id))
        return
    conn.execute(
        insert(stop_periods).values(
            api_stop_id=stop_id, phone_e164=phone_e164, phone_raw=phone_e164, first_seen_at=now, source="tool"
        )
    )


def _close_period(conn: Connection, stop_id: int, action_id: int, now: datetime) -> int:
    p = stop_periods.c
    return int(
        conn.execute(
            update(stop_periods)
            .where(p.removed_at.is_(None), p.api_stop_id == stop_id)
            .values(removed_at=now, removed_how="tool", removed_by_action_id=action_id, last_seen_at=now)
        ).rowcount
        or 0
    )


def _open_stops_of(conn: Connection, phone_e164: str) -> list[int]:
    p = stop_periods.c
    return [
        int(i)
        for i in conn.execute(
            select(p.api_stop_id).where(p.removed_at.is_(None), p.phone_e164 == phone_e164, p.api_stop_id.is_not(None))
        ).scalars()
    ]


def _open_stop(conn: Connection, phone_e164: str) -> tuple[datetime, int | None, str] | None:
    """The earliest open stop period of a number in our copy: (since, its stop id, where it came from)."""
    p = stop_periods.c
    since = func.coalesce(p.api_created_at, p.first_seen_at)
    row = conn.execute(
        select(since, p.api_stop_id, p.source)
        .where(p.removed_at.is_(None), p.phone_e164 == phone_e164)
        .order_by(since, p.id)
        .limit(1)
    ).first()
    return None if row is None else (row[0], row[1], row[2])


def _phone_of_stop(conn: Connection, stop_id: int) -> str | None:
    p = stop_periods.c
    return conn.execute(
        select(p.phone_e164).where(p.api_stop_id == stop_id).order_by(p.removed_at.is_(None).desc(), p.id.desc()).limit(1)
    ).scalar()


# --------------------------------------------------------------------------------------------------
# The three operations
# --------------------------------------------------------------------------------------------------


def _call(
    engine: Engine,
    client: ApiClient,
    action_id: int,
    action: str,
    target: str,
    call: Callable[[], WriteResult],
    on_success: Callable[[Connection, WriteResult, datetime], tuple[str, int | None]],
    clock: Clock,
) -> ActionResult:
    """The call and the completion of its row; ``on_success`` applies the effect and says what happened."""
    endpoint = ENDPOINT_OF[action]
    try:
        answer = call()
    except UnknownOutcome as exc:
        with engine.begin() as conn:
            _complete(conn, action_id, ActionOutcome.UNKNOWN, clock(), message=f"no answer: {exc}")
        log.warning("write %d (%s) outcome unknown; re-reading to resolve it", action_id, action)
        return _resolve_now(client, engine, action_id, clock)
    except ApiRejected as exc:
        message = explain(endpoint, exc.code, exc.api_message)
        with engine.begin() as conn:
            _complete(conn, action_id, ActionOutcome.REJECTED, clock(), code=exc.code, message=message)
        return ActionResult(action_id, action, target, ActionOutcome.REJECTED, exc.code, message)
    except ConnectFailed as exc:
        message = f"not sent: the API could not be reached ({exc})"
        with engine.begin() as conn:
            _complete(conn, action_id, ActionOutcome.REJECTED, clock(), message=message)
        return ActionResult(action_id, action, target, ActionOutcome.REJECTED, None, message)
    except ApiError as exc:
        # An answer we cannot read (PayloadError): the server may have acted. Re-read.
        with engine.begin() as conn:
            _complete(conn, action_id, ActionOutcome.UNKNOWN, clock(), message=f"unreadable answer: {exc}")
        return _resolve_now(client, engine, action_id, clock)
    with engine.begin() as conn:
        now = clock()
        message, stop_id = on_success(conn, answer, now)
        _complete(conn, action_id, ActionOutcome.SUCCESS, now, code=answer.code, message=message, stop_id=stop_id)
    return ActionResult(action_id, action, target, ActionOutcome.SUCCESS, answer.code, message, stop_id)


def add_stop(
    client: ApiClient | None,
    engine: Engine,
    number: str,
    *,
    actor: str | None = None,
    reason: str | None = None,
    now: Clock = utcnow,
    dry_run: bool = False,
    force: bool = False,
) -> ActionResult:
    """Add ``number`` (any common format) to the account's stop list and open its stop period.

    A number our copy already lists as stopped is refused with `InputError`, no call and no row: the API
    accepts the same number twice and then holds two stops for it (issue 16). ``force`` sends anyway."""
    engine = writer(engine)
    e164 = phones.normalize(number)
    if not dry_run and not force:
        with engine.connect() as conn:
            already = _open_stop(conn, e164)
            conn.rollback()
        if already is not None:
            since, known_id, source = already
            how = f"stop id {known_id}" if known_id is not None else "not yet confirmed by a stop sync"
            raise InputError(
                f"{e164} is already in the stop list since {since:%Y-%m-%d %H:%M} UTC ({how}, source {source}): "
                "nothing sent; --force sends it anyway"
            )
    if dry_run:
        with engine.connect() as conn:
            known = _open_stops_of(conn, e164)
            conn.rollback()
        note = f" (our copy already lists it: stop id {known[0]})" if known else ""
        return ActionResult(
            None, "stop_add", e164, ActionOutcome.DRY_RUN, None,
            f"would add {e164} to the account's stop list (POST stop-sms/add) and open its stop period{note}",
        )
    assert client is not None, "only a dry run goes without a client"
    action_id = _open_action(engine, "stop_add", e164, actor, reason, now())

    def effect(conn: Connection, answer: WriteResult, at: datetime) -> tuple[str, int | None]:
        if answer.stop_id is None:
            return f"{e164} added to the stop list (the answer carried no stop id; the next stop sync records it)", None
        _open_period(conn, e164, answer.stop_id, at)
        return f"{e164} added to the stop list (stop id {answer.stop_id})", answer.stop_id

    return _call(engine, client, action_id, "stop_add", e164, lambda: client.add_stop(e164), effect, now)


def remove_stop(
    client: ApiClient | None,
    engine: Engine,
    number: str | None = None,
    *,
    stop_id: int | None = None,
    actor: str | None = None,
    reason: str | None = None,
    now: Clock = utcnow,
    dry_run: bool = False,
) -> ActionResult:
    """Remove a stop by number or by the list's id; closes its period as removed by this tool."""
    engine = writer(engine)
    if (number is None) == (stop_id is None):
        raise InputError("give either a number or a stop id, not both")
    e164: str | None = None
    with engine.connect() as conn:
        if number is not None:
            e164 = phones.normalize(number)
            known = _open_stops_of(conn, e164)
            if len(known) > 1:
                raise InputError(f"{e164} has several open stops ({', '.join(map(str, known))}): remove one with --id")
            stop_id = known[0] if known else None
        else:
            e164 = _phone_of_stop(conn, int(stop_id))  # type: ignore[arg-type]
        conn.rollback()
    if dry_run:
        if stop_id is None:
            return ActionResult(
                None, "stop_remove", e164 or "", ActionOutcome.DRY_RUN, None,
                f"{e164} is not in our copy of the stop list; a real run would look it up in the account's list "
                "and remove it if found (GET stop-sms/delete)",
            )
        return ActionResult(
            None, "stop_remove", e164 or str(stop_id), ActionOutcome.DRY_RUN, None,
            f"would remove stop id {stop_id}{f' ({e164})' if e164 else ''} from the account's stop list "
            "(GET stop-sms/delete) and close its stop period as removed by this tool",
            stop_id,
        )
    assert client is not None, "only a dry run goes without a client"
    if stop_id is None:
        assert e164 is not None
        found = client.find_stop_by_phone(e164)  # a read: our copy may be behind the account
        if found is None:
            raise InputError(f"{e164} is not in the account's stop list: nothing to remove")
        stop_id = found.stop_id
    sid = int(stop_id)
    target = e164 or str(sid)
    action_id = _open_action(engine, "stop_remove", target, actor, reason, now(), stop_id=sid)

    def effect(conn: Connection, answer: WriteResult, at: datetime) -> tuple[str, int | None]:
        closed = _close_period(conn, sid, action_id, at)
        note = "" if closed else " (no open period in our copy to close)"
        return f"stop id {sid}{f' ({e164})' if e164 else ''} removed from the stop list{note}", sid

    return _call(engine, client, action_id, "stop_remove", target, lambda: client.delete_stop(sid), effect, now)


def cancel_message(
    client: ApiClient | None,
    engine: Engine,
    message_id: str,
    *,
    actor: str | None = None,
    reason: str | None = None,
    now: Clock = utcnow,
    dry_run: bool = False,
) -> ActionResult:
    """Cancel a scheduled send. Within 5 minutes of its time the API answers code 6 (reported plainly)."""
    engine = writer(engine)
    mid = str(message_id).strip()
    if not mid or any(ch.isspace() for ch in mid) or len(mid) > 64:
        raise InputError(f"{message_id!r} is not a message id")
    if dry_run:
        return ActionResult(None, "message_cancel", mid, ActionOutcome.DRY_RUN, None, f"would cancel the scheduled send {mid} (GET message-cancel)")
    assert client is not None, "only a dry run goes without a client"
    action_id = _open_action(engine, "message_cancel", mid, actor, reason, now())

    def effect(conn: Connection, answer: WriteResult, at: datetime) -> tuple[str, int | None]:
        return f"send {mid} cancelled" + (f" ({answer.message})" if answer.message else ""), None

    return _call(engine, client, action_id, "message_cancel", mid, lambda: client.cancel_message(mid), effect, now)


# --------------------------------------------------------------------------------------------------
# Resolving unknown outcomes by re-reading (never by sending again)
# --------------------------------------------------------------------------------------------------


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
            if row.action == "stop_add" and stop_id is not None:
                _open_period(conn, row.target, stop_id, now)
            elif row.action == "stop_remove" and stop_id is not None:
                _close_period(conn, stop_id, row.id, now)
    return outcome, message


def _load_row(engine: Engine, action_id: int) -> Any:
    with engine.connect() as conn:
        row = conn.execute(select(write_actions).where(write_actions.c.id == action_id)).one()
        conn.rollback()
    return row


def _resolve_now(client: ApiClient, engine: Engine, action_id: int, clock: Clock) -> ActionResult:
    row = _load_row(engine, action_id)
    try:
        decided = _resolve_row(client, engine, row, clock())
    except ApiError as exc:
        log.warning("write %d: re-read failed (%s); the actions job will retry", action_id, exc)
        decided = None
    if decided is None:
        return ActionResult(
            action_id, row.action, row.target, ActionOutcome.UNKNOWN, None,
            "no answer from the API and a re-read could not tell yet whether it acted; "
            "the actions job re-reads it every cycle (nothing is sent again)",
        )
    outcome, message = decided
    stop_id = _load_row(engine, action_id).api_stop_id
    return ActionResult(action_id, row.action, row.target, outcome, None, f"no answer from the API; re-read: {message}", stop_id)


def resolve_unknown_actions(client: ApiClient, engine: Engine, now: datetime | Clock) -> ResolveSummary:
    """Re-read every ``unknown`` row (and ``pending`` rows left by a crash) and settle them."""
    engine = writer(engine)
    at = now() if callable(now) else now
    w = write_actions.c
    with engine.connect() as conn:
        rows = conn.execute(
            select(write_actions)
            .where(
                w.requested_at >= at - RESOLVE_WINDOW,
                or_(w.outcome == ActionOutcome.UNKNOWN.value, (w.outcome == ActionOutcome.PENDING.value) & (w.requested_at < at - PENDING_GRACE)),
            )
            .order_by(w.id)
        ).all()
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


def run(ctx: JobContext) -> RunResult:
    """The ``actions`` job: settle unknown write outcomes by re-reading the account."""
    summary = resolve_unknown_actions(ctx.client, ctx.engine, ctx.now)
    result = RunResult(
        changed=summary.resolved,
        detail=f"resolved={summary.resolved} still_unknown={summary.still_unknown}"
        + (f"; {', '.join(summary.details)}" if summary.details else ""),
        figures={"resolved": summary.resolved, "still_unknown": summary.still_unknown},
    )
    with ctx.engine.begin() as conn:
        runlog.finish_run(conn, ctx.run_id, result, ctx.now())
    return result
