"""A delivery report's own cost, stored as its recipient's cost (``statuses.cost_source = "announced"`` only).

Why: REFERENCE §3.14 documents no DLR payload at all; the parser tolerates ``cost``, ``currency``
and ``countryCode`` when present (`etl.push.parse`), the names the status endpoints use. When a
report carries them, that is the provider's per-recipient figure for free, better than a share
of the send's announcement (`etl.jobs.status_cost`). In the default mode the statuses job's own
``/message-status`` read stays the only source of cost, as before (docs/statuses.md, "Cost source").

A reported cost is written through the statuses job's `apply_costs` (a ``cost_events`` row, the
spend rollup moved in the same transaction, no further cost read). A cost that is not an amount
(negative), or one without a 3-letter currency, is quarantined and stores nothing.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from decimal import Decimal

from sqlalchemy import Connection

from etl.jobs.status_apply import CostRow, Tally, apply_costs
from etl.quarantine import Rejection, record

__all__ = ["ENDPOINT", "PricedReport", "store"]

ENDPOINT = "dlr-cost"

#: (account id, message id, E.164 number, cost, currency, country) of one tracked recipient's report.
PricedReport = tuple[int, str, str, Decimal, str | None, str | None]


def _why_not(cost: Decimal, currency: str | None) -> str | None:
    if cost < 0:
        return f"reported cost {cost} is not an amount"
    if not currency or len(currency) != 3 or not currency.isalpha():
        return f"reported cost {cost} has no currency (got {currency!r})"
    return None


def store(conn: Connection, reports: Sequence[PricedReport], now: datetime) -> int:
    """Store each report's cost on its recipient, per account; returns how many were stored. Does not commit."""
    by_account: dict[int, list[CostRow]] = {}
    refused: dict[int, list[Rejection]] = {}
    for account_id, mid, phone, cost, currency, country in reports:
        why = _why_not(cost, currency)
        if why is not None:
            item = {"messageId": mid, "cost": str(cost), "currency": currency}
            refused.setdefault(account_id, []).append(Rejection(ENDPOINT, item, why, "recipient", f"{mid}/{phone}"))
            continue
        by_account.setdefault(account_id, []).append(
            CostRow(message_id=mid, phone_e164=phone, kind="found", next_cost_at=None, cost=cost, currency=currency, country=country)
        )
    for account_id, rows in by_account.items():
        apply_costs(conn, rows, now=now, run_id=None, tally=Tally(), account_id=account_id)
    for account_id, rejections in refused.items():
        record(conn, rejections, now, account_id=account_id)
    return sum(len(rows) for rows in by_account.values())
