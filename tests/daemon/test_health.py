"""/healthz's decision, and the HTTP endpoint serving it with /metrics."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from datetime import datetime, timedelta, timezone

import pytest

from etl.config import JobSchedule
from etl.health import Health, HealthServer, evaluate
from etl.metrics import Metrics

NOW = datetime(2026, 3, 2, 9, 0, tzinfo=timezone.utc)
SCHEDULES = {"stops": JobSchedule(staleness=3600.0)}


@pytest.mark.parametrize(
    ("last", "started", "ok"),
    [
        (NOW - timedelta(minutes=10), NOW - timedelta(days=1), True),
        (NOW - timedelta(hours=2), NOW - timedelta(days=1), False),
        (None, NOW - timedelta(minutes=10), True),
        (None, NOW - timedelta(hours=2), False),
    ],
    ids=["recent-success", "stale-success", "never-succeeded-just-started", "never-succeeded-for-too-long"],
)
def test_health_turns_bad_when_a_job_has_not_succeeded_within_its_staleness(last, started, ok) -> None:  # type: ignore[no-untyped-def]
    health = evaluate({"stops": last}, SCHEDULES, started, NOW)
    assert health.ok is ok
    assert health.jobs["stops"]["ok"] is ok
    assert bool(health.reasons) is (not ok)


def get(port: int, path: str) -> tuple[int, bytes, str]:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=5) as resp:
            return resp.status, resp.read(), resp.headers["Content-Type"]
    except urllib.error.HTTPError as err:
        return err.code, err.read(), err.headers["Content-Type"]


def test_endpoint_serves_metrics_and_health_with_503_when_unhealthy() -> None:
    metrics = Metrics()
    metrics.observe_api("me", "retry", 1)
    metrics.observe_api("me", "ok", 2)
    state = {"health": Health(True)}
    server = HealthServer("127.0.0.1", 0, metrics.exposition, lambda: state["health"]).start()
    try:
        status, body, ctype = get(server.port, "/metrics")
        assert status == 200 and ctype.startswith("text/plain")
        assert b'smspartner_etl_api_retries_total{endpoint="me"} 1.0' in body
        assert b'smspartner_etl_api_calls_total{endpoint="me",outcome="ok"} 1.0' in body
        assert get(server.port, "/healthz")[0] == 200
        state["health"] = Health(False, ["job stops last succeeded 9000s ago"])
        status, body, ctype = get(server.port, "/healthz")
        assert status == 503 and ctype == "application/json"
        assert json.loads(body) == {"status": "unhealthy", "reasons": ["job stops last succeeded 9000s ago"], "jobs": {}}
        assert get(server.port, "/nope")[0] == 404
    finally:
        server.stop()
