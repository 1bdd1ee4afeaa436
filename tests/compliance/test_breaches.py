"""Breaches on three backends through the simulator: sends after a STOP past the grace, none after a removal."""

from __future__ import annotations

import dataclasses
import json
from typing import Any

from prometheus_client import CollectorRegistry

from etl.compliance import breaches
from etl.config_compliance import ComplianceConfig
from etl.health import Health, with_breaches
from etl.metrics import DatabaseCollector
from tests.compliance.scenario import OTHER, REMOVED, STOPPED, play
from tests.jobs.helpers import sim_clock


def _open(engine: Any) -> list[breaches.BreachRow]:
    with engine.connect() as conn:
        return breaches.list_breaches(conn)


def test_a_send_after_the_stop_past_the_grace_is_a_breach_and_one_within_it_or_after_the_removal_is_not(env) -> None:  # type: ignore[no-untyped-def]
    engine, sim, config, client = env
    played = play(engine, config, client, sim)
    found = {(row.phone_e164, row.message_id) for row in _open(engine)}
    assert found == {(STOPPED, played.after_stop), (REMOVED, played.after_stop)}
    assert (OTHER, played.after_stop) not in found
    assert all(row.stop_source == "sync" and row.account_label == "main" for row in _open(engine))


def test_detection_is_idempotent_and_a_wider_grace_finds_nothing_new(env) -> None:  # type: ignore[no-untyped-def]
    engine, sim, config, client = env
    play(engine, config, client, sim)
    with engine.begin() as conn:
        assert breaches.detect(conn, grace_seconds=0, now=sim_clock(sim)()) == 1  # the send 10 min after the STOP
        assert breaches.detect(conn, grace_seconds=0, now=sim_clock(sim)()) == 0
    assert len(_open(engine)) == 3


def test_a_grace_longer_than_the_delay_finds_no_breach(job_env) -> None:  # type: ignore[no-untyped-def]
    engine, sim, config, client = job_env(compliance=ComplianceConfig(breach_grace=86400.0))
    play(engine, config, client, sim)
    assert _open(engine) == []


def test_acknowledged_breaches_leave_the_open_list_the_metric_and_degraded_health(env, invoke) -> None:  # type: ignore[no-untyped-def]
    engine, sim, config, client = env
    play(engine, config, client, sim)
    listed = invoke("breaches", "list")
    assert listed.exit_code == 0 and STOPPED in listed.output and "(sync)" in listed.output
    with engine.connect() as conn:
        assert breaches.open_counts(conn) == {"main": 2}
    health = with_breaches(Health(True), {"main": 2})
    assert health.ok and health.body()["status"] == "degraded" and "2 unacknowledged" in health.body()["degraded"][0]
    assert _gauge(engine) == 2.0
    first, second = _open(engine)
    done = invoke("breaches", "ack", str(first.id), "--reason", "campaign tool bypassed the filter; fixed", "--actor", "dpo")
    assert done.exit_code == 0, done.output
    assert [row.id for row in _open(engine)] == [second.id]
    again = invoke("breaches", "ack", str(first.id), "--reason", "twice")
    assert again.exit_code == 65 and "already acknowledged" in again.output
    assert invoke("breaches", "ack", "999999", "--reason", "x").exit_code == 65
    assert invoke("breaches", "ack", str(second.id), "--reason", " ").exit_code == 65
    assert "acknowledged" in invoke("breaches", "list", "--all").output
    assert _gauge(engine) == 1.0
    assert json.loads(json.dumps(with_breaches(Health(True), {}).body()))["status"] == "ok"


def _gauge(engine: Any) -> float:
    registry = CollectorRegistry()
    registry.register(DatabaseCollector(engine, ["stops"]))
    value = registry.get_sample_value("smspartner_etl_breaches_unacknowledged", {"account": "main"})
    assert value is not None
    return value


def test_compliance_config_reads_the_grace_as_a_duration(tmp_path) -> None:  # type: ignore[no-untyped-def]
    from etl.config import load_config

    path = tmp_path / "c.toml"
    path.write_text('[compliance]\nbreach_grace = "30m"\n')
    assert load_config(path, environ={}).compliance == dataclasses.replace(ComplianceConfig(), breach_grace=1800.0)
