"""A clock that moves only when the code under test sleeps with it: waits are exact and cost no wall time."""

from __future__ import annotations

from datetime import datetime, timedelta


class SleepingClock:
    """``clock()`` (or ``clock.now``) is the time; ``clock.sleep(s)`` records ``s`` in ``slept`` and moves it on."""

    def __init__(self, start: datetime) -> None:
        self.now = start
        self.slept: list[float] = []

    def __call__(self) -> datetime:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += timedelta(seconds=seconds)
