"""The ``write_actions`` rows and their effects on our copy of the stop list (the sub-account writes'
effects on ``accounts`` are in `listing`).

A row is opened (``pending``) and committed before the call; it is completed in the same
transaction as its effect on ``stop_periods``. Helpers that take a connection never commit. Every
row and every lookup names the account the write was made for (``account_id``): a number stopped
in one account says nothing about another's list (docs/rentals-and-actions.md, "Which account").
Each insert, completion and closure of a stop period appends its entry to the audit chain in the same
transaction (`etl.compliance.chain`; docs/compliance.md).
"""

from __future__ import annotations

import getpass
import os
from collections.abc import Sequence
from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import Connection, Engine, func, insert, select, update

from etl.accounts import PARENT_ID
from etl.compliance import chain
from etl.db import dialect
from etl.db.schema import stop_periods, write_actions
from etl.outcome import ActionOutcome

#: What the chain's ``cooloff_override`` entry records of the removal row: who, why, on what evidence.
OVERRIDE_COLUMNS = ("id", "account_id", "action", "target", "api_stop_id", "actor", "reason", "consent_evidence", "cooloff_override")


def default_actor() -> str:
    """The OS user running the command."""
    try:
        return getpass.getuser()
    except Exception:  # noqa: BLE001 - no passwd entry in a container: fall back to the uid
        return f"uid:{os.getuid()}"


def _open_action(
    engine: Engine, action: str, target: str, actor: str | None, reason: str | None, now: datetime, stop_id: int | None = None,
    *, amount: Decimal | None = None, balance_before: Decimal | None = None, account_id: int = PARENT_ID,
    consent_evidence: str | None = None, cooloff_override: bool = False,
) -> int:
    """The ``pending`` row, committed before the call; ``account_id`` the account whose key makes it.
    A cool-off override gets a chain entry of its own (``cooloff_override``) beside the row's."""
    with engine.begin() as conn:
        chain.lock_head(conn)  # before the insert: write ids then follow the chain's order (chain.AUDITED)
        result = conn.execute(
            insert(write_actions).values(
                action=action, target=target[:64], actor=(actor or default_actor())[:128], reason=reason,
                requested_at=now, outcome=ActionOutcome.PENDING.value, api_stop_id=stop_id,
                amount=amount, balance_before=balance_before, account_id=account_id,
                consent_evidence=consent_evidence, cooloff_override=cooloff_override,
            )
        )
        action_id = dialect.inserted_id(result)
        chain.append_row(conn, "action_open", write_actions, action_id, at=now)
        if cooloff_override:
            chain.append_row(conn, "cooloff_override", write_actions, action_id, at=now, columns=OVERRIDE_COLUMNS)
        return action_id


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
    if not conn.execute(stmt.values(**values)).rowcount:
        return False
    chain.append_row(conn, "action_complete", write_actions, action_id, at=now)
    return True


def _open_period(conn: Connection, account_id: int, phone_e164: str, stop_id: int, now: datetime, source: str = "tool") -> None:
    """Open a stop period (``source``: ``tool``, or ``reply-intent``) for a stop this tool added, unless one is already open for it."""
    p = stop_periods.c
    is_open = (p.account_id == account_id) & p.removed_at.is_(None)
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
            api_stop_id=stop_id, phone_e164=phone_e164, phone_raw=phone_e164, first_seen_at=now, source=source,
            account_id=account_id,
        )
    )


def _close_period(conn: Connection, account_id: int, stop_id: int, action_id: int, now: datetime) -> int:
    p = stop_periods.c
    ids = [int(i) for i in conn.execute(select(p.id).where(p.account_id == account_id, p.removed_at.is_(None), p.api_stop_id == stop_id)).scalars()]
    if not ids:
        return 0
    conn.execute(
        update(stop_periods)
        .where(p.id.in_(ids))
        .values(removed_at=now, removed_how="tool", removed_by_action_id=action_id, last_seen_at=now)
    )
    for period_id in ids:
        chain.append_row(conn, "stop_closed_by_tool", stop_periods, period_id, at=now, columns=chain.STOP_CLOSURE_COLUMNS)
    return len(ids)


def _open_stops_of(conn: Connection, account_id: int, phone_e164: str) -> list[int]:
    p = stop_periods.c
    return [
        int(i)
        for i in conn.execute(
            select(p.api_stop_id).where(
                p.account_id == account_id, p.removed_at.is_(None), p.phone_e164 == phone_e164, p.api_stop_id.is_not(None)
            )
        ).scalars()
    ]


def _open_stop(conn: Connection, account_id: int, phone_e164: str) -> tuple[datetime, int | None, str] | None:
    """The earliest open stop period of a number in our copy: (since, its stop id, where it came from)."""
    p = stop_periods.c
    since = func.coalesce(p.api_created_at, p.first_seen_at)
    row = conn.execute(
        select(since, p.api_stop_id, p.source)
        .where(p.account_id == account_id, p.removed_at.is_(None), p.phone_e164 == phone_e164)
        .order_by(since, p.id)
        .limit(1)
    ).first()
    return None if row is None else (row[0], row[1], row[2])


def _phone_of_stop(conn: Connection, account_id: int, stop_id: int) -> str | None:
    p = stop_periods.c
    return conn.execute(
        select(p.phone_e164).where(p.account_id == account_id, p.api_stop_id == stop_id).order_by(p.removed_at.is_(None).desc(), p.id.desc()).limit(1)
    ).scalar()
