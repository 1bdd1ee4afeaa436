"""A poison item never stalls the statuses job; money and codes are stored exactly or not at all (issue 16).

Through the real simulator over sockets, its ``malformed_item`` and ``api_error`` faults, on SQLite, PostgreSQL
and MariaDB.
"""

from __future__ import annotations

import dataclasses
from datetime import timedelta
from decimal import Decimal

import pytest

from etl.config import StatusesConfig
from tests.jobs.helpers import TEST_KEY, run, sim_clock
from tests.jobs.test_statuses import as_utc, now_of, recipient, rows, send_and_track

A, B, C = "+33612345678", "+33612345679", "+33612345670"
BAD_DATE = "04/12/2026 07:00"


def cycle(engine, config, client, sim):
    report = run("statuses", engine, config, client, now=sim_clock(sim))
    assert report.result is not None, report
    return report


def live_cycles(engine, config, client, sim, hours: float, step_minutes: float) -> list[str]:
    """Advance the simulated clock ``hours`` by ``step_minutes``, one cycle per step; the outcomes."""
    outcomes = []
    for _ in range(int(hours * 60 / step_minutes)):
        sim.clock.advance(timedelta(minutes=step_minutes))
        outcomes.append(cycle(engine, config, client, sim).outcome)
    return outcomes


def rejected(engine):
    return rows(engine, "SELECT endpoint, ref_kind, ref, times_seen, reason FROM rejected_items ORDER BY id")


@pytest.mark.parametrize(
    "spoil", [dict(field="date", value=BAD_DATE), dict()], ids=["date-not-a-date", "item-not-an-object"]
)
def test_malformed_multi_status_item_is_quarantined_and_the_rest_of_the_cycle_applied(env, spoil):
    engine, sim, config, client = env
    mid = send_and_track(engine, config, sim, [A, B, C])
    sim.plan(mid, A, [(timedelta(seconds=30), "Delivered")])
    sim.plan(mid, B, [(timedelta(hours=5), "Delivered")])
    sim.plan(mid, C, [(timedelta(hours=5), "Delivered")])
    sim.clock.advance(timedelta(minutes=2))
    assert cycle(engine, config, client, sim).outcome == "success"
    sim.clock.advance(timedelta(hours=3, minutes=5))  # A's first cost read is due; B and C polls too
    sim.faults.inject("multi-status", "malformed_item", index=0, **spoil)
    asked = now_of(sim)

    report = cycle(engine, config, client, sim)

    assert report.outcome == "partial" and report.result.detail == "partial, 1 item quarantined"
    [(endpoint, kind, ref, times, reason)] = rejected(engine)
    assert (endpoint, times) == ("multi-status", 1)
    if spoil:
        assert kind == "recipient" and ref in (f"{mid}/{B}", f"{mid}/{C}") and "date" in reason
    else:
        assert (kind, ref) == (None, None), "an item that is not an object names no recipient"
    for phone in (B, C):  # the good item's pair, and the bad one's: polled, nothing of the bad item stored
        r = recipient(engine, phone)
        assert (r["poll_count"], r["status"], r["item_code"]) == (2, "Waiting", None)
        assert as_utc(r["next_poll_at"]) > as_utc(asked), "its ladder moved on"
    assert rows(engine, "SELECT COUNT(*) FROM status_events") == [(3,)], "A: Delivered; B, C: Waiting"
    assert len(sim.calls_to("message-status")) == 1, "the cost reads after the statuses still ran"
    assert rows(engine, "SELECT COUNT(*) FROM cost_events") == [(1,)]


def test_pair_whose_item_is_always_malformed_still_expires_at_the_end_of_its_window(env):
    engine, sim, config, client = env
    sim.quirks.expire_after_validity = False
    mid = send_and_track(engine, config, sim, [A])
    sim.plan(mid, A, [])
    sim.faults.inject("multi-status", "malformed_item", count=None, field="date", value=BAD_DATE)

    outcomes = live_cycles(engine, config, client, sim, hours=49, step_minutes=60)

    assert "failed" not in outcomes, "never failed"
    r = recipient(engine)
    assert outcomes.count("partial") == r["poll_count"], "every cycle that polled it says so"
    assert r["expired"] and r["next_poll_at"] is None and r["status"] is None
    assert r["expired_reason"] == "no final status within the polling window"
    [(_, _, ref, times, _)] = rejected(engine)
    assert ref == f"{mid}/{A}" and times == r["poll_count"] == len(sim.calls_to("multi-status"))
    calls = len(sim.calls_to("multi-status"))
    live_cycles(engine, config, client, sim, hours=6, step_minutes=60)
    assert len(sim.calls_to("multi-status")) == calls, "expired: polled no more"


