"""A delivery report's cost becomes its recipient's cost with ``statuses.cost_source = "announced"``, pushed by the
simulator to a real receiver on SQLite, PostgreSQL and MariaDB; the default mode leaves cost to message-status."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal
from typing import Any

import pytest

from etl.config import PushConfig
from etl.db.engine import make_engine
from etl.push.receiver import PushReceiver
from etl.secrets import Secret
from tests.jobs.helpers import make_config, sim_clock
from tests.push.test_receiver import PHONE, TOKEN, post, rows, track_send, wait_for

OTHER = "+33698765432"


@pytest.fixture
def env(migrated_db_url, simulator):
    engine = make_engine(migrated_db_url)
    sim = simulator.sim
    config = make_config(migrated_db_url, simulator.base_url)
    started: list[PushReceiver] = []

    def start(**kwargs: Any) -> PushReceiver:
        push = PushConfig(enabled=True, port=0, path_token=Secret(TOKEN))
        receiver = PushReceiver(push, engine, clock=sim_clock(sim), resolve_every=0, idle_seconds=0.1, **kwargs).start()
        started.append(receiver)
        return receiver

    yield engine, sim, config, start
    for receiver in started:
        receiver.stop()
    engine.dispose()


def pushed(sim, engine, config, receiver) -> str:
    mid = sim.send([PHONE, OTHER], "hello")
    sim.plan(mid, PHONE, [(timedelta(minutes=1), "Delivered")], cost=Decimal("0.060"))
    sim.plan(mid, OTHER, [(timedelta(minutes=1), "Not delivered")], cost=Decimal("0.045"))
    track_send(engine, config, sim, mid, [PHONE, OTHER])
    dispatcher = sim.attach_callbacks(stop_url=receiver.url("stop"), dlr_url=receiver.url("dlr"), interval=0.02)
    sim.clock.advance(timedelta(minutes=2))
    wait_for(lambda: len(dispatcher.delivered("dlr")) == 2)
    wait_for(lambda: rows(engine, "SELECT COUNT(*) FROM status_events") == [(2,)])
    return mid


def test_reported_cost_is_stored_as_the_recipients_cost_and_ends_its_cost_reads(env):
    engine, sim, config, start = env
    receiver = start(dlr_costs=True)
    pushed(sim, engine, config, receiver)

    got = wait_for(lambda: (r := rows(engine, "SELECT phone_e164, cost, currency, country, next_cost_at FROM recipients "
                                              "WHERE cost IS NOT NULL ORDER BY phone_e164")) and len(r) == 2 and r)
    assert [(p, Decimal(str(c)).normalize(), cur, cc, nxt) for p, c, cur, cc, nxt in got] == [
        (PHONE, Decimal("0.06"), "EUR", "FR", None), (OTHER, Decimal("0.045"), "EUR", "FR", None),
    ]
    assert rows(engine, "SELECT COUNT(*) FROM cost_events WHERE run_id IS NULL") == [(2,)]
    assert sim.calls_to("message-status") == []


def test_default_mode_leaves_cost_to_the_message_status_read(env):
    engine, sim, config, start = env
    receiver = start()
    pushed(sim, engine, config, receiver)

    assert rows(engine, "SELECT COUNT(*) FROM recipients WHERE cost IS NOT NULL") == [(0,)]
    assert rows(engine, "SELECT COUNT(*) FROM cost_events") == [(0,)]


def test_a_negative_reported_cost_is_quarantined_and_stores_nothing(env):
    engine, sim, config, start = env
    receiver = start(dlr_costs=True)
    mid = sim.send([PHONE], "hello")
    track_send(engine, config, sim, mid, [PHONE])
    body = {"messageId": mid, "phoneNumber": PHONE, "status": "Delivered", "cost": -0.05, "currency": "EUR"}

    status, _ = post(receiver, f"/{TOKEN}/dlr", body)

    assert status == 200
    wait_for(lambda: rows(engine, "SELECT COUNT(*) FROM status_events") == [(1,)])
    [(endpoint, reason)] = wait_for(lambda: rows(engine, "SELECT endpoint, reason FROM rejected_items"))
    assert endpoint == "dlr-cost" and "not an amount" in reason
    assert rows(engine, "SELECT cost FROM recipients") == [(None,)]
