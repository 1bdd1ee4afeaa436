"""Each account's place in a job's period: a stable offset, and the trigger shifted by it (docs/operations.md).

The daemon schedules one entry per (job, account). Without an offset, 50 sub-accounts would call
the API at the same second every tick; a random one would move at every restart. The offset is a
hash of the job name and the account id, so it is the same in every process and after a restart,
bounded by ``daemon.account_spread`` and by a quarter of the job's period (a daily cron job stays
near its hour). The parent fires at the tick itself, as it did before sub-accounts: a deployment
of one account keeps its timing, and the accounts job discovers before the others run.
"""

from __future__ import annotations

import hashlib
from datetime import datetime, timedelta

from apscheduler.triggers.base import BaseTrigger

from etl.accounts import PARENT_ID

__all__ = ["OffsetTrigger", "account_offset", "entry_id"]


def account_offset(job: str, account_id: int, period: float, spread: float) -> float:
    """Seconds after the job's tick at which this account's run fires: in [0, min(spread, period/4))."""
    bound = max(min(spread, period / 4.0), 0.0)
    if bound == 0.0 or account_id == PARENT_ID:
        return 0.0
    digest = hashlib.sha256(f"{job}\0{account_id}".encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2.0**64 * bound


def entry_id(job: str, account_id: int) -> str:
    """The scheduler entry of one job for one account (``stops@3``)."""
    return f"{job}@{account_id}"


class OffsetTrigger(BaseTrigger):  # type: ignore[misc]  # APScheduler 3 ships no types
    """Another trigger's fire times, each ``offset`` seconds later."""

    def __init__(self, inner: BaseTrigger, offset: float) -> None:
        self.inner = inner
        self.offset = timedelta(seconds=offset)

    def get_next_fire_time(self, previous_fire_time: datetime | None, now: datetime) -> datetime | None:
        previous = previous_fire_time - self.offset if previous_fire_time is not None else None
        fire: datetime | None = self.inner.get_next_fire_time(previous, now - self.offset)
        return fire + self.offset if fire is not None else None

    def __str__(self) -> str:
        return f"{self.inner} +{self.offset.total_seconds():g}s"