def test_malformed_bulk_status_item_is_quarantined_not_flagged_absent(env):
    engine, sim, config, client = env
    config = dataclasses.replace(config, statuses=StatusesConfig(bulk_threshold=1))
    mid = send_and_track(engine, config, sim, [A, B, C])
    for phone in (A, B, C):
        sim.plan(mid, phone, [])
    sim.faults.inject("bulk-status", "malformed_item", index=1, field="date", value=BAD_DATE)
    sim.clock.advance(timedelta(minutes=2))

    report = cycle(engine, config, client, sim)

    assert len(sim.calls_to("bulk-status")) == 1 and report.outcome == "partial"
    [(endpoint, kind, ref, _, _)] = rejected(engine)
    assert endpoint == "bulk-status" and kind == "recipient"
    bad = ref.split("/")[1]
    assert ref == f"{mid}/{bad}" and bad in (A, B, C)
    got = {p: (recipient(engine, p)["status"], recipient(engine, p)["item_code"], recipient(engine, p)["poll_count"])
           for p in (A, B, C)}
    assert got.pop(bad) == (None, None, 1), "unread, not 'absent from bulk-status'"
    assert set(got.values()) == {("Waiting", None, 1)}


def test_malformed_tag_item_is_quarantined_and_its_recipient_keeps_its_ladder(env):
    engine, sim, config, client = env
    config = dataclasses.replace(config, statuses=StatusesConfig(tags=("promo",)))
    mid = sim.send([A, B, C], tag="promo")
    for phone in (A, B, C):
        sim.plan(mid, phone, [])
    sim.clock.advance(timedelta(minutes=2))
    assert cycle(engine, config, client, sim).outcome == "success"
    assert rows(engine, "SELECT COUNT(*) FROM recipients") == [(3,)]
    sim.clock.advance(timedelta(minutes=16))
    sim.faults.inject("bulk-status-by-tag", "malformed_item", index=1, field="date", value=BAD_DATE)

    report = cycle(engine, config, client, sim)

    assert report.outcome == "partial" and report.result.detail == "partial, 1 item quarantined"
    [(endpoint, kind, ref, _, _)] = rejected(engine)
    assert (endpoint, kind) == ("bulk-status-by-tag", "recipient") and ref.startswith("tag:promo/+336")
    counts = rows(engine, "SELECT poll_count, COUNT(*) FROM recipients GROUP BY poll_count")
    assert counts == [(2, 3)], "the bad item's recipient was polled too: its ladder moved"
    assert rows(engine, "SELECT failures, last_error FROM tracked_tags") == [(0, None)]


@pytest.mark.parametrize(
    ("field", "value"),
    [("currency", "EURO"), ("cost", -0.05), ("cost", "NaN"), ("cost", float("inf")), ("cost", "1e999999"),
     ("cost", "0.045123456"), ("cost", "n/a"), ("countryCode", "FRA")],
    ids=["currency-EURO", "cost-negative", "cost-nan", "cost-inf", "cost-1e999999", "cost-9-decimals",
         "cost-not-a-number", "country-3-letters"],
)
def test_unreadable_cost_read_is_quarantined_stores_nothing_and_waits_its_backoff(env, field, value):
    engine, sim, config, client = env
    mid = send_and_track(engine, config, sim, [A])
    sim.plan(mid, A, [(timedelta(seconds=30), "Delivered")], cost=Decimal("0.045"))
    sim.clock.advance(timedelta(minutes=2))
    cycle(engine, config, client, sim)
    sim.clock.advance(timedelta(hours=3, minutes=1))
    sim.faults.inject("message-status", "malformed_item", count=None, field=field, value=value)
    read_at = now_of(sim)

    report = cycle(engine, config, client, sim)

    assert report.outcome == "partial" and report.result.detail == "partial, 1 item quarantined"
    [(endpoint, kind, ref, _, reason)] = rejected(engine)
    assert (endpoint, kind, ref) == ("message-status", "recipient", f"{mid}/{A}") and field in reason
    r = recipient(engine)
    assert (r["cost"], r["currency"], r["country"], r["cost_checks"]) == (None, None, None, 1)
    assert as_utc(r["next_cost_at"]) == as_utc(read_at + timedelta(seconds=config.statuses.cost_retry))
    assert rows(engine, "SELECT COUNT(*) FROM cost_events") == [(0,)], "nothing wrong is stored"
    cycle(engine, config, client, sim)
    assert len(sim.calls_to("message-status")) == 1, "not read again at the same instant"

    sim.faults.clear()
    sim.clock.advance(timedelta(hours=6, minutes=1))
    assert cycle(engine, config, client, sim).outcome == "success"
    r = recipient(engine)
    assert Decimal(str(r["cost"])) == Decimal("0.045") and (r["currency"], r["country"]) == ("EUR", "FR")


