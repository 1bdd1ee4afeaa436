"""Opt-out propagation time: the histogram in /metrics and its p99 in `doctor`, through the simulator, on three backends."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from etl.compliance.propagation import BUCKETS, histogram, p99
from etl.metrics import Metrics
from tests.jobs.helpers import sim_clock
from tests.push.test_receiver import PHONE, attach, env, rows, sync_stops, wait_for

__all__ = ["env"]


@pytest.mark.parametrize(
    "delays,expected",
    [([], None), ([3.0], 3.0), ([float(i) for i in range(1, 101)], 99.0), ([float(i) for i in range(1, 1001)], 990.0)],
    ids=["none", "one", "hundred", "thousand"],
)
def test_p99_is_the_nearest_rank(delays: list[float], expected: float | None) -> None:
    assert p99(delays) == expected


def test_histogram_buckets_are_cumulative_and_end_with_inf() -> None:
    buckets, total = histogram([0.5, 4.0, 4000.0])
    assert buckets[0] == ("1", 1.0) and buckets[1] == ("5", 2.0) and buckets[-1] == ("+Inf", 3.0)
    assert len(buckets) == len(BUCKETS) + 1 and total == 4004.5


def test_a_pushed_and_a_synced_stop_are_in_the_histogram_of_their_account(env):
    engine, sim, config, client, start = env
    receiver = start()
    attach(sim, receiver)
    sim.inbound_sms(PHONE, "STOP", message_id=1)
    wait_for(lambda: rows(engine, "SELECT COUNT(*) FROM stop_periods") == [(1,)])
    # A STOP an hour old on the list, seen by the sync now: it took an hour to be effective here.
    sim.add_stop("+33698765432", created_at=sim.clock.now() - timedelta(hours=1))
    sync_stops(engine, config, client, sim)

    metrics = Metrics()
    metrics.watch_database(engine, ["stops"], now=sim_clock(sim))
    value = metrics.registry.get_sample_value
    labels = {"account": "main"}
    assert value("smspartner_etl_optout_propagation_seconds_count", labels) == 2
    assert value("smspartner_etl_optout_propagation_seconds_bucket", {**labels, "le": "60"}) == 1
    assert value("smspartner_etl_optout_propagation_seconds_bucket", {**labels, "le": "3600"}) == 2
    assert 3600 <= value("smspartner_etl_optout_propagation_seconds_sum", labels) < 3700


def test_doctor_prints_the_p99_per_account_and_says_so_when_there_is_none(invoke, migrated_db_url):
    from sqlalchemy import bindparam, text

    from etl.db.engine import make_engine
    from etl.db.types import UtcDateTime

    assert "opt-out propagation: no opt-out in the last 30 days" in invoke("doctor").output
    now = datetime.now(timezone.utc)
    engine = make_engine(migrated_db_url)
    try:
        with engine.begin() as conn:
            conn.execute(
                text("INSERT INTO stop_periods (phone_e164, phone_raw, api_created_at, first_seen_at, source, created_at_unreadable) "
                     "VALUES ('+33612345678', '0612345678', :c, :f, 'sync', FALSE)").bindparams(
                    bindparam("c", now - timedelta(hours=2), type_=UtcDateTime()), bindparam("f", now, type_=UtcDateTime()))
            )
    finally:
        engine.dispose()

    assert "opt-out propagation (main): p99 2.0h over 1 opt-outs in the last 30 days" in invoke("doctor").output
