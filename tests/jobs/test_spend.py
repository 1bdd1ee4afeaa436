"""Rental costs and spend per account: `location/status` costs into `rental_costs` (with history) and
`spend_by_day`, balances in `balance_history`, accounts kept apart; the BI queries of docs/schema.md as written."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, insert, text

from etl.accounts import AccountRef
from etl.api.client import SmsPartnerClient
from etl.config import RentalsConfig, RentalToken
from etl.db import dialect
from etl.db.engine import make_engine
from etl.db.schema import account_snapshots, accounts, monthly_costs, recipients, rental_costs, rentals, sends
from etl.db.spend_rollup import rebuild
from etl.jobs import rentals as rentals_job
from etl.secrets import Secret
from etl.simulator.seedfile import add_subaccount
from tests.jobs.helpers import run, sim_clock

TOKEN = "tok-alpha-0001"
NUMBERS = ["+33612345601", "+33612345602", "+33612345603", "+33712345604", "+32470123456"]
SCHEMA_DOC = Path(__file__).resolve().parents[2] / "docs" / "schema.md"
AT = datetime(2026, 1, 5, 10, 0, tzinfo=UTC)

#: The BI queries docs/schema.md shows, verbatim ("Spend and balances per account").
ONE_DAY = (
    "SELECT account_label, kind, currency, amount, count FROM spend_by_day WHERE day = '2026-01-05' "
    "ORDER BY account_label, kind, currency;"
)
PER_MONTH = (
    "SELECT account_label, SUBSTR(CAST(day AS CHAR(10)), 1, 7) AS month, currency, SUM(amount) AS spend\n"
    "  FROM spend_by_day\n"
    " GROUP BY account_label, SUBSTR(CAST(day AS CHAR(10)), 1, 7), currency\n"
    " ORDER BY account_label, month, currency;"
)
SMS_VS_RENTAL = (
    "SELECT account_label, currency,\n"
    "       SUM(CASE WHEN kind = 'sms' THEN amount ELSE 0 END) AS sms,\n"
    "       SUM(CASE WHEN kind = 'rental' THEN amount ELSE 0 END) AS rental\n"
    "  FROM spend_by_day\n"
    " WHERE day >= '2026-01-01' AND day < '2026-02-01'\n"
    " GROUP BY account_label, currency\n"
    " ORDER BY account_label, currency;"
)
BALANCES = "SELECT account_label, observed_at, balance, currency FROM balance_history ORDER BY account_label, observed_at;"
RECONCILE = (
    "SELECT account_label, period, currency, account_cost, recorded_spend, difference FROM spend_vs_account "
    "ORDER BY account_label, period;"
)


@pytest.fixture
def env(job_env, tmp_path, monkeypatch):
    monkeypatch.setenv(rentals_job.SPOOL_ENV, str(tmp_path / "spool"))
    return job_env(rentals=RentalsConfig(tokens=(RentalToken(TOKEN, "alpha"),)))


def query(engine: Engine, sql: str, **params: Any) -> list[tuple[Any, ...]]:
    with engine.connect() as conn:
        rows = [tuple(r) for r in conn.execute(text(sql), params)]
        conn.rollback()
    return rows


def money(value: Any) -> Decimal:
    return Decimal(str(value)).quantize(Decimal("0.00000001"))


def test_the_quoted_rental_cost_is_stored_and_counted_as_rental_spend_on_its_day(env):
    engine, sim, config, client = env
    clock = sim_clock(sim)
    sim.add_rental(TOKEN, NUMBERS)
    assert run("finance", engine, config, client, now=clock).outcome == "success"  # the account's currency

    report = run("rentals", engine, config, client, now=clock)

    assert report.outcome == "success", report.error
    [(total, unit, quantity, currency, day)] = query(
        engine, "SELECT total, unit_cost, quantity, currency, cost_day FROM rental_costs"
    )
    assert (money(total), money(unit), quantity, currency) == (money("0.450"), money("0.090"), 5, "EUR")
    assert str(day) == "2026-01-05"
    rows = query(engine, "SELECT account_id, account_label, day, currency, kind, amount, count FROM spend_by_day")
    assert [(a, lbl, str(d), cur, k, money(amt), n) for a, lbl, d, cur, k, amt, n in rows] == [
        (1, "main", "2026-01-05", "EUR", "rental", money("0.45"), 1)
    ]


def test_a_changed_cost_wins_and_keeps_the_earlier_reading_as_history(env):
    engine, sim, config, client = env
    clock = sim_clock(sim)
    sim.add_rental(TOKEN, NUMBERS)
    run("rentals", engine, config, client, now=clock)
    sim.clock.advance(timedelta(days=2))
    run("rentals", engine, config, client, now=clock)  # the same price: nothing new
    sim.set_rental_unit_cost(TOKEN, Decimal("0.120"))
    sim.clock.advance(timedelta(days=1))
    run("rentals", engine, config, client, now=clock)

    history = query(engine, "SELECT total, unit_cost, observed_at FROM rental_cost_events ORDER BY id")
    assert [(money(t), money(u)) for t, u, _ in history] == [(money("0.45"), money("0.09")), (money("0.60"), money("0.12"))]
    [(total, day, first, changed, observed)] = query(
        engine, "SELECT total, cost_day, first_seen_at, changed_at, observed_at FROM rental_costs"
    )
    assert money(total) == money("0.60")
    assert str(day) == "2026-01-05", "the spend stays on the order's day"
    assert changed == observed and changed > first
    [(amount,)] = query(engine, "SELECT amount FROM spend_by_day WHERE kind = 'rental'")
    assert money(amount) == money("0.60")


def test_an_unreadable_cost_is_quarantined_and_the_file_still_loads(env):
    engine, sim, config, client = env
    clock = sim_clock(sim)
    sim.add_rental(TOKEN, NUMBERS)
    sim.set_rental_unit_cost(TOKEN, Decimal("0.0000000001"))  # 10 decimals: not an exact Money amount

    report = run("rentals", engine, config, client, now=clock)

    assert report.result.added == 5
    assert query(engine, "SELECT COUNT(*) FROM rental_costs") == [(0,)]
    [(endpoint, reason)] = query(engine, "SELECT endpoint, reason FROM rejected_items")
    assert endpoint == "location/status" and "cost" in reason


# --- per account, and the documented queries ------------------------------------------------------------------------


def _seed_two_accounts(engine: Engine) -> None:
    """Account 1 (main) and 2 (shop): SMS costs and a rental each, balances, one month of cost-resume each."""
    with engine.begin() as conn:
        conn.execute(insert(accounts).values(label="shop", type="simple", parent_id=1, token="sub-tok", first_seen_at=AT))
        for account, costs, rental_total in ((1, ["0.045", "0.045"], "0.900"), (2, ["0.035"], "1.800")):
            send_id = conn.execute(insert(sends).values(
                account_id=account, message_id=f"m{account}", sent_at=AT, started_at=AT, sent_day=date(2026, 1, 5),
                source="python", created_at=AT,
            )).inserted_primary_key[0]
            for i, cost in enumerate(costs):
                conn.execute(insert(recipients).values(
                    account_id=account, send_id=send_id, message_id=f"m{account}", phone_e164=f"+3361234560{i}",
                    phone_raw=f"+3361234560{i}", sent_day=date(2026, 1, 5), poll_until=AT, first_seen_at=AT,
                    cost=Decimal(cost), currency="EUR", final=True,
                ))
            rental_id = conn.execute(insert(rentals).values(
                account_id=account, token=f"tok{account}", label="r", source="cli", added_at=AT, active=True,
            )).inserted_primary_key[0]
            conn.execute(insert(rental_costs).values(
                rental_id=rental_id, account_id=account, total=Decimal(rental_total), unit_cost=Decimal("0.090"),
                quantity=int(Decimal(rental_total) / Decimal("0.090")), currency="EUR", cost_day=date(2026, 1, 5),
                first_seen_at=AT, changed_at=AT, observed_at=AT,
            ))
            for hours, balance in ((0, "100.000"), (24, "98.200")):
                conn.execute(insert(account_snapshots).values(
                    account_id=account, observed_at=AT + timedelta(hours=hours), balance=Decimal(balance) * account,
                    currency="EUR",
                ))
            conn.execute(insert(monthly_costs).values(
                account_id=account, period="2026-01", year=2026, month=1, cost=Decimal("1.000"), nb_send=3,
                currency="EUR", observed_at=AT,
            ))
        rebuild(conn)  # recipients priced here, not by cost reads: the spend rollup is rebuilt, as after a bulk import


def test_two_accounts_spend_is_kept_apart_by_account(migrated_db_url):
    engine = make_engine(migrated_db_url)
    try:
        _seed_two_accounts(engine)
        rows = query(engine, "SELECT account_id, kind, amount, count FROM spend_by_day ORDER BY account_id, kind")
        assert [(a, k, money(v), n) for a, k, v, n in rows] == [
            (1, "rental", money("0.9"), 1), (1, "sms", money("0.09"), 2),
            (2, "rental", money("1.8"), 1), (2, "sms", money("0.035"), 1),
        ]
        reconciled = query(engine, "SELECT account_id, recorded_spend, recorded_recipients FROM spend_vs_account ORDER BY account_id")
        assert [(a, money(s), n) for a, s, n in reconciled] == [(1, money("0.09"), 2), (2, money("0.035"), 1)]
    finally:
        engine.dispose()


def test_balance_history_has_every_reading_of_every_account(migrated_db_url):
    engine = make_engine(migrated_db_url)
    try:
        _seed_two_accounts(engine)
        rows = query(engine, "SELECT account_id, account_label, balance, currency FROM balance_history ORDER BY account_id, observed_at")
        assert [(a, lbl, money(b), c) for a, lbl, b, c in rows] == [
            (1, "main", money("100"), "EUR"), (1, "main", money("98.2"), "EUR"),
            (2, "shop", money("200"), "EUR"), (2, "shop", money("196.4"), "EUR"),
        ]
    finally:
        engine.dispose()


def test_the_spend_queries_docs_schema_shows_run_as_written(migrated_db_url):
    doc = SCHEMA_DOC.read_text(encoding="utf-8")
    for sql in (ONE_DAY, PER_MONTH, SMS_VS_RENTAL, BALANCES, RECONCILE):
        assert sql in doc, f"docs/schema.md no longer shows: {sql.splitlines()[0]}"
    engine = make_engine(migrated_db_url)
    try:
        _seed_two_accounts(engine)
        one_day = [(lbl, k, c, money(v), n) for lbl, k, c, v, n in query(engine, ONE_DAY)]
        assert one_day == [
            ("main", "rental", "EUR", money("0.9"), 1), ("main", "sms", "EUR", money("0.09"), 2),
            ("shop", "rental", "EUR", money("1.8"), 1), ("shop", "sms", "EUR", money("0.035"), 1),
        ]
        per_month = [(lbl, m, c, money(v)) for lbl, m, c, v in query(engine, PER_MONTH)]
        assert per_month == [("main", "2026-01", "EUR", money("0.99")), ("shop", "2026-01", "EUR", money("1.835"))]
        split = [(lbl, c, money(s), money(r)) for lbl, c, s, r in query(engine, SMS_VS_RENTAL)]
        assert split == [("main", "EUR", money("0.09"), money("0.9")), ("shop", "EUR", money("0.035"), money("1.8"))]
        assert [lbl for lbl, *_ in query(engine, BALANCES)] == ["main", "main", "shop", "shop"]
        reconcile = [(lbl, p, c, money(a), money(r), money(d)) for lbl, p, c, a, r, d in query(engine, RECONCILE)]
        assert reconcile == [
            ("main", "2026-01", "EUR", money("1"), money("0.09"), money("0.91")),
            ("shop", "2026-01", "EUR", money("1"), money("0.035"), money("0.965")),
        ]
    finally:
        engine.dispose()


def test_finance_runs_per_account_keep_each_accounts_balances_and_months_apart(env):
    engine, sim, config, client = env
    clock = sim_clock(sim)
    shop = add_subaccount(sim, {"email": "shop@example.com", "balance": "10.245", "token": "tok-shop"})
    with engine.begin() as conn:
        shop_id = dialect.inserted_id(conn.execute(insert(accounts).values(
            label="shop", type="simple", parent_id=1, token="tok-shop", first_seen_at=clock(),
        )))
    sim.send(["+33612345601", "+33612345602"])
    shop.account.send(["+33612345603"])
    shop_client = SmsPartnerClient(config.api.base_url, Secret(shop.api_key), sleep=lambda _seconds: None)

    assert run("finance", engine, config, client, now=clock).outcome == "success"
    report = run("finance", engine, config, shop_client, now=clock, account=AccountRef(shop_id, "shop"))
    assert report.outcome == "success", report.error

    balances = query(engine, "SELECT account_label, balance FROM balance_history ORDER BY account_id")
    assert [(lbl, money(b)) for lbl, b in balances] == [("main", money(sim.balance)), ("shop", money(shop.account.balance))]
    months = query(engine, "SELECT account_id, COUNT(*), SUM(nb_send) FROM monthly_costs GROUP BY account_id ORDER BY account_id")
    assert months == [(1, 12, 2), (shop_id, 12, 1)]
    reconciled = query(engine, "SELECT account_label, account_nb_send FROM spend_vs_account WHERE period = '2026-01' ORDER BY account_id")
    assert reconciled == [("main", 2), ("shop", 1)]


def test_a_sub_accounts_rental_cost_is_its_own_spend(job_env, tmp_path, monkeypatch):
    monkeypatch.setenv(rentals_job.SPOOL_ENV, str(tmp_path / "spool"))
    engine, sim, config, _client = job_env()
    clock = sim_clock(sim)
    shop = add_subaccount(sim, {"email": "shop@example.com", "balance": "10", "token": "tok-shop"})
    shop.account.add_rental("tok-shop-rental", NUMBERS[:2])
    with engine.begin() as conn:
        shop_id = dialect.inserted_id(conn.execute(insert(accounts).values(
            label="shop", type="simple", parent_id=1, token="tok-shop", first_seen_at=clock(),
        )))
        conn.execute(insert(rentals).values(
            account_id=shop_id, token="tok-shop-rental", label="shop file", source="cli", added_at=clock(), active=True,
        ))
    shop_client = SmsPartnerClient(config.api.base_url, Secret(shop.api_key), sleep=lambda _seconds: None)

    report = run("rentals", engine, config, shop_client, now=clock, account=AccountRef(shop_id, "shop"))
    shop.account.set_rental_unit_cost("tok-shop-rental", Decimal("0.0000000001"))  # unreadable: quarantined as shop's
    run("rentals", engine, config, shop_client, now=clock, account=AccountRef(shop_id, "shop"))

    assert report.outcome == "success", report.error
    rows = query(engine, "SELECT account_id, account_label, kind, amount, count FROM spend_by_day")
    assert [(a, lbl, k, money(v), n) for a, lbl, k, v, n in rows] == [(shop_id, "shop", "rental", money("0.18"), 1)]
    assert query(engine, "SELECT account_id, endpoint FROM rejected_items") == [(shop_id, "location/status")]
