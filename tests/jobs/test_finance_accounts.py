"""Each account's balance and monthly totals land in its own rows: the same month twice, apart."""

from __future__ import annotations

from typing import Any

from sqlalchemy import text

from etl.accounts import PARENT
from tests.jobs.helpers import run, sim_clock
from tests.jobs.test_stops_accounts import _client, _follow


def test_two_accounts_finance_runs_keep_their_own_balance_and_months(env: Any, simulator: Any) -> None:
    engine, sim, config, client = env
    shop, sub = _follow(engine, sim)

    assert run("finance", engine, config, client, now=sim_clock(sim)).outcome == "success"
    assert run("finance", engine, config, _client(simulator.base_url, sub.api_key), now=sim_clock(sim), account=shop).outcome == "success"
    assert run("finance", engine, config, client, now=sim_clock(sim)).outcome == "success"

    with engine.connect() as conn:
        snapshots = conn.execute(text("SELECT account_id, COUNT(*) FROM account_snapshots GROUP BY account_id ORDER BY account_id")).all()
        months = conn.execute(text("SELECT account_id, COUNT(*) FROM monthly_costs GROUP BY account_id ORDER BY account_id")).all()
        balances = dict(conn.execute(text("SELECT account_id, MAX(balance) FROM account_snapshots GROUP BY account_id")).all())
    assert [tuple(r) for r in snapshots] == [(PARENT.id, 2), (shop.id, 1)]
    assert [a for a, _ in months] == [PARENT.id, shop.id] and months[0][1] == months[1][1], "the same months, once per account"
    assert float(balances[shop.id]) == float(sub.account.balance), "the sub-account's /me is its own balance"
