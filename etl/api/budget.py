"""The API budget as the client sees it: which limits a call spends from, and the `CallBudget` it asks.

No I/O here. The shared implementation (slots in the database, one budget for every instance) is
`etl.budget.SharedBudget`; ``etl/api`` and ``etl/db`` never import each other, so the client only
knows this protocol (docs/api-client.md, "Shared API budget").

* Every call spends from the account's budget (``api.max_calls_per_minute``, class ``*``); a call to
  an endpoint with a documented limit spends from that endpoint class's budget as well:
  ``statistics/cost-resume`` 5/min (REFERENCE §3.8), ``hlr/notify`` and ``lookup`` together 360/min
  (ACCOUNTS §4: "the same limit applies"; counted together so neither can exceed it).
* A window is ``window + margin`` seconds: the margin covers the time from taking a slot to the call
  reaching the API, so the API never counts more than the budget in any ``window`` of its own.
* A 429 holds the class it hit (the endpoint's own class, else the account's) until its
  ``Retry-After`` (`DEFAULT_HOLD` without one), for every instance.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

__all__ = [
    "ACCOUNT_CLASS",
    "DEFAULT_HOLD",
    "ENDPOINT_CLASSES",
    "CallBudget",
    "Limit",
    "NoBudget",
    "BudgetRules",
    "hold_class",
]

#: The class every call spends from: the account's whole budget.
ACCOUNT_CLASS = "*"

#: Endpoints with a documented limit of their own, by class.
ENDPOINT_CLASSES: dict[str, str] = {
    "statistics/cost-resume": "statistics/cost-resume",
    "hlr/notify": "verification",
    "lookup": "verification",
}

#: Seconds every instance holds a class after a 429 without a readable ``Retry-After``.
DEFAULT_HOLD = 1.0


class CallBudget(Protocol):
    """What the client asks before each attempt, and tells after a 429."""

    def take(self, endpoint: str) -> None:
        """Return once a call to ``endpoint`` fits the budget (sleeping meanwhile), the slot spent."""
        ...

    def refused(self, endpoint: str, retry_after: float | None) -> None:
        """The API answered 429: hold the class for ``retry_after`` seconds, for every instance."""
        ...


class NoBudget:
    """No shared budget (``api.max_calls_per_minute = 0``): every call goes at once."""

    def take(self, endpoint: str) -> None:
        return None

    def refused(self, endpoint: str, retry_after: float | None) -> None:
        return None


@dataclass(frozen=True, slots=True)
class Limit:
    """At most ``calls`` calls of ``endpoint_class`` in any ``window`` seconds."""

    endpoint_class: str
    calls: int


@dataclass(frozen=True, slots=True)
class BudgetRules:
    """One account's limits: calls per ``window`` seconds (tests compress the window), plus the margin."""

    per_window: int
    cost_resume: int = 5
    verification: int = 360
    window: float = 60.0
    margin: float = 1.0

    def __post_init__(self) -> None:
        if min(self.per_window, self.cost_resume, self.verification) < 1 or self.window <= 0 or self.margin < 0:
            raise ValueError("budget limits must be >= 1 call, the window > 0 s and the margin >= 0 s")

    @property
    def span(self) -> float:
        """Seconds a slot stays spent: the window plus the margin."""
        return self.window + self.margin

    def limits_for(self, endpoint: str) -> tuple[Limit, ...]:
        """The limits a call to ``endpoint`` spends from: its class's (if documented) and the account's."""
        account = Limit(ACCOUNT_CLASS, self.per_window)
        own = ENDPOINT_CLASSES.get(endpoint)
        if own is None:
            return (account,)
        calls = self.cost_resume if own == "statistics/cost-resume" else self.verification
        return (Limit(own, min(calls, self.per_window)), account)

    def all_limits(self) -> tuple[Limit, ...]:
        """Every class of the account, for the slots to exist."""
        seen = {limit.endpoint_class: limit for e in (*ENDPOINT_CLASSES, "") for limit in self.limits_for(e)}
        return tuple(seen.values())


def hold_class(endpoint: str) -> str:
    """The class a 429 on ``endpoint`` holds: the endpoint's own limit, if documented, else the account's."""
    return ENDPOINT_CLASSES.get(endpoint, ACCOUNT_CLASS)