def test_cost_with_seven_decimals_is_stored_exactly_on_every_backend(env):
    engine, sim, config, client = env
    mid = send_and_track(engine, config, sim, [A])
    sim.plan(mid, A, [(timedelta(seconds=30), "Delivered")], cost=Decimal("0.0451237"))
    sim.clock.advance(timedelta(minutes=2))
    cycle(engine, config, client, sim)
    sim.clock.advance(timedelta(hours=3, minutes=1))

    assert cycle(engine, config, client, sim).outcome == "success"

    assert Decimal(str(recipient(engine)["cost"])) == Decimal("0.0451237")
    [(cost,)] = rows(engine, "SELECT cost FROM cost_events")
    assert Decimal(str(cost)) == Decimal("0.0451237")
    [(spend,)] = rows(engine, "SELECT spend FROM spend_daily")
    assert Decimal(str(spend)) == Decimal("0.0451237")


def test_refused_tag_read_waits_its_own_backoff_while_polling_goes_on(env):
    engine, sim, config, client = env
    config = dataclasses.replace(config, statuses=StatusesConfig(tags=("promo",)))
    sim.send([B], tag="promo")
    mid = send_and_track(engine, config, sim, [A])
    sim.plan(mid, A, [])
    sim.faults.inject("bulk-status-by-tag", "api_error", count=None, code=9, message="tag refusé")
    sim.clock.advance(timedelta(minutes=2))
    refused_at = now_of(sim)

    report = cycle(engine, config, client, sim)

    assert report.outcome == "partial" and "tag promo" in report.result.detail
    assert report.result.detail.startswith("partial, 1 item quarantined")
    assert len(sim.calls_to("multi-status")) == 1 and recipient(engine, A)["status"] == "Waiting", "polling went on"
    [(endpoint, kind, ref, times, reason)] = rejected(engine)
    assert (endpoint, kind, ref, times) == ("bulk-status-by-tag", "tag", "promo", 1) and "code 9" in reason
    [(failures, next_read, error)] = rows(engine, "SELECT failures, next_read_at, last_error FROM tracked_tags")
    assert failures == 1 and as_utc(next_read) == as_utc(refused_at + timedelta(minutes=15)) and "code 9" in error

    sim.clock.advance(timedelta(minutes=10))
    cycle(engine, config, client, sim)
    assert len(sim.calls_to("bulk-status-by-tag")) == 1, "not before its backoff"
    sim.clock.advance(timedelta(minutes=6))
    cycle(engine, config, client, sim)
    assert len(sim.calls_to("bulk-status-by-tag")) == 2
    assert rows(engine, "SELECT failures FROM tracked_tags") == [(2,)]
    assert rows(engine, "SELECT times_seen FROM rejected_items") == [(2,)]

    sim.faults.clear()
    sim.clock.advance(timedelta(minutes=31))
    assert cycle(engine, config, client, sim).outcome == "success"
    assert rows(engine, "SELECT failures, next_read_at, last_error FROM tracked_tags") == [(0, None, None)]
    assert rows(engine, "SELECT message_id, phone_e164 FROM recipients WHERE message_id <> :m", m=mid) == [("tag:promo", B)]


def test_quarantined_item_that_echoes_the_key_is_stored_with_the_key_masked(env):
    engine, sim, config, client = env
    mid = send_and_track(engine, config, sim, [A])
    sim.plan(mid, A, [])
    sim.faults.inject("multi-status", "malformed_item", field="date", value=f"apiKey={TEST_KEY} {TEST_KEY}")
    sim.clock.advance(timedelta(minutes=2))

    assert cycle(engine, config, client, sim).outcome == "partial"

    [(item, reason)] = rows(engine, "SELECT item, reason FROM rejected_items")
    assert TEST_KEY not in item and TEST_KEY not in reason and "********" in item


def test_a_refused_status_call_at_the_last_poll_does_not_expire_the_pair_the_next_answer_lands(env):
    engine, sim, config, client = env
    mid = send_and_track(engine, config, sim, [A])
    sim.plan(mid, A, [(timedelta(seconds=30), "Delivered")])
    sim.clock.advance(timedelta(hours=49))  # the daemon was down: the first poll comes after the window
    sim.faults.inject("multi-status", "api_error", code=9)

    first = cycle(engine, config, client, sim)

    r = recipient(engine, A)
    assert first.outcome != "failed", "a refused call ends that call only"
    assert (r["expired"], r["status"]) == (False, None), "a refusal says nothing about the pair: it is asked again"
    assert r["next_poll_at"] is not None
    sim.clock.advance(timedelta(hours=12))
    cycle(engine, config, client, sim)
    r = recipient(engine, A)
    assert (r["status"], r["final"], r["expired"]) == ("Delivered", True, False)


def test_a_pair_whose_status_calls_are_always_refused_expires_a_week_after_its_window(env):
    engine, sim, config, client = env
    mid = send_and_track(engine, config, sim, [A])
    sim.plan(mid, A, [])
    sim.faults.inject("multi-status", "api_error", code=9, count=None)
    outcomes = live_cycles(engine, config, client, sim, hours=48 + 7 * 24 + 12, step_minutes=12 * 60)
    r = recipient(engine, A)
    assert r["expired"] and r["next_poll_at"] is None and r["status"] is None
    assert "failed" not in outcomes, "a refused call ends that call only"
