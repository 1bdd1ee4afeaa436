"""Cost from what the send announced (``statuses.cost_source = "announced"``), with no API call.

Why: at 5 M SMS a day one ``/message-status`` read per recipient cannot keep up (issue 20;
docs/benchmarks.md, "Cost source"). ``/send`` already answers the request's total ``cost``,
``nbSMS`` and ``currency`` (REFERENCE §3.2), which tracking keeps in ``sends.announced_cost`` and
``announced_currency``; the account's monthly ``statistics/cost-resume`` (the finance job) is
what checks it (``spend_vs_account``). What finance loses and keeps: docs/statuses.md, "Cost source".

A recipient due for its cost (``next_cost_at``, set when it becomes final, as in the default
mode) gets its share of its send's announced cost, through the same `apply_costs` as a read
(``cost_events`` row, spend rollup moved in the same transaction):

- the share is the announced cost divided by the send's tracked recipients, cut to the money
  scale; the send's first recipient (lowest id) takes the remainder, so the shares add up to the
  announced cost exactly;
- the country is the number's own (`etl.phones.region_of`): the API gives none here;
- a send that announced nothing (found by tag or message id alone, or tracked without a cost)
  leaves its recipients' cost NULL and asks nothing again (``next_cost_at`` NULL): the monthly
  reconciliation shows that spend as the difference;
- an announcement that is not a cost (negative, or a cost without a 3-letter currency) is
  quarantined once per send (endpoint ``announced-cost``) and stores nothing, never guessed.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from datetime import datetime
from decimal import ROUND_DOWN, Decimal
from typing import Any

from sqlalchemy import Connection, func, select

from etl import phones
from etl.db.schema import recipients, sends
from etl.jobs.status_apply import CostRow, Tally, apply_costs
from etl.quarantine import Rejection
from etl.tracking import MONEY_SCALE

log = logging.getLogger(__name__)

__all__ = ["ANNOUNCED_PER_BATCH", "ENDPOINT", "allocate", "share_rows"]

#: Recipients priced per transaction (no API call: the batch is bounded by memory, not latency).
ANNOUNCED_PER_BATCH = 5_000
#: Batches per cycle, so one cycle stays bounded whatever the backlog.
MAX_BATCHES_PER_CYCLE = 50
ENDPOINT = "announced-cost"
_QUANTUM = Decimal(1).scaleb(-MONEY_SCALE)


def _malformed(cost: Decimal | None, currency: str | None) -> str | None:
    """Why an announcement cannot be a cost, or None when it can (or when nothing was announced)."""
    if cost is None:
        return None
    if not cost.is_finite() or cost < 0:
        return f"announced cost {cost} is not an amount"
    if not currency or len(currency) != 3 or not currency.isalpha() or not currency.isupper():
        return f"announced cost {cost} has no currency (got {currency!r})"
    return None


def share_rows(
    due: Sequence[Any], counts: dict[int, tuple[int, int]]
) -> tuple[list[CostRow], list[Rejection]]:
    """Cost rows for ``due`` (rows of id, send_id, message_id, phone_e164, announced_cost, announced_currency).

    ``counts`` maps a send id to (its tracked recipients, its lowest recipient id). Pure.
    """
    rows: list[CostRow] = []
    rejections: dict[str, Rejection] = {}
    for rid, send_id, mid, phone, cost, currency in due:
        why = _malformed(cost, currency)
        if why is not None:
            rejections.setdefault(
                mid, Rejection(ENDPOINT, {"message_id": mid, "cost": str(cost), "currency": currency}, why, "recipient", mid)
            )
            rows.append(CostRow(message_id=mid, phone_e164=phone, kind="unreadable", next_cost_at=None))
            continue
        if cost is None:  # nothing announced: nothing to price, and nothing will be (the read's bookkeeping only)
            rows.append(CostRow(message_id=mid, phone_e164=phone, kind="unreadable", next_cost_at=None))
            continue
        n, first_id = counts[send_id]
        share = (cost / n).quantize(_QUANTUM, rounding=ROUND_DOWN)
        if rid == first_id:
            share = cost - share * (n - 1)
        rows.append(
            CostRow(
                message_id=mid, phone_e164=phone, kind="found", next_cost_at=None,
                cost=share, currency=currency, country=phones.region_of(phone),
            )
        )
    return rows, list(rejections.values())


def _due(conn: Connection, account_id: int, now: datetime) -> tuple[Sequence[Any], dict[int, tuple[int, int]]]:
    r, s = recipients.c, sends.c
    due = conn.execute(
        select(r.id, r.send_id, r.message_id, r.phone_e164, s.announced_cost, s.announced_currency)
        .select_from(recipients.join(sends, sends.c.id == r.send_id))
        .where(r.account_id == account_id, r.next_cost_at <= now)
        .order_by(r.next_cost_at, r.id)
        .limit(ANNOUNCED_PER_BATCH)
    ).all()
    send_ids = sorted({row.send_id for row in due if row.announced_cost is not None})
    counts: dict[int, tuple[int, int]] = {}
    for i in range(0, len(send_ids), 500):
        chunk = send_ids[i : i + 500]
        for send_id, n, first_id in conn.execute(
            select(r.send_id, func.count(), func.min(r.id)).where(r.send_id.in_(chunk)).group_by(r.send_id)
        ):
            counts[send_id] = (int(n), int(first_id))
    return due, counts


def allocate(
    engine: Any,
    *,
    account_id: int,
    now: Any,
    run_id: int | None,
    tally: Tally,
    quarantine: Any,
    stop_asked: Any,
) -> int:
    """Price every due recipient of ``account_id`` from its send's announcement; returns how many were priced.

    ``now`` is a clock, ``quarantine(conn, rejections, now)`` records what was refused and
    ``stop_asked()`` ends the loop between batches (the `etl.jobs.status_cycle.Cycle` methods).
    """
    priced = 0
    for _ in range(MAX_BATCHES_PER_CYCLE):
        if stop_asked():
            break
        with engine.begin() as conn:
            at = now()
            due, counts = _due(conn, account_id, at)
            if not due:
                break
            rows, rejections = share_rows(due, counts)
            apply_costs(conn, rows, now=at, run_id=run_id, tally=tally, account_id=account_id)
            quarantine(conn, rejections, at)
        priced += sum(1 for row in rows if row.kind == "found")
        if len(due) < ANNOUNCED_PER_BATCH:
            break
    if priced:
        log.info("statuses: %d recipient(s) priced from their send's announced cost", priced)
    return priced
