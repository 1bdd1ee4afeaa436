"""The account's write operations, audited: add a stop, remove a stop, cancel a scheduled send, and the
parent's writes on its sub-accounts (credit moves, create, remove: `subaccounts`).

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

Here: the three stop and message operations, and the job. Beside it: `call` (the call and its row),
`codes` (control codes as sentences), `audit` (the rows and their effects on our copy), `consent` (what a
removal needs: consent evidence, the cool-off after a STOP reply), `resolve`
(re-reading an unknown outcome), `subaccounts` (the sub-account writes) and `listing` (what
``subaccount/list`` says about them).
"""

from __future__ import annotations

import logging
from datetime import datetime

from sqlalchemy import Connection, Engine

from etl import phones, runlog
from etl.accounts import PARENT, AccountRef
from etl.api.parse import WriteResult
from etl.api.protocol import ApiClient
from etl.clock import Clock, utcnow
from etl.config_compliance import DEFAULT_STOP_REPLY_COOLOFF
from etl.db.engine import writer
from etl.errors import InputError
from etl.jobs.actions import consent
from etl.jobs.actions.audit import (
    _close_period,
    _open_action,
    _open_period,
    _open_stop,
    _open_stops_of,
    _phone_of_stop,
    default_actor,
)
from etl.jobs.actions.call import ActionResult, _call, _dry_run
from etl.jobs.actions.codes import CODE_MESSAGES, COMMON_CODES, ENDPOINT_OF, explain
from etl.jobs.actions.resolve import (
    PENDING_GRACE,
    RESOLVE_WINDOW,
    ResolveSummary,
    cancel_outcome,
    resolve_unknown_actions,
)
from etl.jobs.actions.subaccounts import create_subaccount, credit_add, credit_remove, parse_amount, remove_subaccount
from etl.jobs.base import JobContext, RunResult

log = logging.getLogger(__name__)

NAME = "actions"

__all__ = [
    "CODE_MESSAGES", "COMMON_CODES", "ENDPOINT_OF", "NAME", "PENDING_GRACE", "RESOLVE_WINDOW", "ActionResult",
    "ResolveSummary", "add_stop", "cancel_message", "cancel_outcome", "create_subaccount", "credit_add",
    "credit_remove", "default_actor", "explain", "parse_amount", "remove_stop", "remove_subaccount",
    "resolve_unknown_actions", "run", "_open_action", "MAX_STOP_ID", "parse_stop_id",
]

#: Stop ids are stored as BIGINT (write_actions.api_stop_id, stop_periods.api_stop_id).
MAX_STOP_ID = 2**63 - 1


def parse_stop_id(text: str, field: str) -> int:
    """A stop list id as typed (``stops remove --id``, the console's field): a whole number from 1 to
    `MAX_STOP_ID`, else `InputError` naming ``field``. Pure."""
    typed = text.strip()
    if not (typed.isascii() and typed.isdigit()) or not 0 < int(typed) <= MAX_STOP_ID:
        raise InputError(f"{field}: a stop id is a whole number from 1 to {MAX_STOP_ID}, got {typed}")
    return int(typed)


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
    account: AccountRef = PARENT,
    period_source: str = "tool",
) -> ActionResult:
    """Add ``number`` (any common format) to ``account``'s stop list and open its stop period there
    (``client`` holds that account's key; ``period_source`` names who asked, ``reply-intent`` for
    `etl.jobs.actions.reply_intent`).

    A number our copy already lists as stopped is refused with `InputError`, no call and no row: the API
    accepts the same number twice and then holds two stops for it (issue 16). ``force`` sends anyway."""
    engine = writer(engine)
    e164 = phones.normalize(number)
    listed = _list_of(account)
    if not dry_run and not force:
        with engine.connect() as conn:
            already = _open_stop(conn, account.id, e164)
            conn.rollback()
        if already is not None:
            since, known_id, source = already
            how = f"stop id {known_id}" if known_id is not None else "not yet confirmed by a stop sync"
            raise InputError(
                f"{e164} is already in {listed} since {since:%Y-%m-%d %H:%M} UTC ({how}, source {source}): "
                "nothing sent; --force sends it anyway"
            )
    if dry_run:
        with engine.connect() as conn:
            known = _open_stops_of(conn, account.id, e164)
            conn.rollback()
        note = f" (our copy already lists it: stop id {known[0]})" if known else ""
        return _dry_run("stop_add", e164, f"would add {e164} to {_owned(account)} (POST stop-sms/add) and open its stop period{note}")
    assert client is not None, "only a dry run goes without a client"
    action_id = _open_action(engine, "stop_add", e164, actor, reason, now(), account_id=account.id)

    def effect(conn: Connection, answer: WriteResult, at: datetime) -> tuple[str, int | None]:
        if answer.stop_id is None:
            return f"{e164} added to {listed} (the answer carried no stop id; the next stop sync records it)", None
        _open_period(conn, account.id, e164, answer.stop_id, at, period_source)
        return f"{e164} added to {listed} (stop id {answer.stop_id})", answer.stop_id

    return _call(engine, client, action_id, "stop_add", e164, lambda: client.add_stop(e164), effect, now)


