"""Finance: /me as history, cost-resume monthly totals, recorded spend against them."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

from sqlalchemy import text

from etl.tracking import TrackedSend, track
from tests.jobs.helpers import run, sim_clock

PHONES = ["+33612345678", "+33612345679"]


def rows(engine, sql):
    with engine.connect() as conn:
        out = [tuple(r) for r in conn.execute(text(sql))]
        conn.rollback()
    return out


def test_recorded_spend_is_shown_against_the_account_monthly_total(env):
    engine, sim, config, client = env
    clock = sim_clock(sim)
    mid = sim.send(PHONES)
    for phone in PHONES:
        sim.plan(mid, phone, [(timedelta(seconds=10), "Delivered")], cost_after=timedelta(0), cost=Decimal("0.045"))
    sim.send(["+33612345670"])  # sent but not tracked: the difference
    track(engine, [TrackedSend(mid, PHONES, sent_at=clock())], now=clock(), config=config.statuses)
    for _ in range(8):  # past the first cost read, 3 h after delivery
        sim.clock.advance(timedelta(minutes=30))
        assert run("statuses", engine, config, client, now=clock).outcome == "success"

    report = run("finance", engine, config, client, now=clock)
    assert report.outcome == "success", report

    (balance, currency), = rows(engine, "SELECT balance, currency FROM account_snapshots")
    assert Decimal(str(balance)) == sim.balance and currency == "EUR"
    row = rows(engine, "SELECT period, currency, account_cost, recorded_spend, difference FROM spend_vs_account WHERE period = '2026-01'")
    assert len(row) == 1
    period, cur, account, recorded, diff = row[0]
    assert (period, cur) == ("2026-01", "EUR")
    assert Decimal(str(account)).quantize(Decimal("0.001")) == Decimal("0.135")
    assert Decimal(str(recorded)).quantize(Decimal("0.001")) == Decimal("0.090")
    assert Decimal(str(diff)).quantize(Decimal("0.001")) == Decimal("0.045")

    sim.clock.advance(timedelta(minutes=1))
    run("finance", engine, config, client, now=clock)
    assert rows(engine, "SELECT COUNT(*) FROM account_snapshots") == [(2,)], "balance kept as history"
    assert rows(engine, "SELECT COUNT(*) FROM monthly_costs WHERE period = '2026-01'") == [(1,)]


def test_status_funnel_counts_per_send(env):
    engine, sim, config, client = env
    clock = sim_clock(sim)
    sim.quirks.expire_after_validity = False
    mid = sim.send(PHONES + ["+33612345670"], tag="promo")
    sim.plan(mid, PHONES[0], [(timedelta(seconds=10), "Delivered")])
    sim.plan(mid, PHONES[1], [(timedelta(seconds=10), "Not delivered")])
    sim.plan(mid, "+33612345670", [])
    track(engine, [TrackedSend(mid, PHONES + ["+33612345670"], sent_at=clock(), tag="promo")], now=clock(), config=config.statuses)
    sim.clock.advance(timedelta(minutes=2))
    run("statuses", engine, config, client, now=clock)

    funnel = rows(engine, "SELECT message_id, tag, recipients, delivered, failed, pending, expired FROM status_funnel")
    assert [tuple(int(x) if not isinstance(x, str) else x for x in r) for r in funnel] == [(mid, "promo", 3, 1, 1, 1, 0)]


def test_unreadable_month_of_cost_resume_is_quarantined_and_the_others_kept(env):
    engine, sim, config, client = env
    clock = sim_clock(sim)
    sim.send(PHONES)  # a month with a cost
    sim.faults.inject("statistics/cost-resume", "malformed_item", index=0, field="cost", value="-0.09")

    report = run("finance", engine, config, client, now=clock)

    assert report.outcome == "partial" and report.result.detail.startswith("partial, 1 item quarantined"), report
    [(endpoint, reason)] = rows(engine, "SELECT endpoint, reason FROM rejected_items")
    assert endpoint == "statistics/cost-resume" and "negative" in reason
    months = int(report.result.figures["months"])
    assert rows(engine, "SELECT COUNT(*) FROM monthly_costs") == [(months,)] and months >= 1
    assert rows(engine, "SELECT COUNT(*) FROM account_snapshots") == [(1,)]
