"""The simulator's controllable clock, read over HTTP, and the choice between it and system time.

``api.clock = "simulator"`` reads ``/_sim/clock`` on every call (loopback, about a millisecond), so
a demo or soak that jumps the simulated account forward by hours moves the tool's clock too
(`etl.clock` says why). It lives in ``etl/api`` because it is HTTP: only this package imports requests.
"""

from __future__ import annotations

from datetime import datetime, timezone

import requests

from etl.clock import Clock, system_clock
from etl.config import Config
from etl.errors import ConfigError


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
