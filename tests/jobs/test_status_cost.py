"""``statuses.cost_source``: cost from the send's announcement (no message-status read) or one read per recipient,
through the simulator on SQLite, PostgreSQL and MariaDB; spend views and the monthly reconciliation in both modes."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest
from sqlalchemy import insert, text

from etl.config import StatusesConfig
from etl.db.schema import track_intake
from etl.jobs.status_cost import share_rows
from etl.tracking import paris_day, track_send_result
from tests.jobs.helpers import run, sim_clock

PHONES = ["+33612345601", "+33612345602", "+33612345603", "+32470123456"]
CENT = Decimal("0.00000001")


def rows(engine, sql):
    with engine.connect() as conn:
        out = [tuple(r) for r in conn.execute(text(sql))]
        conn.rollback()
    return out


def money(value) -> Decimal:
    return Decimal(str(value)).quantize(CENT)


@pytest.fixture(params=["per_recipient", "announced"])
def mode_env(request, job_env):
    return (request.param, *job_env(statuses=StatusesConfig(cost_source=request.param)))


@pytest.fixture
def announced_env(job_env):
    return job_env(statuses=StatusesConfig(cost_source="announced"))


def send_tracked(engine, config, sim, client, phones):
    """Send through the client (its answer carries cost, nbSMS, currency) and track what it announced."""
    clock = sim_clock(sim)
    result = client.send(phones, "hello")
    track_send_result(engine, result, phones, now=clock(), config=config.statuses)
    for phone in phones:
        sim.plan(result.message_id, phone, [(timedelta(seconds=30), "Delivered")])
    return result


def live(engine, config, client, sim, hours: float, step_minutes: float = 30) -> list[str]:
    """One statuses cycle per step; returns the outcomes (a failed cycle fails the test)."""
    clock = sim_clock(sim)
    outcomes = []
    for _ in range(int(hours * 60 / step_minutes)):
        sim.clock.advance(timedelta(minutes=step_minutes))
        report = run("statuses", engine, config, client, now=clock)
        assert report.outcome in ("success", "partial"), report
        outcomes.append(str(report.outcome))
    return outcomes


def test_announced_mode_prices_every_recipient_without_one_message_status_call(announced_env):
    engine, sim, config, client = announced_env
    result = send_tracked(engine, config, sim, client, PHONES)
    sim.reset_calls()

    assert set(live(engine, config, client, sim, hours=6)) == {"success"}

    assert sim.calls_to("message-status") == [], "no per-recipient cost read at all"
    costs = rows(engine, "SELECT phone_e164, cost, currency, country, next_cost_at FROM recipients ORDER BY phone_e164")
    assert sum(money(c) for _, c, _, _, _ in costs) == money(result.cost)
    assert {(cur, nxt) for _, _, cur, _, nxt in costs} == {(result.currency, None)}
    assert [country for _, _, _, country, _ in costs] == ["BE", "FR", "FR", "FR"]
    assert rows(engine, "SELECT COUNT(*) FROM cost_events") == [(4,)]
    live(engine, config, client, sim, hours=24, step_minutes=240)
    assert sim.calls_to("message-status") == [] and rows(engine, "SELECT COUNT(*) FROM cost_events") == [(4,)]


def test_both_modes_give_the_same_spend_views_per_account_day_and_currency(mode_env):
    mode, engine, sim, config, client = mode_env
    result = send_tracked(engine, config, sim, client, PHONES)

    live(engine, config, client, sim, hours=6)

    reads = len(sim.calls_to("message-status"))
    assert (reads == 0) if mode == "announced" else (reads >= len(PHONES)), (mode, reads)
    [(day, currency, amount)] = [
        (str(d), cur, money(a)) for d, cur, a in rows(engine, "SELECT day, currency, amount FROM spend_by_day WHERE kind = 'sms'")
    ]
    assert (currency, amount) == (result.currency, money(result.cost))
    daily = rows(engine, "SELECT currency, SUM(recipients), SUM(spend) FROM spend_daily GROUP BY currency")
    assert [(cur, int(n), money(s)) for cur, n, s in daily] == [(result.currency, len(PHONES), money(result.cost))]


def test_reconciliation_flags_the_month_the_account_charged_other_than_announced(announced_env):
    engine, sim, config, client = announced_env
    clock = sim_clock(sim)
    result = send_tracked(engine, config, sim, client, PHONES)
    # Re-priced after the send (a long message, a ported number): cost-resume knows, the announcement does not.
    sim.plan(result.message_id, PHONES[0], [(timedelta(seconds=30), "Delivered")], cost=Decimal("0.120"))
    live(engine, config, client, sim, hours=6)

    assert run("finance", engine, config, client, now=clock).outcome == "success"

    period = paris_day(clock()).strftime("%Y-%m")
    [(account, recorded, diff)] = rows(
        engine, f"SELECT account_cost, recorded_spend, difference FROM spend_vs_account WHERE period = '{period}'"
    )
    assert money(recorded) == money(result.cost)
    assert money(diff) == money(account) - money(result.cost) != 0


@pytest.mark.parametrize(
    ("cost", "currency", "why"), [(Decimal("-0.5"), "EUR", "not an amount"), (Decimal("0.09"), None, "no currency")]
)
def test_malformed_announced_cost_is_quarantined_once_and_nothing_is_priced(announced_env, cost, currency, why):
    engine, sim, config, client = announced_env
    mid = sim.send(PHONES[:2])
    for phone in PHONES[:2]:
        sim.plan(mid, phone, [(timedelta(seconds=30), "Delivered")])
    with engine.begin() as conn:  # a user's own application writes what its send announced
        conn.execute(
            insert(track_intake),
            [{"account_id": 1, "message_id": mid, "phone": p, "cost": cost, "currency": currency} for p in PHONES[:2]],
        )

    outcomes = live(engine, config, client, sim, hours=6)

    assert outcomes.count("partial") == 1, "the cycle that met it says so, the others are clean"
    assert rows(engine, "SELECT COUNT(*) FROM recipients WHERE final") == [(2,)]
    assert rows(engine, "SELECT cost, next_cost_at FROM recipients") == [(None, None), (None, None)]
    assert rows(engine, "SELECT COUNT(*) FROM cost_events") == [(0,)]
    [(endpoint, reason, ref)] = rows(engine, "SELECT endpoint, reason, ref FROM rejected_items")
    assert endpoint == "announced-cost" and why in reason and ref == mid
    assert sim.calls_to("message-status") == []


def test_default_mode_still_reads_each_recipient_cost_with_message_status(job_env):
    engine, sim, config, client = job_env()
    assert config.statuses.cost_source == "per_recipient"
    send_tracked(engine, config, sim, client, PHONES)
    sim.reset_calls()

    live(engine, config, client, sim, hours=6)

    asked = sorted(c.params.get("phoneNumber") for c in sim.calls_to("message-status"))
    assert asked == sorted(PHONES)


def test_shares_add_up_to_the_announced_cost_with_the_remainder_on_the_first_recipient():
    due = [(10 + i, 7, "m1", f"+3361234560{i}", Decimal("0.10000000"), "EUR") for i in range(3)]
    cost_rows, rejected = share_rows(due, {7: (3, 10)})
    assert rejected == []
    assert [r.cost for r in cost_rows] == [Decimal("0.03333334"), Decimal("0.03333333"), Decimal("0.03333333")]
    assert sum(r.cost for r in cost_rows if r.cost is not None) == Decimal("0.1")
