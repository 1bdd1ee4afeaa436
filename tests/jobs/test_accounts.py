"""The accounts job: sub-accounts discovered into ``accounts`` with their balances, keys kept in memory only."""

from __future__ import annotations

import dataclasses
from decimal import Decimal

import pytest
from sqlalchemy import select

from etl.config_accounts import AccountsConfig, FollowedAccount
from etl.db.schema import account_snapshots, accounts
from etl.db.schema.base import Base
from etl.outcome import Outcome
from etl.simulator.seedfile import add_subaccount
from tests.jobs.helpers import run, sim_clock


@pytest.fixture
def two_subs(env):
    engine, sim, config, client = env
    shop = add_subaccount(sim, {"email": "shop.lyon@example.com", "balance": "10.245", "token": "tok-shop"})
    brand = add_subaccount(sim, {"email": "brand@example.com", "type": "advanced", "balance": "0.8", "token": "tok-brand"})
    return shop, brand


def discovering(config, **kw):
    return dataclasses.replace(config, accounts=AccountsConfig(discover=True, **kw))


def account_rows(engine):
    a = accounts.c
    with engine.connect() as conn:
        return {r.token: r for r in conn.execute(select(accounts).where(a.id != 1).order_by(a.id))}


def test_discovery_adds_each_sub_account_with_a_label_its_balance_and_learns_its_key(env, two_subs):
    engine, sim, config, client = env
    learnt: list = []
    report = run("accounts", engine, discovering(config), client, now=sim_clock(sim), learn_keys=learnt.extend)

    assert report.outcome == Outcome.SUCCESS
    rows = account_rows(engine)
    assert {t: (r.label, r.type, r.parent_id, r.gone_since) for t, r in rows.items()} == {
        "tok-shop": ("shop-lyon-1", "simple", 1, None),
        "tok-brand": ("brand-2", "advanced", 1, None),
    }
    assert {token: key.reveal() for token, key in learnt} == {s.token: s.api_key for s in two_subs}
    with engine.connect() as conn:
        balances = dict(conn.execute(
            select(accounts.c.token, account_snapshots.c.balance).join(accounts, accounts.c.id == account_snapshots.c.account_id)
        ).all())
    assert balances == {"tok-shop": Decimal("10.245"), "tok-brand": Decimal("0.8")}


def test_no_sub_account_key_lands_in_any_table(env, two_subs):
    engine, sim, config, client = env
    sim.faults.inject("subaccount/list", "malformed_item", index=0, field="createdAt", value={"not": "a date"})
    run("accounts", engine, discovering(config), client, now=sim_clock(sim))
    keys = [s.api_key for s in two_subs]
    with engine.connect() as conn:
        for table in Base.metadata.sorted_tables:
            for row in conn.execute(select(table)):
                assert not any(key in str(value) for value in row for key in keys), table.name


def test_a_sub_account_gone_from_a_complete_list_is_marked_gone_and_comes_back_when_listed(env, two_subs):
    engine, sim, config, client = env
    shop, _brand = two_subs
    run("accounts", engine, discovering(config), client, now=sim_clock(sim))
    sim.subaccounts.remove(shop.token)
    report = run("accounts", engine, discovering(config), client, now=sim_clock(sim))
    assert report.outcome == Outcome.SUCCESS and report.result.removed == 1
    rows = account_rows(engine)
    assert rows["tok-shop"].gone_since is not None and rows["tok-brand"].gone_since is None


def test_an_unreadable_item_makes_the_read_partial_and_marks_nothing_gone(env, two_subs):
    engine, sim, config, client = env
    shop, _brand = two_subs
    run("accounts", engine, discovering(config), client, now=sim_clock(sim))
    sim.subaccounts.remove(shop.token)
    sim.faults.inject("subaccount/list", "malformed_item", index=0, field="credits", value="lots")
    report = run("accounts", engine, discovering(config), client, now=sim_clock(sim))
    assert report.outcome == Outcome.PARTIAL
    assert "1 item quarantined" in report.result.detail
    assert account_rows(engine)["tok-shop"].gone_since is None


def test_without_discovery_only_the_followed_tokens_get_rows_and_keys(env, two_subs):
    engine, sim, config, client = env
    follow = (FollowedAccount(label="the-shop", key_env="SHOP_KEY", token="tok-shop"),)
    learnt: list = []
    report = run("accounts", engine, dataclasses.replace(config, accounts=AccountsConfig(follow=follow)), client,
                 now=sim_clock(sim), learn_keys=learnt.extend)
    assert report.outcome == Outcome.SUCCESS
    assert {t: r.label for t, r in account_rows(engine).items()} == {"tok-shop": "the-shop"}
    assert [token for token, _key in learnt] == ["tok-shop"]


def test_with_nothing_to_follow_the_job_calls_nothing(env, two_subs):
    engine, sim, config, client = env
    before = len(sim.calls)
    report = run("accounts", engine, config, client, now=sim_clock(sim))
    assert report.outcome == Outcome.SUCCESS and "no sub-account followed" in report.result.detail
    assert account_rows(engine) == {}
    assert len(sim.calls) == before
