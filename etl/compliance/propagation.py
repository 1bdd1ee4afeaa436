"""Opt-out propagation time: from the STOP to the stop being effective here (docs/compliance.md,
"Attribution and propagation").

Read from ``optout_attribution`` (migration 0014): ``stopped_at`` (the earlier of the STOP callback's
receipt and the list's ``createdAt``) to ``effective_at`` (when the push-created period was applied,
else the period's ``first_seen_at``). Only periods effective within ``WINDOW`` count: the figure is about
how the tool behaves now, and the scrape stays bounded.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from datetime import datetime, timedelta

import sqlalchemy as sa
from sqlalchemy import Connection

from etl.db.types import UtcDateTime

__all__ = ["BUCKETS", "WINDOW", "delays_by_account", "histogram", "p99"]

#: Seconds: the push path is seconds, the sync path minutes to its interval, the TCPA deadline 10 business days.
BUCKETS: tuple[float, ...] = (1, 5, 30, 60, 300, 900, 3600, 6 * 3600, 86400, 3 * 86400, 14 * 86400)
WINDOW = timedelta(days=30)

_VIEW = sa.table(
    "optout_attribution",
    sa.column("account_label", sa.String),
    sa.column("stopped_at", UtcDateTime),
    sa.column("effective_at", UtcDateTime),
)


def delays_by_account(conn: Connection, now: datetime, window: timedelta = WINDOW) -> dict[str, list[float]]:
    """Seconds from STOP to effective, per account label, for periods effective in ``window`` before ``now``.

    A period seen here before its API time (clock skew, a STOP sent in the future) counts as 0."""
    v = _VIEW.c
    query = sa.select(v.account_label, v.stopped_at, v.effective_at).where(v.effective_at >= now - window, v.stopped_at.is_not(None))
    out: dict[str, list[float]] = {}
    for label, stopped, effective in conn.execute(query):
        out.setdefault(label, []).append(max(0.0, (effective - stopped).total_seconds()))
    return out


def p99(delays: Sequence[float]) -> float | None:
    """The nearest-rank 99th percentile (None for no data)."""
    if not delays:
        return None
    ordered = sorted(delays)
    return ordered[max(0, math.ceil(0.99 * len(ordered)) - 1)]


def histogram(delays: Sequence[float], buckets: Sequence[float] = BUCKETS) -> tuple[list[tuple[str, float]], float]:
    """Cumulative Prometheus buckets (``le`` labels, ``+Inf`` last) and the sum."""
    counts = [(f"{b:g}", float(sum(1 for d in delays if d <= b))) for b in buckets]
    counts.append(("+Inf", float(len(delays))))
    return counts, float(sum(delays))
