"""Failed sign-ins counted per user name and per client address, in a sliding window (docs/console.md).

Held in the process's memory: a restart forgets the counts, and two console processes count apart. That
bounds guessing to ``attempts`` per window per name and per address, per process.
"""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Callable


class LoginLimiter:
    def __init__(self, attempts: int, window: float, clock: Callable[[], float]) -> None:
        self._attempts = attempts
        self._window = window
        self._clock = clock
        self._failures: dict[str, deque[float]] = {}
        self._lock = threading.Lock()

    def _recent(self, key: str, now: float) -> deque[float]:
        times = self._failures.setdefault(key, deque())
        while times and now - times[0] > self._window:
            times.popleft()
        return times

    def blocked(self, name: str, address: str) -> bool:
        """True while the name or the address has ``attempts`` failures in the window."""
        now = self._clock()
        with self._lock:
            return any(len(self._recent(key, now)) >= self._attempts for key in (f"user:{name}", f"addr:{address}"))

    def failed(self, name: str, address: str) -> None:
        now = self._clock()
        with self._lock:
            for key in (f"user:{name}", f"addr:{address}"):
                self._recent(key, now).append(now)
            if len(self._failures) > 100_000:  # a flood of made-up names must not grow memory without end
                self._failures = {k: v for k, v in self._failures.items() if v and now - v[-1] <= self._window}

    def succeeded(self, name: str) -> None:
        with self._lock:
            self._failures.pop(f"user:{name}", None)
