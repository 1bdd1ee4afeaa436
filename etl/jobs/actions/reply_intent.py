"""Replies flagged as a STOP intent → the account's stop list, through the audited `add_stop` path
(docs/compliance.md, "STOP intent in replies"; on only with ``[compliance] reply_intent_adds_stop``).

Once per reply: the audit row's reason names the reply (``STOP intent in reply <id>``), and a reply
whose reason is already in ``write_actions`` (any outcome: an ``unknown`` one is the actions job's to
settle, a rejected one a human's) is never sent again. Only replies ``reply_stop_intents`` lists are
taken (flagged at intake, so parsed; not a STOP callback; no open stop period in the account).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy import Engine

from etl.accounts import PARENT, AccountRef
from etl.api.protocol import ApiClient
from etl.db import backends
from etl.db.schema import write_actions
from etl.errors import InputError

log = logging.getLogger(__name__)

__all__ = ["ACTOR", "PERIOD_SOURCE", "add_flagged_replies", "reason_of"]

ACTOR = "reply-intent"
PERIOD_SOURCE = "reply-intent"
#: API writes per run at most: a burst of flagged replies is spread over runs, not one long run.
MAX_PER_RUN = 200

_VIEW = sa.table("reply_stop_intents", sa.column("reply_id", sa.BigInteger), sa.column("account_id", sa.Integer), sa.column("phone_e164", sa.String))


_PREFIX = "STOP intent in reply "


def reason_of(reply_id: int) -> str:
    return f"{_PREFIX}{reply_id}"


def _candidates(engine: Engine, account_id: int) -> list[tuple[int, str]]:
    """Listed replies whose reason is not in the audit yet, oldest first, at most ``MAX_PER_RUN``.

    The audit check is done here rather than as a SQL concatenation, which MariaDB refuses between a
    literal and a column of another collation; the view holds only flagged replies not stopped yet."""
    v, w = _VIEW.c, write_actions.c
    with engine.connect() as conn:
        listed = conn.execute(sa.select(v.reply_id, v.phone_e164).where(v.account_id == account_id, v.phone_e164.is_not(None)).order_by(v.reply_id)).all()
        done: set[str] = set()
        for start in range(0, len(listed), backends.LOOKUP_CHUNK):
            reasons = [reason_of(r.reply_id) for r in listed[start : start + backends.LOOKUP_CHUNK]]
            done.update(conn.execute(sa.select(w.reason).where(w.account_id == account_id, w.actor == ACTOR, w.reason.in_(reasons))).scalars())
        conn.rollback()
    return [(r.reply_id, r.phone_e164) for r in listed if reason_of(r.reply_id) not in done][:MAX_PER_RUN]


def add_flagged_replies(client: ApiClient, engine: Engine, now: Callable[[], datetime], *, account: AccountRef = PARENT) -> int:
    """Add each listed reply's number once (one number once per run); returns how many were added."""
    from etl.jobs.actions import add_stop

    added, seen = 0, set()
    for reply_id, phone in _candidates(engine, account.id):
        if phone in seen:
            continue  # a second flagged reply from the number in this run: the first one's add covers it
        seen.add(phone)
        try:
            result = add_stop(client, engine, phone, actor=ACTOR, reason=reason_of(reply_id), now=now, account=account, period_source=PERIOD_SOURCE)
        except InputError:
            continue  # opened meanwhile (a sync, a pushed STOP): nothing to do
        added += int(result.ok)
        log.info("reply-intent: reply %s → stop_add %s", reply_id, result.outcome)
    return added
