"""Where "now" comes from: the system clock, or the bundled simulator's controllable clock.

Jobs read time only through the clock they are given (STYLE habit 5). In production that is the
system clock. Against the simulator, whose account lives on a simulated clock that a demo or a
soak test can jump forward by hours, the tool must see the same time as the account, or a
48-hour polling window would never end: ``api.clock = "simulator"`` reads it from the
simulator's ``/_sim/clock`` control endpoint on every call (loopback, ~1 ms).

Locks and leases never use this: they are shared between instances and always use system time.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timezone

import requests

from etl.config import Config
from etl.errors import ConfigError

Clock = Callable[[], datetime]


def utcnow() -> datetime:
    """The system time, aware UTC: the one definition (locks, leases and wall-clock budgets use it directly)."""
    return datetime.now(timezone.utc)


system_clock: Clock = utcnow


class SimulatorClock:
    """The simulator's current time, in UTC."""

    def __init__(self, base_url: str, *, timeout: float = 5.0) -> None:
        root = base_url.rstrip("/")
        if root.endswith("/v1"):
            root = root[: -len("/v1")]
        self.url = f"{root}/_sim/clock"
        self.timeout = timeout
        self._session = requests.Session()

    def __call__(self) -> datetime:
        try:
            answer = self._session.get(self.url, timeout=self.timeout)
            answer.raise_for_status()
            return datetime.fromisoformat(answer.json()["now"]).astimezone(timezone.utc)
        except (requests.RequestException, ValueError, KeyError, TypeError) as exc:
            # api.clock = "simulator" against something that is not the simulator (issue 16: KeyError 'now').
            raise ConfigError(
                f"api.clock = 'simulator': no simulator clock at {self.url} ({type(exc).__name__}); "
                "start the simulator or set api.clock = 'system'"
            ) from None

    def __repr__(self) -> str:
        return f"SimulatorClock({self.url!r})"


def make_clock(config: Config) -> Clock:
    """The clock ``config.api.clock`` names."""
    if config.api.clock == "system":
        return system_clock
    if config.api.clock == "simulator":
        return SimulatorClock(config.api.base_url)
    raise ConfigError(f"api.clock: must be 'system' or 'simulator', got {config.api.clock!r}")