def remove_stop(
    client: ApiClient | None,
    engine: Engine,
    number: str | None = None,
    *,
    stop_id: int | None = None,
    consent_evidence: str,
    override: bool = False,
    cooloff: float = DEFAULT_STOP_REPLY_COOLOFF,
    actor: str | None = None,
    reason: str | None = None,
    now: Clock = utcnow,
    dry_run: bool = False,
    account: AccountRef = PARENT,
) -> ActionResult:
    """Remove a stop from ``account``'s list by number or by the list's id; closes its period there as
    removed by this tool (``client`` holds that account's key).

    ``consent_evidence`` (how the number opted back in) is required and kept on the audit row. A stop
    from a STOP reply is refused within ``cooloff`` seconds of it (``[compliance] stop_reply_cooloff``)
    unless ``override`` with a ``reason`` (audited and chained: `etl.jobs.actions.consent`)."""
    engine = writer(engine)
    listed = _list_of(account)
    if (number is None) == (stop_id is None):
        raise InputError("give either a number or a stop id, not both")
    evidence = consent.evidence_of(consent_evidence)
    e164: str | None = None
    with engine.connect() as conn:
        if number is not None:
            e164 = phones.normalize(number)
            known = _open_stops_of(conn, account.id, e164)
            if len(known) > 1:
                raise InputError(f"{e164} has several open stops ({', '.join(map(str, known))}): remove one with --id")
            stop_id = known[0] if known else None
        else:
            e164 = _phone_of_stop(conn, account.id, int(stop_id))  # type: ignore[arg-type]
        reply_stop = consent.reply_stop_of(conn, account.id, e164, stop_id)
        conn.rollback()
    overridden = consent.overrides_cooloff(
        reply_stop, override=override, reason=reason, cooloff=cooloff, now=now(), target=e164 or f"stop id {stop_id}"
    )
    if dry_run:
        if stop_id is None:
            return _dry_run(
                "stop_remove", e164 or "",
                f"{e164} is not in our copy of {listed}; a real run would look it up in {_owned(account)} "
                "and remove it if found (GET stop-sms/delete)",
            )
        return _dry_run(
            "stop_remove", e164 or str(stop_id),
            f"would remove stop id {stop_id}{f' ({e164})' if e164 else ''} from {_owned(account)} "
            "(GET stop-sms/delete) and close its stop period as removed by this tool"
            + (", overriding the cool-off after its STOP reply" if overridden else ""),
            stop_id=stop_id,
        )
    assert client is not None, "only a dry run goes without a client"
    if stop_id is None:
        assert e164 is not None
        found = client.find_stop_by_phone(e164)  # a read: our copy may be behind the account
        if found is None:
            raise InputError(f"{e164} is not in {_owned(account)}: nothing to remove")
        stop_id = found.stop_id
    sid = int(stop_id)
    target = e164 or str(sid)
    action_id = _open_action(
        engine, "stop_remove", target, actor, reason, now(), stop_id=sid, account_id=account.id,
        consent_evidence=evidence, cooloff_override=overridden,
    )

    def effect(conn: Connection, answer: WriteResult, at: datetime) -> tuple[str, int | None]:
        closed = _close_period(conn, account.id, sid, action_id, at)
        note = "" if closed else " (no open period in our copy to close)"
        if overridden:
            note += " (cool-off after a STOP reply overridden, audited)"
        return f"stop id {sid}{f' ({e164})' if e164 else ''} removed from {listed}{note}", sid

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
    account: AccountRef = PARENT,
) -> ActionResult:
    """Cancel ``account``'s scheduled send (``client`` holds its key). Within 5 minutes of its time the API
    answers code 6 (reported plainly)."""
    engine = writer(engine)
    mid = str(message_id).strip()
    if not mid or any(ch.isspace() for ch in mid) or len(mid) > 64:
        raise InputError(f"{message_id!r} is not a message id")
    if dry_run:
        return _dry_run("message_cancel", mid, f"would cancel the scheduled send {mid}{_of(account)} (GET message-cancel)")
    assert client is not None, "only a dry run goes without a client"
    action_id = _open_action(engine, "message_cancel", mid, actor, reason, now(), account_id=account.id)

    def effect(conn: Connection, answer: WriteResult, at: datetime) -> tuple[str, int | None]:
        return f"send {mid}{_of(account)} cancelled" + (f" ({answer.message})" if answer.message else ""), None

    return _call(engine, client, action_id, "message_cancel", mid, lambda: client.cancel_message(mid), effect, now)


def _of(account: AccountRef) -> str:
    """`` of shop-1`` after what a sub-account's write names; nothing for the parent (its texts as before)."""
    return "" if account.is_parent else f" of {account.label}"


def _list_of(account: AccountRef) -> str:
    return f"the stop list{_of(account)}"


def _owned(account: AccountRef) -> str:
    """Where the texts that said "the account's stop list" before sub-accounts still say so for the parent."""
    return "the account's stop list" if account.is_parent else _list_of(account)


def run(ctx: JobContext) -> RunResult:
    """The ``actions`` job: settle unknown write outcomes by re-reading the account; with
    ``[compliance] reply_intent_adds_stop``, add the numbers of flagged replies to the stop list."""
    summary = resolve_unknown_actions(ctx.client, ctx.engine, ctx.now, account=ctx.account)
    added = 0
    if ctx.config.compliance.reply_intent_adds_stop:
        from etl.jobs.actions.reply_intent import add_flagged_replies

        added = add_flagged_replies(ctx.client, ctx.engine, ctx.now, account=ctx.account)
    result = RunResult(
        added=added,
        changed=summary.resolved,
        detail=f"resolved={summary.resolved} still_unknown={summary.still_unknown} reply_intent_added={added}"
        + (f"; {', '.join(summary.details)}" if summary.details else ""),
        figures={"resolved": summary.resolved, "still_unknown": summary.still_unknown, "reply_intent_added": added},
    )
    with ctx.engine.begin() as conn:
        runlog.finish_run(conn, ctx.run_id, result, ctx.now())
    return result
