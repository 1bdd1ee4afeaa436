"""Which limits a call spends from (etl/api/budget.py): pure, by table."""

from __future__ import annotations

import pytest

from etl.api.budget import ACCOUNT_CLASS, BudgetRules, Limit, hold_class

RULES = BudgetRules(per_window=100, cost_resume=5, verification=360)


@pytest.mark.parametrize(
    "endpoint,limits",
    [
        ("me", (Limit(ACCOUNT_CLASS, 100),)),
        ("multi-status", (Limit(ACCOUNT_CLASS, 100),)),
        ("statistics/cost-resume", (Limit("statistics/cost-resume", 5), Limit(ACCOUNT_CLASS, 100))),
        ("hlr/notify", (Limit("verification", 100), Limit(ACCOUNT_CLASS, 100))),
        ("lookup", (Limit("verification", 100), Limit(ACCOUNT_CLASS, 100))),
    ],
    ids=["plain", "status", "cost-resume-own-class", "hlr-capped-by-account", "lookup-shares-hlr"],
)
def test_a_call_spends_from_its_documented_class_and_the_account(endpoint: str, limits: tuple[Limit, ...]) -> None:
    assert RULES.limits_for(endpoint) == limits


def test_every_class_of_the_account_is_listed_once() -> None:
    assert {limit.endpoint_class for limit in RULES.all_limits()} == {ACCOUNT_CLASS, "statistics/cost-resume", "verification"}


def test_a_429_holds_the_endpoints_own_class_else_the_account() -> None:
    assert (hold_class("statistics/cost-resume"), hold_class("lookup"), hold_class("me")) == (
        "statistics/cost-resume", "verification", ACCOUNT_CLASS,
    )


def test_a_slot_stays_spent_for_the_window_plus_the_margin() -> None:
    assert BudgetRules(per_window=60, window=60.0, margin=1.5).span == 61.5


@pytest.mark.parametrize(
    "kwargs", [{"per_window": 0}, {"per_window": 5, "cost_resume": 0}, {"per_window": 5, "window": 0}, {"per_window": 5, "margin": -1}],
    ids=["no-calls", "no-cost-resume", "no-window", "negative-margin"],
)
def test_rules_refuse_an_empty_budget(kwargs: dict[str, float]) -> None:
    with pytest.raises(ValueError):
        BudgetRules(**kwargs)  # type: ignore[arg-type]
