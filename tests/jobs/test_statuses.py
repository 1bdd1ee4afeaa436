"""Status and cost polling against the simulator's clock, on SQLite, PostgreSQL and MariaDB."""

from __future__ import annotations

import dataclasses
from datetime import datetime, timedelta, timezone
from decimal import Decimal

import pytest
from sqlalchemy import text

from etl.config import StatusesConfig
from etl.jobs import status_cycle
from etl.tracking import TrackedSend, track, track_message_ids
from tests.jobs.helpers import make_client, run, sim_clock

PHONE = "+33612345678"


def as_utc(value) -> datetime:
    """A timestamp read with raw SQL (SQLite gives text) as a naive UTC datetime."""
    value = value if isinstance(value, datetime) else datetime.fromisoformat(str(value))
    return value.astimezone(timezone.utc).replace(tzinfo=None) if value.tzinfo else value


def now_of(sim) -> datetime:
    return sim_clock(sim)()


def poll(engine, config, client, sim):
    report = run("statuses", engine, config, client, now=sim_clock(sim))
    assert report.outcome in ("success", "failed"), report
    return report


def live(engine, config, client, sim, hours: float, step_minutes: float = 5):
    """Advance the simulated clock ``hours`` by ``step_minutes``, running one cycle per step."""
    steps = int(hours * 60 / step_minutes)
    for _ in range(steps):
        sim.clock.advance(timedelta(minutes=step_minutes))
        poll(engine, config, client, sim)


def rows(engine, sql, **params):
    with engine.connect() as conn:
        out = [tuple(r) for r in conn.execute(text(sql), params)]
        conn.rollback()
    return out


def recipient(engine, phone=PHONE):
    with engine.connect() as conn:
        row = conn.execute(text("SELECT * FROM recipients WHERE phone_e164 = :p"), {"p": phone}).mappings().one()
        conn.rollback()
    return row


def status_calls(sim):
    return sum(len(sim.calls_to(e)) for e in ("multi-status", "bulk-status", "bulk-status-by-tag"))


def send_and_track(engine, config, sim, phones, **kwargs):
    mid = sim.send(list(phones), **kwargs)
    track(
        engine,
        [TrackedSend(mid, list(phones), sent_at=now_of(sim), scheduled_at=kwargs.get("scheduled_at"), tag=kwargs.get("tag"))],
        now=now_of(sim),
        config=config.statuses,
    )
    return mid


def test_recipient_delivered_after_3h_gets_exactly_its_status_events(env):
    engine, sim, config, client = env
    mid = send_and_track(engine, config, sim, [PHONE])
    sim.plan(mid, PHONE, [(timedelta(hours=3), "Delivered")])
    sent = now_of(sim)

    live(engine, config, client, sim, hours=8, step_minutes=5)

    events = rows(engine, "SELECT status, status_at, source FROM status_events ORDER BY id")
    assert [e[0] for e in events] == ["Waiting", "Delivered"]
    assert abs(as_utc(events[1][1]) - as_utc(sent + timedelta(hours=3))) < timedelta(seconds=1)
    r = recipient(engine)
    assert r["status"] == "Delivered" and r["final"] and r["next_poll_at"] is None and not r["expired"]
    # The ladder: 1, 6, 21, 81 min, then every 6 h: 5 polls until the report at 7h21.
    assert r["poll_count"] == 5
    calls = status_calls(sim)
    live(engine, config, client, sim, hours=12, step_minutes=60)
    assert status_calls(sim) == calls, "a final recipient is polled no more"


def test_recipient_never_resolving_is_expired_at_48h_and_polled_no_more(env):
    engine, sim, config, client = env
    sim.quirks.expire_after_validity = False  # Waiting forever
    mid = send_and_track(engine, config, sim, [PHONE])
    sim.plan(mid, PHONE, [])

    live(engine, config, client, sim, hours=47, step_minutes=60)
    assert not recipient(engine)["expired"]
    live(engine, config, client, sim, hours=2, step_minutes=60)

    r = recipient(engine)
    assert r["expired"] and not r["final"] and r["status"] == "Waiting"
    assert r["expired_reason"] == "no final status within the polling window"
    assert r["next_poll_at"] is None
    calls = status_calls(sim)
    live(engine, config, client, sim, hours=24, step_minutes=120)
    assert status_calls(sim) == calls
    assert rows(engine, "SELECT COUNT(*) FROM expired_recipients") == [(1,)]
    assert rows(engine, "SELECT COUNT(*) FROM pending_recipients") == [(0,)]


