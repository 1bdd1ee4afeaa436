"""Two accounts' stop lists in one database: the same API ids, synced apart, neither touching the other's rows."""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any

from sqlalchemy import Engine, bindparam, text

from etl.accounts import PARENT, AccountRef
from etl.api.client import SmsPartnerClient
from etl.config import Secret
from etl.db.types import UtcDateTime
from etl.simulator.seedfile import add_subaccount
from tests.jobs.helpers import run, sim_clock

SHOP_STOPS = [f"+3362200000{i}" for i in range(1, 6)]


def _follow(engine: Engine, sim: Any) -> tuple[AccountRef, Any]:
    """A sub-account in the simulator (its own list, ids from 1 like the parent's) and its ``accounts`` row."""
    sub = add_subaccount(sim, {"email": "shop@example.invalid", "stops": SHOP_STOPS})
    with engine.begin() as conn:
        conn.execute(
            text("INSERT INTO accounts (label, type, parent_id, token, first_seen_at) VALUES ('shop', 'simple', 1, :t, :n)")
            .bindparams(bindparam("n", datetime.now(timezone.utc), type_=UtcDateTime())),
            {"t": sub.token},
        )
        account_id = conn.execute(text("SELECT id FROM accounts WHERE label = 'shop'")).scalar_one()
    return AccountRef(int(account_id), "shop"), sub


def _client(base_url: str, key: str) -> SmsPartnerClient:
    return SmsPartnerClient(base_url, Secret(key), sleep=lambda _s: None, connect_timeout=2.0, read_timeout=3.0,
                            max_attempts=3, max_retry_seconds=5.0)


def _open(engine: Engine, account: AccountRef) -> list[tuple[int, str]]:
    with engine.connect() as conn:
        rows = conn.execute(text("SELECT api_stop_id, phone_e164 FROM current_stops WHERE account_id = :a ORDER BY api_stop_id"),
                            {"a": account.id}).all()
        conn.rollback()
    return [tuple(r) for r in rows]


def _rows_of(engine: Engine, account: AccountRef) -> list[tuple[Any, ...]]:
    with engine.connect() as conn:
        rows = conn.execute(text("SELECT * FROM stop_periods WHERE account_id = :a ORDER BY id"), {"a": account.id}).all()
        conn.rollback()
    return [tuple(r) for r in rows]


def test_two_accounts_stop_lists_with_the_same_ids_sync_apart(env: Any, simulator: Any) -> None:
    engine, sim, config, client = env
    sim.add_stop("+33611000001")
    sim.add_stop("+33611000002")
    shop, sub = _follow(engine, sim)
    shop_client = _client(simulator.base_url, sub.api_key)

    assert run("stops", engine, config, client, now=sim_clock(sim)).outcome == "success"
    assert run("stops", engine, config, shop_client, now=sim_clock(sim), account=shop).outcome == "success"

    assert _open(engine, PARENT) == [(1, "+33611000001"), (2, "+33611000002")]
    assert _open(engine, shop) == list(enumerate(SHOP_STOPS, start=1))

    parent_rows = _rows_of(engine, PARENT)
    sub.account.remove_stop(2)
    report = run("stops", engine, config, shop_client, now=sim_clock(sim), account=shop)

    assert (report.outcome, report.result and report.result.removed) == ("success", 1), "1 of the shop's own 5 is within the guard"
    assert [i for i, _ in _open(engine, shop)] == [1, 3, 4, 5]
    assert _rows_of(engine, PARENT) == parent_rows, "the sub-account's sync left the parent's rows alone"

    shop_rows = _rows_of(engine, shop)
    assert run("stops", engine, config, client, now=sim_clock(sim)).outcome == "success"
    assert _rows_of(engine, shop) == shop_rows, "the parent's sync left the sub-account's rows alone"
    assert _open(engine, PARENT) == [(1, "+33611000001"), (2, "+33611000002")]
    with engine.connect() as conn:
        runs = conn.execute(text("SELECT account_id, COUNT(*) FROM sync_runs WHERE job = 'stops' GROUP BY account_id "
                                 "ORDER BY account_id")).all()
    assert [tuple(r) for r in runs] == [(1, 2), (shop.id, 2)], "each run row names its account"
