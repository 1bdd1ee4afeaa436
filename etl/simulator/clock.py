"""Simulated clock: the one source of "now" for the simulator.

Why: delivery reports can lag up to 48 h (REFERENCE §4, quirk 24); tests must jump that far in
milliseconds, so every timeline is computed from this clock on read, never with sleeps.
A clock is *frozen* by default (deterministic tests); ``running=True`` lets it follow wall time
(the CLI demo), and ``advance``/``set`` still work on top of it.
"""

from __future__ import annotations

import threading
import time
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

PARIS = ZoneInfo("Europe/Paris")
DEFAULT_START = datetime(2026, 1, 5, 9, 0, 0, tzinfo=PARIS)


class SimClock:
    """A thread-safe, controllable clock returning aware datetimes."""

    def __init__(self, start: datetime | None = None, *, running: bool = False) -> None:
        start = start or DEFAULT_START
        if start.tzinfo is None:
            raise ValueError("SimClock needs an aware datetime")
        self._lock = threading.Lock()
        self._base = start
        self._mono0 = time.monotonic()
        self.running = running

    def now(self) -> datetime:
        """Current simulated time (aware, in the zone the clock was started with)."""
        with self._lock:
            if not self.running:
                return self._base
            return self._base + timedelta(seconds=time.monotonic() - self._mono0)

    def advance(self, delta: timedelta | float | int) -> datetime:
        """Move the clock forward (a float is seconds). Returns the new time."""
        if not isinstance(delta, timedelta):
            delta = timedelta(seconds=float(delta))
        if delta < timedelta(0):
            raise ValueError("the simulated clock never goes backwards; use set()")
        now = self.now()
        with self._lock:
            self._base = now + delta
            self._mono0 = time.monotonic()
            return self._base

    def set(self, dt: datetime) -> None:
        """Jump to an absolute aware time (may go backwards: tests only)."""
        if dt.tzinfo is None:
            raise ValueError("SimClock.set needs an aware datetime")
        with self._lock:
            self._base = dt.astimezone(PARIS)
            self._mono0 = time.monotonic()