def test_cost_appearing_after_delivery_is_recorded_as_a_second_cost_row(env):
    engine, sim, config, client = env
    mid = send_and_track(engine, config, sim, [PHONE])
    sim.plan(mid, PHONE, [(timedelta(seconds=30), "Delivered")], cost_after=timedelta(hours=5), cost=Decimal("0.045"))

    live(engine, config, client, sim, hours=4, step_minutes=10)
    assert rows(engine, "SELECT cost, currency, country FROM cost_events") == [(None, "EUR", "FR")]
    live(engine, config, client, sim, hours=8, step_minutes=30)

    costs = rows(engine, "SELECT cost, currency, country FROM cost_events ORDER BY id")
    assert len(costs) == 2
    assert costs[1][0] is not None and Decimal(str(costs[1][0])) == Decimal("0.045")
    assert costs[1][1:] == ("EUR", "FR")
    r = recipient(engine)
    assert r["next_cost_at"] is None and r["cost_checks"] == 2
    calls = len(sim.calls_to("message-status"))
    live(engine, config, client, sim, hours=24, step_minutes=240)
    assert len(sim.calls_to("message-status")) == calls, "cost known: never read again"
    spend = rows(engine, "SELECT country, currency, recipients, spend FROM spend_daily")
    assert [(c, cur, n) for c, cur, n, _ in spend] == [("FR", "EUR", 1)]


def test_batch_with_unknown_pairs_records_the_others_and_flags_those(env):
    engine, sim, config, client = env
    known = ["+33612345678", "+33612345679"]
    mid = send_and_track(engine, config, sim, known)
    # A pair the provider does not know (wrong number), and a message id it never issued.
    track(engine, [TrackedSend(mid, ["+33698765432"]), TrackedSend("999999", ["+33612345678"])],
          now=now_of(sim), config=config.statuses)
    sim.clock.advance(timedelta(minutes=2))

    poll(engine, config, client, sim)

    assert len(sim.calls_to("multi-status")) == 1
    got = dict(rows(engine, "SELECT message_id || ':' || phone_e164, COALESCE(status, '-') FROM recipients")) if engine.dialect.name != "mysql" else None
    flagged = rows(
        engine, "SELECT message_id, phone_e164, status, item_code, item_error FROM recipients WHERE item_code IS NOT NULL ORDER BY message_id"
    )
    assert [(m, p, s, c) for m, p, s, c, _ in flagged] == [
        (mid, "+33698765432", None, 4),
        ("999999", "+33612345678", None, 4),
    ]
    assert all(e == "Numéro introuvable" for *_, e in flagged)
    ok = rows(engine, "SELECT COUNT(*) FROM recipients WHERE status IS NOT NULL")
    assert ok == [(2,)]
    assert rows(engine, "SELECT COUNT(*) FROM status_events") == [(2,)]
    del got


class _StormAfter:
    """A client that lets ``ok_calls`` multi-status calls through, then lets the simulator fail."""

    def __init__(self, client, sim, ok_calls):
        self._client, self._sim, self._left = client, sim, ok_calls

    def multi_status(self, pairs):
        if self._left == 0:
            self._sim.faults.inject("multi-status", "http_503", count=20)
        self._left -= 1
        return self._client.multi_status(pairs)

    def __getattr__(self, name):
        return getattr(self._client, name)


def test_5xx_storm_mid_cycle_loses_nothing_and_next_cycle_finishes(env, monkeypatch):
    engine, sim, config, client = env
    monkeypatch.setattr(status_cycle, "CALLS_PER_BATCH", 1)
    phones = [f"+336{10000000 + i:08d}" for i in range(1200)]
    for i in range(12):  # 12 sends of 100: three multi-status calls beat twelve bulk-status ones
        send_and_track(engine, config, sim, phones[i * 100 : (i + 1) * 100])
    sim.clock.advance(timedelta(minutes=5))

    report = poll(engine, config, _StormAfter(client, sim, 1), sim)

    assert report.outcome == "failed" and "HTTP 503" in (report.result.detail or "")
    first = rows(engine, "SELECT COUNT(*) FROM recipients WHERE last_polled_at IS NOT NULL")
    assert first == [(500,)], "the batch committed before the storm stays"
    assert rows(engine, "SELECT COUNT(*) FROM status_events") == [(500,)]

    sim.faults.clear()
    report = poll(engine, config, client, sim)
    assert report.outcome == "success"
    assert rows(engine, "SELECT COUNT(*) FROM recipients WHERE last_polled_at IS NOT NULL") == [(1200,)]
    assert rows(engine, "SELECT COUNT(*) FROM recipients WHERE poll_count = 1") == [(1200,)]
    assert rows(engine, "SELECT COUNT(*) FROM status_events") == [(1200,)]


