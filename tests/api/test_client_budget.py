"""The client asks its budget before every attempt and tells it of every 429 (etl/api/budget.py)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from etl.api import SmsPartnerClient

from .conftest import Sleeps


class RecordingBudget:
    """A `CallBudget` that lets everything through and remembers what it was asked."""

    def __init__(self) -> None:
        self.events: list[tuple[str, str, float | None]] = []

    def take(self, endpoint: str) -> None:
        self.events.append(("take", endpoint, None))

    def refused(self, endpoint: str, retry_after: float | None) -> None:
        self.events.append(("refused", endpoint, retry_after))


def test_every_attempt_takes_from_the_budget_retries_included(make_client: Callable[..., SmsPartnerClient], sim: Any) -> None:
    budget = RecordingBudget()
    client = make_client(budget=budget)
    sim.faults.inject("me", "http_503")
    client.me()
    assert budget.events == [("take", "me", None), ("take", "me", None)]
    assert len(sim.calls_to("me")) == 2


def test_a_429_is_reported_with_its_retry_after_before_the_retry(
    make_client: Callable[..., SmsPartnerClient], sim: Any, sleeps: Sleeps
) -> None:
    budget = RecordingBudget()
    client = make_client()
    client.use_budget(budget)
    sim.faults.inject("*", "rate_limit", limit=1, window=60)
    client.me()
    sim.faults.clear()
    sim.faults.inject("statistics/cost-resume", "http_429", retry_after=7)
    client.cost_resume()
    assert budget.events == [
        ("take", "me", None),
        ("take", "statistics/cost-resume", None),
        ("refused", "statistics/cost-resume", 7.0),
        ("take", "statistics/cost-resume", None),
    ]
    assert sleeps == [7.0]


def test_streamed_lists_take_from_the_budget_too(make_client: Callable[..., SmsPartnerClient], sim: Any) -> None:
    budget = RecordingBudget()
    list(make_client(budget=budget).iter_stops())
    assert budget.events == [("take", "stop-sms/list", None)]
