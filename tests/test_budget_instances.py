"""The shared API budget holds across instances (issue 20): 4 instances (threads, each its own engine, client
and budget) against the simulator answering 429 above a global rate, on a compressed window.

Counted at the simulator, on its wall-clock arrival times: no window ever holds more calls than the budget,
and since the budget is below the simulator's limit, no call is refused. SQLite runs one instance (it is
single-instance by design). No assertion on speed: only on counts."""

from __future__ import annotations

import threading
from typing import Any

import pytest

from etl.accounts import PARENT
from etl.api import RetryPolicy, SmsPartnerClient
from etl.api.budget import BudgetRules
from etl.budget import SharedBudget
from etl.config import Secret
from etl.db.engine import make_engine

WINDOW = 2.0
BUDGET = 6
SIMULATOR_LIMIT = 8
CALLS_EACH = 5


def _instance(
    url: str, base_url: str, key: str, rules: BudgetRules, errors: list[BaseException], calls: int = CALLS_EACH
) -> None:
    engine = make_engine(url)
    budget = SharedBudget(engine, PARENT.id, rules)
    policy = RetryPolicy(max_attempts=5, max_seconds=30.0, wait_initial=0.05, jitter=0.0)
    try:
        with SmsPartnerClient(base_url, Secret(key), retry_policy=policy, budget=budget) as client:
            for _ in range(calls):
                client.me()
    except BaseException as exc:  # noqa: BLE001 - reported by the test thread
        errors.append(exc)
    finally:
        engine.dispose()


def _most_in_any_window(walls: list[float], window: float) -> int:
    walls = sorted(walls)
    return max(sum(1 for later in walls[i:] if later - start < window) for i, start in enumerate(walls))


def test_instances_sharing_a_budget_never_exceed_it_in_any_window(
    migrated_db_url: str, backend: str, simulator: Any, api_key: str
) -> None:
    instances = 1 if backend == "sqlite" else 4
    simulator.sim.faults.inject("*", "rate_limit", limit=SIMULATOR_LIMIT, window=WINDOW)
    rules = BudgetRules(per_window=BUDGET, window=WINDOW, margin=0.25)
    errors: list[BaseException] = []
    threads = [
        threading.Thread(target=_instance, args=(migrated_db_url, simulator.base_url, api_key, rules, errors))
        for _ in range(instances)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert errors == []
    calls = simulator.sim.calls_to("me")
    assert len(calls) == instances * CALLS_EACH
    assert [c.http_status for c in calls] == [200] * len(calls)  # the budget is below the simulator's limit: no 429
    assert _most_in_any_window([c.wall_at.timestamp() for c in calls], WINDOW) <= BUDGET


def test_the_window_count_sees_a_burst() -> None:
    assert _most_in_any_window([0.0, 0.1, 0.2, 2.5, 2.6], 2.0) == 3
    assert _most_in_any_window([0.0, 1.99, 2.0, 3.9], 2.0) == 3


def test_concurrent_takers_never_wait_while_free_slots_remain(migrated_db_url: str, backend: str) -> None:
    """Regression: a slot another transaction spent while this one's SELECT ran came back spent (PostgreSQL
    re-reads a locked row's new version without re-sorting), and the taker waited a whole window with
    hundreds of slots free. The WHERE now re-checks ``free_at`` on the new version."""
    engines = [make_engine(migrated_db_url) for _ in range(2)]
    budgets = [SharedBudget(engine, PARENT.id, BudgetRules(per_window=1000)) for engine in engines]
    errors: list[BaseException] = []

    def work(budget: SharedBudget) -> None:
        try:
            for _ in range(10):
                budget.take("me")
        except BaseException as exc:  # noqa: BLE001 - reported by the test thread
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(budgets[i % 2],)) for i in range(8)]
    try:
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=120)
        assert errors == []
        assert [b.waited for b in budgets] == [0.0, 0.0]
    finally:
        for engine in engines:
            engine.dispose()


@pytest.mark.backends("postgresql", "mariadb")
def test_instances_over_the_simulators_limit_are_held_by_its_429s_and_all_finish(
    migrated_db_url: str, simulator: Any, api_key: str
) -> None:
    """Budget above what the API allows: 429s come, each holds every instance for its Retry-After, the
    retries go through, and no call fails."""
    simulator.sim.faults.inject("*", "rate_limit", limit=3, window=WINDOW)
    rules = BudgetRules(per_window=BUDGET, window=WINDOW, margin=0.25)
    errors: list[BaseException] = []
    threads = [
        threading.Thread(target=_instance, args=(migrated_db_url, simulator.base_url, api_key, rules, errors, 3))
        for _ in range(4)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert errors == []
    statuses = [c.http_status for c in simulator.sim.calls_to("me")]
    assert statuses.count(200) == 12
    assert 1 <= statuses.count(429) < 12
