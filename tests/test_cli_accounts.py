"""`accounts credit add|remove`, `accounts create`, `accounts remove` end to end: click, the simulator, three backends."""

from __future__ import annotations

import dataclasses
from decimal import Decimal

import pytest
from sqlalchemy import text

from etl.config_accounts import AccountsConfig
from etl.db.engine import make_engine
from etl.simulator.seedfile import add_subaccount
from tests.jobs.helpers import make_client, make_config, run, sim_clock


@pytest.fixture
def engine(migrated_db_url):
    engine = make_engine(migrated_db_url)
    yield engine
    engine.dispose()


@pytest.fixture
def shop(engine, migrated_db_url, simulator):
    """A sub-account holding 10.245 EUR, discovered into ``accounts`` as shop-lyon-1 (token tok-shop)."""
    sim = simulator.sim
    sub = add_subaccount(sim, {"email": "shop.lyon@example.com", "balance": "10.245", "token": "tok-shop"})
    config = dataclasses.replace(make_config(migrated_db_url, simulator.base_url), accounts=AccountsConfig(discover=True))
    client = make_client(simulator.base_url)
    assert run("accounts", engine, config, client, now=sim_clock(sim)).outcome == "success"
    client.close()
    sim.reset_calls()
    return sub


def audit(engine):
    with engine.connect() as conn:
        rows = conn.execute(text("SELECT action, target, actor, reason, outcome, api_code FROM write_actions ORDER BY id")).all()
        conn.rollback()
    return [tuple(r) for r in rows]


def test_credit_add_with_yes_prints_one_line_and_audits_actor_and_reason(invoke, engine, simulator, shop):
    result = invoke("accounts", "credit", "add", "shop-lyon-1", "4.755", "--yes", "--actor", "alice", "--reason", "budget")
    assert result.exit_code == 0, result.output
    assert result.output.count("\n") == 1
    assert result.output.startswith("moved 4.755 EUR from main to shop-lyon-1 (now shop-lyon-1 15.000 EUR")
    assert "[audit #1]" in result.output
    assert audit(engine) == [("credit_add", "tok-shop", "alice", "budget", "success", 200)]
    assert shop.account.balance == Decimal("15.000")


def test_credit_remove_asks_first_and_a_no_sends_nothing(invoke, engine, simulator, shop):
    refused = invoke("accounts", "credit", "remove", "tok-shop", "1", "--reason", "r", input="n\n")
    assert refused.exit_code == 1 and "Move 1 EUR from shop-lyon-1 to main?" in refused.output
    assert "not confirmed: nothing sent" in refused.output
    silent = invoke("accounts", "credit", "remove", "tok-shop", "1", "--reason", "r")  # no terminal: nobody said yes
    assert silent.exit_code == 1
    assert audit(engine) == [] and simulator.sim.calls == []

    agreed = invoke("accounts", "credit", "remove", "tok-shop", "1", "--reason", "r", input="y\n")
    assert agreed.exit_code == 0, agreed.output
    assert shop.account.balance == Decimal("9.245")


def test_create_then_remove(invoke, engine, simulator, shop):
    created = invoke("accounts", "create", "--email", "brand@example.com", "--type", "simple", "--credit", "2", "--reason", "new brand")
    assert created.exit_code == 0, created.output
    assert "simple sub-account brand@example.com created with 2 EUR from main" in created.output
    assert "recorded as brand-2" in created.output

    removed = invoke("accounts", "remove", "brand-2", "--reason", "closed", "--yes")
    assert removed.exit_code == 0, removed.output
    assert removed.output.startswith("sub-account brand-2 (brand@example.com) removed")
    assert [r[0] for r in audit(engine)] == ["subaccount_create", "subaccount_remove"]
    again = invoke("accounts", "remove", "brand-2", "--reason", "closed", "--yes")
    assert again.exit_code == 65 and "(removed): nothing sent" in again.output


def test_dry_runs_print_the_plan_and_call_nothing(invoke, engine, simulator, shop):
    for args in (
        ("credit", "add", "shop-lyon-1", "3"),
        ("credit", "remove", "shop-lyon-1", "3"),
        ("create", "--email", "x@example.com", "--type", "advanced"),
        ("remove", "shop-lyon-1"),
    ):
        result = invoke("accounts", *args, "--reason", "plan", "--dry-run")
        assert result.exit_code == 0 and "would " in result.output and "dry run: no call, no audit row" in result.output
    assert audit(engine) == [] and simulator.sim.calls == []


@pytest.mark.parametrize(
    ("args", "words"),
    [
        (("credit", "add", "nobody", "1"), "'nobody' is neither the label nor the token of a sub-account"),
        (("credit", "add", "main", "1"), "main is the parent account"),
        (("credit", "add", "shop-lyon-1", "1,5"), "write euros with a point"),
        (("credit", "remove", "shop-lyon-1", "0.0001"), "at most 3 decimals"),
        (("credit", "add", "shop-lyon-1", "0"), "it must be above 0"),
        (("create", "--email", "not-an-address", "--type", "simple"), "is not an e-mail address"),
        (("create", "--email", "shop.lyon@example.com", "--type", "simple"), "is already the sub-account shop-lyon-1"),
    ],
)
def test_bad_input_is_one_sentence_and_exit_65(invoke, engine, simulator, shop, args, words):
    result = invoke("accounts", *args, "--reason", "r", *(("--yes",) if args[0] != "create" else ()))
    assert result.exit_code == 65, result.output
    assert words in result.output and result.output.startswith("error: ") and result.output.count("\n") == 1
    assert audit(engine) == [] and simulator.sim.calls == []


def test_a_reason_is_required(invoke, engine, simulator, shop):
    result = invoke("accounts", "remove", "shop-lyon-1", "--yes")
    assert result.exit_code == 2 and "--reason" in result.output
    assert simulator.sim.calls == []


def test_rejections_exit_1_with_the_code_explained(invoke, engine, simulator, shop):
    short = invoke("accounts", "credit", "remove", "shop-lyon-1", "11", "--reason", "r", "--yes")
    assert short.exit_code == 1 and "rejected: insufficient credit" in short.output and "(API code 8)" in short.output
    taken = invoke("accounts", "create", "--email", simulator.sim.user["username"], "--type", "simple", "--reason", "r")
    assert taken.exit_code == 1 and "an account already uses this e-mail (API code 7)" in taken.output
    assert [r[4:] for r in audit(engine)] == [("rejected", 8), ("rejected", 7)]


def test_an_answer_cut_after_the_move_is_settled_from_the_balance(invoke, engine, simulator, shop):
    simulator.sim.faults.inject("subaccount/credit/add", "act_then_delay", seconds=4)
    result = invoke("accounts", "credit", "add", "shop-lyon-1", "1", "--reason", "r", "--yes")
    assert result.exit_code == 0, result.output
    assert "no answer from the API; re-read: balance 10.245 before, 11.245 now: the 1.000 EUR were moved" in result.output
    assert audit(engine)[0][4] == "resolved_success"
