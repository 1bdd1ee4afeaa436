"""The cost backlog per account: recipients whose cost read is due, and how late the oldest is (the metrics' gauges).

A recipient has a ``next_cost_at`` exactly while a cost read is ahead of it (NULL otherwise,
`etl.db.schema.statuses.Recipient`); it is *due* once that time has passed. One grouped read of ``recipients`` at
scrape time, whatever the number of accounts, from ``ix_recipients_account_id_next_cost_at`` alone:

- ``next_cost_at IS NOT NULL`` is spelled out beside the range so that SQLite and PostgreSQL match the partial index
  (migration 0023: it holds what awaits a cost read, not history; an index-only scan);
- the accounts' ids come first (a read of ``accounts``), as a list, so that each account is one range of the index
  (account, then time): MariaDB's index is a full one, and grouping all of it, or a subquery per account (``ref`` on
  the account alone), reads every recipient the account ever had (200 k index entries for 2 k due, measured).

Accounts with nothing due get 0. The plans are in docs/operations.md, "Metrics".
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Connection, func, select

from etl.db import backends
from etl.db.schema import accounts, recipients

__all__ = ["CostBacklog", "cost_backlog"]


@dataclass(frozen=True, slots=True)
class CostBacklog:
    """One account's due cost reads at a moment: how many, and seconds since the oldest fell due (0: none)."""

    account: str
    due: int
    oldest_seconds: float


def cost_backlog(conn: Connection, now: datetime) -> list[CostBacklog]:
    """Every account's due cost reads at ``now``, ordered by account label."""
    r = recipients.c
    labels: dict[int, str] = {int(i): str(label) for i, label in conn.execute(select(accounts.c.id, accounts.c.label))}
    if not labels:
        return []
    due = {
        account_id: (int(count), oldest)
        for account_id, count, oldest in conn.execute(
            select(r.account_id, func.count(), func.min(r.next_cost_at))
            .where(backends.of(conn).in_values(r.account_id, sorted(labels)), r.next_cost_at.is_not(None), r.next_cost_at <= now)
            .group_by(r.account_id)
        )
    }
    out = []
    for account_id, label in sorted(labels.items(), key=lambda item: item[1]):
        count, oldest = due.get(account_id, (0, None))
        out.append(CostBacklog(label, count, max((now - oldest).total_seconds(), 0.0) if oldest is not None else 0.0))
    return out
