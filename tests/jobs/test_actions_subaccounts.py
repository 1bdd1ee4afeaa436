"""The parent's audited writes on its sub-accounts (credit moves, create, remove), against the simulator, on
three backends: rows, effects on ``accounts``, rejections, and unknown outcomes settled by reading the list back."""

from __future__ import annotations

import dataclasses
from datetime import timedelta
from decimal import Decimal

import pytest
from sqlalchemy import select

from etl.accounts import AccountRef
from etl.config_accounts import AccountsConfig
from etl.db.schema import accounts, write_actions
from etl.db.schema.base import Base
from etl.errors import InputError
from etl.jobs import actions
from etl.simulator.seedfile import add_subaccount
from tests.jobs.helpers import run, sim_clock


@pytest.fixture
def env(job_env):
    return job_env(client_kwargs={"read_timeout": 2.0})


@pytest.fixture
def shop(env):
    """A discovered sub-account holding 10.245 EUR: label shop-lyon-1, token tok-shop."""
    engine, sim, config, client = env
    sub = add_subaccount(sim, {"email": "shop.lyon@example.com", "balance": "10.245", "token": "tok-shop"})
    report = run("accounts", engine, discovering(config), client, now=sim_clock(sim))
    assert report.outcome == "success", report.error
    sim.reset_calls()
    return sub


def discovering(config):
    return dataclasses.replace(config, accounts=AccountsConfig(discover=True))


def kw(sim, **extra):
    return {"now": sim_clock(sim), "actor": "alice", "reason": "monthly budget", **extra}


def audit(engine):
    w = write_actions.c
    with engine.connect() as conn:
        rows = conn.execute(select(
            w.action, w.target, w.actor, w.reason, w.outcome, w.api_code, w.amount, w.balance_before, w.api_message,
            w.completed_at.is_not(None),
        ).order_by(w.id)).all()
        conn.rollback()
    return [tuple(r) for r in rows]


def account_row(engine, token):
    with engine.connect() as conn:
        return conn.execute(select(accounts).where(accounts.c.token == token)).first()


def writes_sent(sim):
    return [c.endpoint for c in sim.calls if c.endpoint != "subaccount/list"]


# --------------------------------------------------------------------------------------------------
# Success
# --------------------------------------------------------------------------------------------------


def test_credit_add_moves_euros_to_the_sub_account_and_audits_amount_and_balance_before(env, shop):
    engine, sim, config, client = env
    parent_before = sim.balance

    result = actions.credit_add(client, engine, "shop-lyon-1", "10.5", **kw(sim))

    assert result.outcome == "success", result.message
    assert shop.account.balance == Decimal("20.745") and sim.balance == parent_before - Decimal("10.5")
    assert "moved 10.5 EUR from main to shop-lyon-1 (now shop-lyon-1 20.745 EUR" in result.message
    [row] = audit(engine)
    assert row[:6] == ("credit_add", "tok-shop", "alice", "monthly budget", "success", 200)
    assert (row[6], row[7]) == (Decimal("10.5"), Decimal("10.245")) and row[9]
    assert writes_sent(sim) == ["subaccount/credit/add"]


def test_credit_remove_moves_euros_back_to_the_parent_by_token(env, shop):
    engine, sim, config, client = env
    result = actions.credit_remove(client, engine, "tok-shop", "0.245", **kw(sim))
    assert result.outcome == "success", result.message
    assert shop.account.balance == Decimal("10.000")
    assert audit(engine)[0][:5] == ("credit_remove", "tok-shop", "alice", "monthly budget", "success")


def test_create_records_the_new_sub_account_in_accounts_once_listed(env, shop):
    engine, sim, config, client = env
    parent_before = sim.balance

    result = actions.create_subaccount(client, engine, "brand@example.com", "advanced", credit="5", **kw(sim))

    assert result.outcome == "success", result.message
    created = sim.subaccounts.listed()[-1]
    assert created.email == "brand@example.com" and created.account.balance == Decimal("5")
    assert sim.balance == parent_before - 5
    row = account_row(engine, created.token)
    assert (row.label, row.type, row.email, row.parent_id, row.gone_since) == ("brand-2", "advanced", "brand@example.com", 1, None)
    assert f"(token {created.token}), recorded as brand-2" in result.message
    assert audit(engine)[0][:7] == ("subaccount_create", "brand@example.com", "alice", "monthly budget", "success", 200, Decimal("5"))


def test_remove_marks_the_sub_account_gone_and_keeps_its_row(env, shop):
    engine, sim, config, client = env
    result = actions.remove_subaccount(client, engine, "shop-lyon-1", **kw(sim))
    assert result.outcome == "success", result.message
    assert sim.subaccounts.get("tok-shop") is None
    assert account_row(engine, "tok-shop").gone_since is not None
    assert audit(engine)[0][:6] == ("subaccount_remove", "tok-shop", "alice", "monthly budget", "success", 200)
    with pytest.raises(InputError, match="left subaccount/list on .* \\(removed\\): nothing sent"):
        actions.credit_add(client, engine, "shop-lyon-1", "1", **kw(sim))


