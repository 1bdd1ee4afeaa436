"""Breaches: tracked recipients texted while their number was on that account's stop list (docs/compliance.md).

A recipient is a breach when its send started more than ``[compliance] breach_grace`` after the number opted
out (the stop's ``createdAt`` from the API, else when this tool first saw it) and before the period closed.
`detect` adds the new ones in one ``INSERT … SELECT … WHERE NOT EXISTS`` (a finding is never rewritten);
the grace comparison is the only backend-specific text (`Backend.later_by_sql`). Helpers take a
`Connection` and never commit.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import Connection, bindparam, func, select, text, update

from etl.compliance import chain
from etl.db import backends
from etl.db.schema import accounts, breaches, recipients, stop_periods
from etl.db.types import UtcDateTime
from etl.errors import InputError

log = logging.getLogger(__name__)

#: Jobs after whose runs new breaches may exist: new stops, or new tracked sends.
DETECT_AFTER = frozenset({"stops", "statuses"})
#: What an acknowledgement's chain entry records: the columns it sets, which nothing rewrites later.
ACK_COLUMNS = ("id", "account_id", "acknowledged_at", "acknowledged_by", "ack_note")

_DETECT = """
INSERT INTO breaches (account_id, recipient_id, stop_period_id, phone_e164, message_id, tag, sent_at,
                      opted_out_at, grace_seconds, detected_at)
SELECT r.account_id, r.id, MIN(p.id), r.phone_e164, r.message_id, s.tag, s.started_at,
       MIN(COALESCE(p.api_created_at, p.first_seen_at)), :grace, :now
  FROM recipients r
  JOIN sends s ON s.id = r.send_id
  JOIN stop_periods p ON p.account_id = r.account_id AND p.phone_e164 = r.phone_e164
 WHERE {later}
   AND (p.removed_at IS NULL OR s.started_at < p.removed_at)
   AND NOT EXISTS (SELECT 1 FROM breaches b WHERE b.recipient_id = r.id)
   {scope}
 GROUP BY r.account_id, r.id, r.phone_e164, r.message_id, s.tag, s.started_at
"""


@dataclass(frozen=True)
class BreachRow:
    """One breach as `list_breaches` shows it."""

    id: int
    account_label: str
    phone_e164: str
    message_id: str
    tag: str | None
    sent_at: datetime
    opted_out_at: datetime
    stop_source: str
    status: str | None
    cost: Decimal | None
    currency: str | None
    detected_at: datetime
    acknowledged_at: datetime | None
    acknowledged_by: str | None
    ack_note: str | None


def detect(conn: Connection, *, grace_seconds: float, now: datetime, account_id: int | None = None) -> int:
    """Record the breaches not recorded yet (of one account, or all); returns how many were added."""
    backend = backends.of(conn)
    later = backend.later_by_sql("s.started_at", "COALESCE(p.api_created_at, p.first_seen_at)", int(grace_seconds))
    scope = "AND r.account_id = :account" if account_id is not None else ""
    statement = text(_DETECT.format(later=later, scope=scope)).bindparams(bindparam("now", type_=UtcDateTime()))
    params: dict[str, Any] = {"grace": int(grace_seconds), "now": now}
    if account_id is not None:
        params["account"] = account_id
    return int(conn.execute(statement, params).rowcount or 0)


def open_counts(conn: Connection) -> dict[str, int]:
    """Unacknowledged breaches per account label (accounts without any are absent)."""
    rows = conn.execute(
        select(accounts.c.label, func.count())
        .select_from(breaches.join(accounts, accounts.c.id == breaches.c.account_id))
        .where(breaches.c.acknowledged_at.is_(None))
        .group_by(accounts.c.label)
    ).all()
    return {label: int(count) for label, count in rows}


def _query() -> Any:
    b, r, p, a = breaches.c, recipients.c, stop_periods.c, accounts.c
    return (
        select(
            b.id, a.label, b.phone_e164, b.message_id, b.tag, b.sent_at, b.opted_out_at, p.source, r.status, r.cost,
            r.currency, b.detected_at, b.acknowledged_at, b.acknowledged_by, b.ack_note,
        )
        .select_from(
            breaches.join(accounts, a.id == b.account_id)
            .join(recipients, r.id == b.recipient_id)
            .join(stop_periods, p.id == b.stop_period_id)
        )
        .order_by(b.sent_at, b.id)
    )


def list_breaches(conn: Connection, *, include_acknowledged: bool = False, phone_e164: str | None = None) -> list[BreachRow]:
    """Breaches in send order: the open ones, or all with ``include_acknowledged``; of one number if given."""
    query = _query()
    if not include_acknowledged:
        query = query.where(breaches.c.acknowledged_at.is_(None))
    if phone_e164 is not None:
        query = query.where(breaches.c.phone_e164 == phone_e164)
    return [BreachRow(*row) for row in conn.execute(query).all()]


def acknowledge(conn: Connection, breach_id: int, *, actor: str, reason: str, now: datetime) -> BreachRow:
    """Mark breach ``breach_id`` acknowledged by ``actor`` with ``reason`` (audited when the chain is installed)."""
    if not reason.strip():
        raise InputError("--reason: say why this breach is acknowledged (it is kept with it)")
    found = conn.execute(_query().where(breaches.c.id == breach_id)).first()
    if found is None:
        raise InputError(f"no breach with id {breach_id}: see `smspartner-etl breaches list`")
    if found.acknowledged_at is not None:
        raise InputError(f"breach {breach_id} was already acknowledged on {found.acknowledged_at:%Y-%m-%d %H:%M} UTC by {found.acknowledged_by}")
    conn.execute(
        update(breaches)
        .where(breaches.c.id == breach_id, breaches.c.acknowledged_at.is_(None))
        .values(acknowledged_at=now, acknowledged_by=actor[:64], ack_note=reason[:255])
    )
    # The body is the row's acknowledgement columns read back: verify-audit compares the row with them.
    chain.append_row(conn, "breach_ack", breaches, breach_id, at=now, columns=ACK_COLUMNS)
    return _one(conn, breach_id)


def _one(conn: Connection, breach_id: int) -> BreachRow:
    return BreachRow(*conn.execute(_query().where(breaches.c.id == breach_id)).one())