def test_scheduled_send_window_starts_at_its_send_time(env):
    engine, sim, config, client = env
    sim.quirks.expire_after_validity = False
    scheduled = (now_of(sim) + timedelta(hours=10)).replace(minute=0, second=0, microsecond=0)
    mid = send_and_track(engine, config, sim, [PHONE], scheduled_at=scheduled)
    sim.plan(mid, PHONE, [])

    r = recipient(engine)
    assert as_utc(r["next_poll_at"]) == as_utc(scheduled + timedelta(minutes=1))
    assert as_utc(r["poll_until"]) == as_utc(scheduled + timedelta(hours=48))
    live(engine, config, client, sim, hours=9, step_minutes=60)
    assert status_calls(sim) == 0, "nothing is polled before the send leaves"

    live(engine, config, client, sim, hours=10 + 47 - 9, step_minutes=120)
    assert not recipient(engine)["expired"], "47 h after the scheduled time: still within its window"
    live(engine, config, client, sim, hours=4, step_minutes=60)
    assert recipient(engine)["expired"]


def test_message_id_alone_discovers_its_recipients_with_bulk_status(env):
    engine, sim, config, client = env
    phones = ["+33612345678", "+33612345679", "+33612345670"]
    mid = sim.send(phones)
    for p in phones:
        sim.plan(mid, p, [(timedelta(seconds=20), "Delivered")])
    track_message_ids(engine, [mid], now=now_of(sim), config=config.statuses)
    sim.clock.advance(timedelta(minutes=1))

    poll(engine, config, client, sim)

    assert len(sim.calls_to("bulk-status")) == 1
    got = rows(engine, "SELECT phone_e164, status, final FROM recipients ORDER BY phone_e164")
    assert [(p, s) for p, s, _ in got] == [(p, "Delivered") for p in sorted(phones)]
    poll(engine, config, client, sim)
    assert len(sim.calls_to("bulk-status")) == 1, "discovered once"


@pytest.mark.parametrize("with_ids", [False, True], ids=["documented-no-ids", "items-with-ids"])
def test_followed_tag_discovers_recipients_with_bulk_status_by_tag(env, with_ids):
    engine, sim, config, client = env
    sim.quirks.tag_items_message_id = with_ids
    sim.quirks.tag_page_size = 2
    config = dataclasses.replace(config, statuses=StatusesConfig(tags=("promo",)))
    m1 = sim.send(["+33612345678", "+33612345679"], tag="promo")
    m2 = sim.send(["+33612345670"], tag="promo")
    sim.send(["+33612345671"], tag="other")
    sim.clock.advance(timedelta(minutes=2))

    poll(engine, config, client, sim)

    assert len(sim.calls_to("bulk-status-by-tag")) >= 2, "paged"
    got = rows(engine, "SELECT message_id, phone_e164 FROM recipients ORDER BY phone_e164")
    if with_ids:
        assert got == [(m2, "+33612345670"), (m1, "+33612345678"), (m1, "+33612345679")]
    else:
        assert got == [("tag:promo", "+33612345670"), ("tag:promo", "+33612345678"), ("tag:promo", "+33612345679")]
    assert rows(engine, "SELECT COUNT(*) FROM recipients WHERE status IS NOT NULL") == [(3,)]
    before = len(sim.calls_to("bulk-status-by-tag"))
    sim.clock.advance(timedelta(minutes=1))
    poll(engine, config, client, sim)
    assert len(sim.calls_to("bulk-status-by-tag")) == before or with_ids is False


class _ClockMovingClient:
    """Each status call takes 10 simulated minutes (a slow API, a retry storm): time moves during a batch."""

    def __init__(self, client, sim) -> None:  # type: ignore[no-untyped-def]
        self._client, self._sim = client, sim

    def __getattr__(self, name):  # type: ignore[no-untyped-def]
        return getattr(self._client, name)

    def multi_status(self, pairs):  # type: ignore[no-untyped-def]
        answer = self._client.multi_status(pairs)
        self._sim.clock.advance(timedelta(minutes=10))
        return answer