def test_dry_runs_call_nothing_and_write_no_row(env, shop):
    engine, sim, config, client = env
    results = [
        actions.credit_add(None, engine, "shop-lyon-1", "1", dry_run=True, **kw(sim)),
        actions.credit_remove(None, engine, "tok-shop", "1", dry_run=True, **kw(sim)),
        actions.create_subaccount(None, engine, "new@example.com", "simple", credit="2", dry_run=True, **kw(sim)),
        actions.remove_subaccount(None, engine, "shop-lyon-1", dry_run=True, **kw(sim)),
    ]
    assert [r.outcome for r in results] == ["dry_run"] * 4 and all(r.action_id is None for r in results)
    assert results[0].message == "would move 1 EUR from main to shop-lyon-1 (POST subaccount/credit/add)"
    assert "would remove the sub-account shop-lyon-1 (shop.lyon@example.com)" in results[3].message
    assert audit(engine) == [] and sim.calls == []


# --------------------------------------------------------------------------------------------------
# Refused before any call or row, and rejected by the API
# --------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "amount", "words"),
    [
        ("nobody", "1", "neither the label nor the token"),
        ("main", "1", "main is the parent account"),
        ("shop-lyon-1", "0", "must be above 0"),
        ("shop-lyon-1", "1.2345", "at most 3 decimals"),
        ("shop-lyon-1", "10,50", "with a point"),
        ("shop-lyon-1", "-3", "a positive number"),
        ("shop-lyon-1", "lots", "not an amount"),
    ],
)
def test_bad_names_and_amounts_are_refused_before_any_call_or_row(env, shop, name, amount, words):
    engine, sim, config, client = env
    with pytest.raises(InputError, match=words):
        actions.credit_add(client, engine, name, amount, **kw(sim))
    assert audit(engine) == [] and sim.calls == []


def test_a_sub_account_no_longer_listed_is_refused_before_any_write(env, shop):
    engine, sim, config, client = env
    sim.subaccounts.remove("tok-shop")
    with pytest.raises(InputError, match="not in the parent's subaccount/list"):
        actions.credit_add(client, engine, "shop-lyon-1", "1", **kw(sim))
    assert audit(engine) == [] and writes_sent(sim) == []


@pytest.mark.parametrize(("move", "amount"), [(actions.credit_add, "20000"), (actions.credit_remove, "11")])
def test_insufficient_credit_is_rejected_with_code_8(env, shop, move, amount):
    engine, sim, config, client = env
    result = move(client, engine, "shop-lyon-1", amount, **kw(sim))
    assert (result.outcome, result.api_code) == ("rejected", 8) and "insufficient credit" in result.message
    assert audit(engine)[0][4:6] == ("rejected", 8) and shop.account.balance == Decimal("10.245")


def test_a_sub_account_the_api_does_not_know_is_rejected_with_code_7(env, shop):
    engine, sim, config, client = env
    sim.faults.inject("subaccount/credit/add", "api_error", code=7)  # removed between the list read and the move
    result = actions.credit_add(client, engine, "shop-lyon-1", "1", **kw(sim))
    assert (result.outcome, result.api_code) == ("rejected", 7) and "no such sub-account" in result.message
    assert audit(engine)[0][4:6] == ("rejected", 7)


def test_create_with_an_email_another_account_uses_is_rejected_with_code_7(env, shop):
    engine, sim, config, client = env
    result = actions.create_subaccount(client, engine, sim.user["username"], "simple", **kw(sim))
    assert (result.outcome, result.api_code) == ("rejected", 7)
    assert "an account already uses this e-mail (API code 7)" in result.message
    assert audit(engine)[0][4:6] == ("rejected", 7)


@pytest.mark.parametrize("known", ["in accounts", "only listed"])
def test_create_with_an_email_already_a_sub_account_is_refused_before_any_row(env, shop, known):
    engine, sim, config, client = env
    email = "shop.lyon@example.com"
    if known == "only listed":
        email = add_subaccount(sim, {"email": "other@example.com"}).email
    with pytest.raises(InputError, match="already"):
        actions.create_subaccount(client, engine, email.upper(), "simple", **kw(sim))
    assert audit(engine) == [] and writes_sent(sim) == []


def test_remove_of_a_sub_account_already_gone_at_the_api_is_rejected_with_404(env, shop):
    engine, sim, config, client = env
    sim.subaccounts.remove("tok-shop")
    result = actions.remove_subaccount(client, engine, "tok-shop", **kw(sim))
    assert (result.outcome, result.api_code) == ("rejected", 404) and "already removed?" in result.message


# --------------------------------------------------------------------------------------------------
# Unknown outcomes: the answer is cut after the write happened (act_then_delay) or before (http_500)
# --------------------------------------------------------------------------------------------------

