"""The account directory: who jobs run for, with keys held in memory only and read again after a restart."""

from __future__ import annotations

import dataclasses

from etl.account_directory import AccountDirectory, wire
from etl.accounts import OneAccount
from etl.config import Secret
from etl.config_accounts import AccountsConfig, FollowedAccount
from etl.simulator.seedfile import add_subaccount
from tests.jobs.helpers import TEST_KEY, make_client, run, sim_clock


def discovering(config, **kw):
    return dataclasses.replace(config, accounts=AccountsConfig(discover=True, **kw))


def seeded(env):
    engine, sim, config, client = env
    shop = add_subaccount(sim, {"email": "shop@example.com", "token": "tok-shop"})
    brand = add_subaccount(sim, {"email": "brand@example.com", "token": "tok-brand"})
    return shop, brand


def labels(directory):
    return [(f.ref.label, f.key.reveal()) for f in directory.followed()]


def test_the_accounts_job_hands_keys_to_the_directory_and_jobs_then_run_for_each(env):
    engine, sim, config, client = env
    shop, brand = seeded(env)
    config = discovering(config)
    directory = AccountDirectory(config, engine, Secret(TEST_KEY))
    run("accounts", engine, config, client, now=sim_clock(sim), learn_keys=directory.learn)
    assert labels(directory) == [("main", TEST_KEY), ("shop-1", shop.api_key), ("brand-2", brand.api_key)]
    assert all(key in directory.book for key in (TEST_KEY, shop.api_key, brand.api_key))


def test_a_restarted_process_reads_the_list_once_for_the_keys_it_lost(env):
    engine, sim, config, client = env
    shop, brand = seeded(env)
    config = discovering(config)
    run("accounts", engine, config, client, now=sim_clock(sim))  # another instance: keys not shared
    made: list[str] = []

    def factory(key):
        made.append(key.reveal())
        return make_client(config.api.base_url)

    ticks = iter([0.0, 1.0, 1000.0])
    directory = AccountDirectory(config, engine, Secret(TEST_KEY), client_factory=factory, clock=lambda: next(ticks))
    assert labels(directory)[1:] == [("shop-1", shop.api_key), ("brand-2", brand.api_key)]
    assert made == [TEST_KEY]
    listed = sum(1 for call in sim.calls if call.endpoint == "subaccount/list")
    assert labels(directory)[1:] == [("shop-1", shop.api_key), ("brand-2", brand.api_key)]
    assert sum(1 for call in sim.calls if call.endpoint == "subaccount/list") == listed  # keys known: no read


def test_an_account_whose_key_is_unknown_is_left_out_not_run_keyless(env):
    engine, sim, config, client = env
    seeded(env)
    config = discovering(config)
    run("accounts", engine, config, client, now=sim_clock(sim))
    directory = AccountDirectory(config, engine, Secret(TEST_KEY))  # no client to read keys with
    assert labels(directory) == [("main", TEST_KEY)]


def test_excluded_and_gone_sub_accounts_are_not_followed(env):
    engine, sim, config, client = env
    shop, brand = seeded(env)
    config = discovering(config, exclude=("tok-brand",))
    directory = AccountDirectory(config, engine, Secret(TEST_KEY))
    run("accounts", engine, config, client, now=sim_clock(sim), learn_keys=directory.learn)
    assert [label for label, _ in labels(directory)] == ["main", "shop-1"]
    sim.subaccounts.remove(shop.token)
    run("accounts", engine, config, client, now=sim_clock(sim), learn_keys=directory.learn)
    assert [label for label, _ in labels(directory)] == ["main"]


def test_a_followed_entry_uses_its_own_key_and_label(env):
    engine, sim, config, client = env
    shop, _brand = seeded(env)
    follow = (FollowedAccount(label="lyon", key_env="LYON_KEY", token="tok-shop"),)
    config = dataclasses.replace(config, accounts=AccountsConfig(follow=follow))
    directory = AccountDirectory(config, engine, Secret(TEST_KEY), followed_keys={"lyon": Secret(shop.api_key)})
    run("accounts", engine, config, client, now=sim_clock(sim), learn_keys=directory.learn)
    assert labels(directory) == [("main", TEST_KEY), ("lyon", shop.api_key)]


def test_without_accounts_settings_the_parent_alone_is_followed(env, monkeypatch):
    engine, _sim, config, _client = env
    monkeypatch.setenv("SMSPARTNER_API_KEY", TEST_KEY)
    accounts, _factory = wire(config, engine)
    assert isinstance(accounts, OneAccount)
