"""The shared API budget over the database (etl/budget.py), on three backends, with an injected clock and sleep."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timedelta, timezone

import pytest
from harness.clock import SleepingClock
from sqlalchemy import Engine

from etl.accounts import PARENT
from etl.api.budget import BudgetRules
from etl.budget import BudgetUse, SharedBudget, for_account, use_by_account
from etl.config import Config, load_config
from etl.db.engine import make_engine
from etl.metrics import Metrics

START = datetime(2026, 12, 3, 18, 0, tzinfo=timezone.utc)


def FakeTime() -> SleepingClock:  # noqa: N802 - reads as a class at the call sites
    return SleepingClock(START)


@pytest.fixture
def engine(migrated_db_url: str) -> Iterator[Engine]:
    engine = make_engine(migrated_db_url)
    yield engine
    engine.dispose()


def _budget(engine: Engine, time: SleepingClock, **rules: float) -> SharedBudget:
    settings: dict[str, float] = {"per_window": 3, "window": 10.0, "margin": 0.0, **rules}
    return SharedBudget(engine, PARENT.id, BudgetRules(**settings), clock=time, sleep=time.sleep)  # type: ignore[arg-type]


def test_calls_within_the_budget_go_at_once_and_the_next_waits_for_the_oldest_slot(engine: Engine) -> None:
    time = FakeTime()
    budget = _budget(engine, time)
    for _ in range(3):
        budget.take("me")
        time.now += timedelta(seconds=1)
    assert time.slept == []
    budget.take("me")
    assert time.slept == [7.0]  # the first call (t=0) leaves the 10 s window at t=10
    assert time.now == START + timedelta(seconds=10)


def test_the_margin_lengthens_every_window(engine: Engine) -> None:
    time = FakeTime()
    budget = _budget(engine, time, per_window=1, margin=0.5)
    budget.take("me")
    budget.take("me")
    assert time.slept == [10.5]


def test_two_instances_share_one_budget(migrated_db_url: str) -> None:
    time = FakeTime()
    engines = [make_engine(migrated_db_url) for _ in range(2)]
    try:
        first, second = (_budget(e, time) for e in engines)
        first.take("me")
        second.take("me")
        first.take("me")
        assert time.slept == []
        second.take("me")
        assert time.slept == [10.0]
    finally:
        for e in engines:
            e.dispose()


def test_cost_resume_spends_its_own_limit_and_the_accounts(engine: Engine) -> None:
    time = FakeTime()
    budget = _budget(engine, time, per_window=3, cost_resume=1)
    budget.take("statistics/cost-resume")
    budget.take("me")
    budget.take("statistics/cost-resume")
    assert time.slept == [10.0]  # cost-resume's one slot
    budget.take("me")
    budget.take("me")  # the account's three: two spent at t=0, one at t=10
    assert time.slept == [10.0]
    budget.take("me")
    assert time.slept == [10.0, 10.0]


def test_a_429_holds_every_instance_until_its_retry_after(migrated_db_url: str) -> None:
    time = FakeTime()
    engines = [make_engine(migrated_db_url) for _ in range(2)]
    try:
        first, second = (_budget(e, time, per_window=100) for e in engines)
        first.take("me")
        first.refused("me", 4.0)
        second.take("me")
        assert time.slept == [4.0]
        second.take("lookup")  # the hold is on the account's class, which every call spends from
        assert time.slept == [4.0]
        first.refused("statistics/cost-resume", None)  # its own class only, one second without Retry-After
        second.take("me")
        second.take("statistics/cost-resume")
        assert time.slept == [4.0, 1.0]
    finally:
        for e in engines:
            e.dispose()


def test_a_lower_limit_drops_the_slots_past_it(engine: Engine) -> None:
    time = FakeTime()
    _budget(engine, time, per_window=5).take("me")
    smaller = _budget(engine, time, per_window=2)
    smaller.take("me")
    smaller.take("me")
    assert time.slept == [10.0]
    with engine.connect() as conn:
        use = {u.endpoint_class: u for u in use_by_account(conn, time.now)}
    assert use["*"] == BudgetUse("main", "*", slots=2, used=1)  # the slot spent at t=0 is free again at t=10
    assert use["statistics/cost-resume"].used == 0


def test_budget_use_counts_the_slots_spent_in_the_window(engine: Engine) -> None:
    time = FakeTime()
    budget = _budget(engine, time, per_window=4)
    budget.take("me")
    budget.take("lookup")
    with engine.connect() as conn:
        assert [(u.endpoint_class, u.slots, u.used) for u in use_by_account(conn, time.now)] == [
            ("*", 4, 2), ("statistics/cost-resume", 4, 0), ("verification", 4, 1),  # both capped by the account
        ]
        assert [u.used for u in use_by_account(conn, time.now + timedelta(seconds=10))] == [0, 0, 0]


def test_no_shared_budget_unless_max_calls_per_minute_is_set(engine: Engine) -> None:
    assert for_account(Config(), engine, PARENT) is None
    config = load_config(None, environ={"SMSPARTNER_ETL__API__MAX_CALLS_PER_MINUTE": "120"})
    budget = for_account(config, engine, PARENT)
    assert budget is not None and budget.rules == BudgetRules(per_window=120, cost_resume=5, verification=360, margin=1.0)


def test_metrics_export_the_budget_used_per_account_and_class(engine: Engine) -> None:
    time = FakeTime()
    budget = _budget(engine, time, per_window=4)
    budget.take("me")
    budget.take("statistics/cost-resume")
    metrics = Metrics()
    metrics.watch_database(engine, [], now=time)
    text = metrics.exposition().decode()
    assert 'smspartner_etl_api_budget_used{account="main",endpoint_class="*"} 2.0' in text
    assert 'smspartner_etl_api_budget_used{account="main",endpoint_class="statistics/cost-resume"} 1.0' in text
    assert 'smspartner_etl_api_budget_calls{account="main",endpoint_class="*"} 4.0' in text


def test_metrics_leave_the_budget_out_before_any_instance_used_it(engine: Engine) -> None:
    metrics = Metrics()
    metrics.watch_database(engine, [])
    assert "api_budget" not in metrics.exposition().decode()