WRITES = {
    "credit_add": ("subaccount/credit/add", lambda c, e, s: actions.credit_add(c, e, "shop-lyon-1", "2", **kw(s))),
    "credit_remove": ("subaccount/credit/remove", lambda c, e, s: actions.credit_remove(c, e, "shop-lyon-1", "2", **kw(s))),
    "subaccount_create": (
        "subaccount/create", lambda c, e, s: actions.create_subaccount(c, e, "new@example.com", "simple", **kw(s))
    ),
    "subaccount_remove": ("subaccount/remove", lambda c, e, s: actions.remove_subaccount(c, e, "shop-lyon-1", **kw(s))),
}


def _effect_seen(engine, sim, action):
    """Whether the write happened, as the simulator and ``accounts`` show it."""
    if action == "credit_add":
        return sim.subaccounts.get("tok-shop").account.balance == Decimal("12.245")
    if action == "credit_remove":
        return sim.subaccounts.get("tok-shop").account.balance == Decimal("8.245")
    if action == "subaccount_create":
        made = [s for s in sim.subaccounts.listed() if s.email == "new@example.com"]
        return bool(made) and account_row(engine, made[0].token) is not None
    gone = sim.subaccounts.get("tok-shop") is None
    assert gone == (account_row(engine, "tok-shop").gone_since is not None)
    return gone


@pytest.mark.parametrize(("fault", "expected"), [("act_then_delay", "resolved_success"), ("http_500", "resolved_not_done")])
@pytest.mark.parametrize("action", list(WRITES))
def test_unknown_outcome_is_settled_by_reading_the_list_back_never_resent(env, shop, action, fault, expected):
    engine, sim, config, client = env
    endpoint, write = WRITES[action]
    sim.faults.inject(endpoint, fault, **({"seconds": 4} if fault == "act_then_delay" else {}))

    result = write(client, engine, sim)

    assert result.outcome == expected, result.message
    assert "re-read" in result.message
    [row] = audit(engine)
    assert row[4] == expected and "re-read" in row[8]
    assert _effect_seen(engine, sim, action) == (expected == "resolved_success")
    assert len(sim.calls_to(endpoint)) <= 1  # the delayed answer may still be on its way, never a second call


def _pending_credit_row(engine, sim, *, balance_before):
    requested = sim_clock(sim)()
    actions._open_action(
        engine, "credit_add", "tok-shop", "bob", "crash test", requested, amount=Decimal("2"), balance_before=balance_before
    )
    sim.clock.advance(actions.PENDING_GRACE + timedelta(minutes=1))


@pytest.mark.parametrize(("happened", "expected"), [(True, "resolved_success"), (False, "resolved_not_done")])
def test_the_actions_job_settles_a_credit_move_left_pending_by_its_balance(env, shop, happened, expected):
    engine, sim, config, client = env
    _pending_credit_row(engine, sim, balance_before=Decimal("10.245"))
    if happened:
        sim.subaccounts.move_credit("tok-shop", Decimal("2"), to_sub=True)

    report = run("actions", engine, config, client, now=sim_clock(sim))

    assert report.outcome == "success" and report.result.changed == 1
    assert audit(engine)[0][4] == expected
    assert sim.calls_to("subaccount/credit/add") == []


def test_a_balance_that_moved_by_another_amount_leaves_the_row_unknown(env, shop):
    engine, sim, config, client = env
    _pending_credit_row(engine, sim, balance_before=Decimal("9.000"))  # the sub-account's balance moved otherwise
    report = run("actions", engine, config, client, now=sim_clock(sim))
    assert report.result.changed == 0 and audit(engine)[0][4] == "unknown"


def test_no_sub_account_key_lands_in_any_row(env, shop):
    engine, sim, config, client = env
    actions.credit_add(client, engine, "shop-lyon-1", "1", **kw(sim))
    actions.create_subaccount(client, engine, "brand@example.com", "simple", **kw(sim))
    sim.faults.inject("subaccount/remove", "act_then_delay", seconds=4)
    actions.remove_subaccount(client, engine, "shop-lyon-1", **kw(sim))
    keys = [s.api_key for s in sim.subaccounts.by_token.values()] + [shop.api_key]
    with engine.connect() as conn:
        for table in Base.metadata.sorted_tables:
            for row in conn.execute(select(table)):
                assert not any(key in str(value) for value in row for key in keys), table.name


def test_a_sub_accounts_actions_run_leaves_the_parents_sub_account_writes_alone(env, shop):
    engine, sim, config, client = env
    _pending_credit_row(engine, sim, balance_before=Decimal("10.245"))
    with engine.connect() as conn:
        shop_id = conn.execute(select(accounts.c.id).where(accounts.c.token == "tok-shop")).scalar_one()
    report = run("actions", engine, config, client, now=sim_clock(sim), account=AccountRef(shop_id, "shop-lyon-1"))
    assert report.result.changed == 0 and audit(engine)[0][4] == "pending"