def test_answer_asked_before_the_window_end_does_not_expire_the_recipient_when_applied_after_it(env):
    # Found by the soak (tests/soak): a poll answered "Waiting" at 47h55 and applied at 48h05 expired the
    # recipient, so the provider's "Not delivered" at 48h (§4) was never read.
    engine, sim, config, client = env
    mid = send_and_track(engine, config, sim, [PHONE])
    sim.plan(mid, PHONE, [])  # never resolves: "Not delivered" at send + 48 h
    sim.clock.advance(timedelta(hours=47, minutes=55))

    poll(engine, config, _ClockMovingClient(client, sim), sim)
    r = recipient(engine)
    assert r["status"] == "Waiting" and not r["expired"] and r["next_poll_at"] is not None

    poll(engine, config, client, sim)
    r = recipient(engine)
    assert r["status"] == "Not delivered" and r["final"] and not r["expired"]


def test_cost_reads_with_several_in_flight_read_each_recipient_once_and_store_every_cost(env):
    engine, sim, config, _client = env
    config = dataclasses.replace(config, api=dataclasses.replace(config.api, concurrency=4))
    client = make_client(config.api.base_url, concurrency=4)
    phones = [f"+336123450{i:02d}" for i in range(30)]
    mid = send_and_track(engine, config, sim, phones)
    for phone in phones:
        sim.plan(mid, phone, [(timedelta(seconds=30), "Delivered")], cost=Decimal("0.045"))

    live(engine, config, client, sim, hours=4, step_minutes=10)

    reads = sim.calls_to("message-status")
    assert sorted(c.params.get("phoneNumber") for c in reads) == sorted(phones), "each recipient read once"
    costs = rows(engine, "SELECT r.phone_e164, c.cost FROM cost_events c JOIN recipients r ON r.id = c.recipient_id WHERE c.cost IS NOT NULL")
    assert sorted(p for p, _ in costs) == sorted(phones)
    assert {Decimal(str(c)) for _, c in costs} == {Decimal("0.045")}
    assert rows(engine, "SELECT COUNT(*) FROM recipients WHERE next_cost_at IS NOT NULL") == [(0,)]


def test_cost_reads_are_not_starved_behind_a_long_status_backlog(env):
    engine, sim, config, client = env
    config = dataclasses.replace(config, statuses=dataclasses.replace(config.statuses, claim_batch=5))
    priced = ["+33612345600", "+33612345601"]
    first = send_and_track(engine, config, sim, priced)
    for phone in priced:
        sim.plan(first, phone, [(timedelta(seconds=30), "Delivered")], cost=Decimal("0.045"))
    sim.clock.advance(timedelta(minutes=2))
    poll(engine, config, client, sim)  # final: their cost read is due 3 h later
    sim.clock.advance(timedelta(hours=3))
    backlog = [f"+336123460{i:02d}" for i in range(50)]
    send_and_track(engine, config, sim, backlog)  # never final: 10 status batches of 5 due
    sim.clock.advance(timedelta(minutes=10))
    sim.reset_calls()

    poll(engine, config, client, sim)

    order = [c.endpoint for c in sim.calls]
    status_at = [i for i, e in enumerate(order) if e in ("multi-status", "bulk-status")]
    assert "message-status" in order and len(status_at) >= 5, order
    assert order.index("message-status") < status_at[-1], "the cost reads wait for no status backlog"


def test_cost_reads_per_cycle_caps_one_cycle_and_the_rest_waits_for_the_next(env):
    engine, sim, config, client = env
    config = dataclasses.replace(config, statuses=dataclasses.replace(config.statuses, cost_reads_per_cycle=7, cost_claim_batch=5))
    phones = [f"+336123470{i:02d}" for i in range(12)]
    mid = send_and_track(engine, config, sim, phones)
    for phone in phones:
        sim.plan(mid, phone, [(timedelta(seconds=30), "Delivered")], cost=Decimal("0.045"))
    sim.clock.advance(timedelta(minutes=2))
    poll(engine, config, client, sim)  # final: their cost reads come due 3 h later
    sim.clock.advance(timedelta(hours=3, minutes=1))
    sim.reset_calls()

    poll(engine, config, client, sim)
    assert len(sim.calls_to("message-status")) == 7
    poll(engine, config, client, sim)
    assert len(sim.calls_to("message-status")) == 12
    assert rows(engine, "SELECT COUNT(*) FROM recipients WHERE next_cost_at IS NOT NULL") == [(0,)]
