"""Where "now" comes from: the system clock, or the bundled simulator's controllable clock.

Jobs read time only through the clock they are given (STYLE habit 5). In production that is the
system clock. Against the simulator, whose account lives on a simulated clock that a demo or a
soak test can jump forward by hours, the tool must see the same time as the account, or a
48-hour polling window would never end: ``api.clock = "simulator"`` reads it over HTTP
(`etl.api.simulator_clock`: HTTP stays in ``etl/api``).

Locks and leases never use the configured clock: they are shared between instances and always
use system time (`utcnow`).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timezone

Clock = Callable[[], datetime]


def utcnow() -> datetime:
    """The system time, aware UTC: the one definition (locks, leases and wall-clock budgets use it directly)."""
    return datetime.now(timezone.utc)


system_clock: Clock = utcnow
