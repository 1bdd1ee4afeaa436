"""The daemon over sub-accounts: one scheduled fire runs the job for each account; /healthz names each."""

from __future__ import annotations

import dataclasses
from datetime import timedelta

from etl.account_directory import AccountDirectory
from etl.config import Secret
from etl.config_accounts import AccountsConfig
from etl.daemon import Daemon
from etl.simulator.seedfile import add_subaccount
from tests.jobs.helpers import TEST_KEY, sim_clock


def test_a_fire_runs_the_job_for_every_account_and_health_reports_each(env):
    engine, sim, config, client = env
    shop = add_subaccount(sim, {"email": "shop@example.com", "token": "tok-shop", "stops": {"explicit": ["+33622000001"]}})
    config = dataclasses.replace(config, accounts=AccountsConfig(discover=True))
    directory = AccountDirectory(config, engine, Secret(TEST_KEY))
    daemon = Daemon(config, engine, client_factory=lambda key: client_for(config.api.base_url, key), accounts=directory,
                    jobs=["accounts", "stops"], job_clock=sim_clock(sim))

    assert [r.outcome for r in daemon.fire("accounts")] == ["success"]
    reports = daemon.fire("stops")

    assert [(r.account.label, r.outcome) for r in reports] == [("main", "success"), ("shop-1", "success")]
    health = daemon.health()
    assert set(health.jobs) == {"accounts", "stops", "stops@shop-1"}
    assert health.ok, health.reasons
    sim.subaccounts.revoke(shop.token)
    sim.clock.advance(timedelta(hours=1))  # past the half period a scheduled fire counts as fresh
    assert [(r.account.label, r.outcome) for r in daemon.fire("stops")] == [("main", "success"), ("shop-1", "failed")]


def client_for(base_url, key):
    from etl.api.client import SmsPartnerClient

    return SmsPartnerClient(base_url, key, connect_timeout=2.0, read_timeout=3.0, max_attempts=1, sleep=lambda _s: None)
