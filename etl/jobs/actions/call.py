"""One audited write's call and the completion of its row: the path every write operation goes through.

The ``pending`` row is committed before (`audit._open_action`); here the call is made once, and its row is
completed as ``success`` or ``rejected`` in the same transaction as its effect, or becomes ``unknown`` and is
re-read at once (`resolve`), never sent again.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import TypeVar

from sqlalchemy import Connection, Engine

from etl.api.parse import WriteResult
from etl.api.protocol import ApiClient
from etl.clock import Clock
from etl.errors import ApiError, ApiRejected, ConnectFailed, UnknownOutcome
from etl.jobs.actions.audit import _complete
from etl.jobs.actions.codes import ENDPOINT_OF, explain
from etl.jobs.actions.resolve import _load_row, _resolve_row
from etl.outcome import ActionOutcome

log = logging.getLogger(__name__)

#: What a write's call returns: `WriteResult`, or a sub-account answer (`CreditMove`, a created sub-account).
Answer = TypeVar("Answer")

#: The control code of a success whose parsed answer carries none (the sub-account answers: code 200 or no
#: envelope at all, both judged a success by `etl.api.parse.check_envelope`).
SUCCESS_CODE = 200


@dataclass(frozen=True, kw_only=True)
class ActionResult:
    """What one write operation did. ``action_id`` is ``None`` for a dry run (no row, no call)."""

    action_id: int | None
    action: str
    target: str
    #: success, rejected, unknown, resolved_success, resolved_not_done, dry_run
    outcome: ActionOutcome
    message: str
    #: The API's control code, when an answer came.
    api_code: int | None = None
    stop_id: int | None = None

    @property
    def ok(self) -> bool:
        return self.outcome.ok


def _dry_run(action: str, target: str, message: str, *, stop_id: int | None = None) -> ActionResult:
    """What a ``--dry-run`` answers: what a real run would do, no call and no audit row."""
    return ActionResult(
        action_id=None, action=action, target=target, outcome=ActionOutcome.DRY_RUN, message=message, stop_id=stop_id
    )


def _call(
    engine: Engine,
    client: ApiClient,
    action_id: int,
    action: str,
    target: str,
    call: Callable[[], Answer],
    on_success: Callable[[Connection, Answer, datetime], tuple[str, int | None]],
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
        return ActionResult(
            action_id=action_id,
            action=action,
            target=target,
            outcome=ActionOutcome.REJECTED,
            api_code=exc.code,
            message=message,
        )
    except ConnectFailed as exc:
        message = f"not sent: the API could not be reached ({exc})"
        with engine.begin() as conn:
            _complete(conn, action_id, ActionOutcome.REJECTED, clock(), message=message)
        return ActionResult(
            action_id=action_id,
            action=action,
            target=target,
            outcome=ActionOutcome.REJECTED,
            message=message,
        )
    except ApiError as exc:
        # An answer we cannot read (PayloadError): the server may have acted. Re-read.
        with engine.begin() as conn:
            _complete(conn, action_id, ActionOutcome.UNKNOWN, clock(), message=f"unreadable answer: {exc}")
        return _resolve_now(client, engine, action_id, clock)
    with engine.begin() as conn:
        now = clock()
        message, stop_id = on_success(conn, answer, now)
        code = answer.code if isinstance(answer, WriteResult) else SUCCESS_CODE
        _complete(conn, action_id, ActionOutcome.SUCCESS, now, code=code, message=message, stop_id=stop_id)
    return ActionResult(
        action_id=action_id,
        action=action,
        target=target,
        outcome=ActionOutcome.SUCCESS,
        api_code=code,
        message=message,
        stop_id=stop_id,
    )


def _resolve_now(client: ApiClient, engine: Engine, action_id: int, clock: Clock) -> ActionResult:
    row = _load_row(engine, action_id)
    try:
        decided = _resolve_row(client, engine, row, clock())
    except ApiError as exc:
        log.warning("write %d: re-read failed (%s); the actions job will retry", action_id, exc)
        decided = None
    if decided is None:
        return ActionResult(
            action_id=action_id,
            action=row.action,
            target=row.target,
            outcome=ActionOutcome.UNKNOWN,
            message="no answer from the API and a re-read could not tell yet whether it acted; "
            "the actions job re-reads it every cycle (nothing is sent again)",
        )
    outcome, message = decided
    stop_id = _load_row(engine, action_id).api_stop_id
    return ActionResult(
        action_id=action_id,
        action=row.action,
        target=row.target,
        outcome=outcome,
        message=f"no answer from the API; re-read: {message}",
        stop_id=stop_id,
    )
