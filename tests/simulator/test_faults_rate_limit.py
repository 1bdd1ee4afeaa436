"""The ``rate_limit`` fault (HTTP 429 above a rate over a rolling wall-clock window) and the call log's wall time and client port."""

from __future__ import annotations

import http.client
from datetime import datetime, timezone

import pytest
import requests

from etl.simulator import Simulator, SimulatorServer
from etl.simulator.faults import FaultInjector

from .conftest import KEY, Api


def test_rate_limit_answers_429_once_the_window_holds_limit_calls(sim: Simulator, api: Api) -> None:
    sim.faults.inject("*", "rate_limit", limit=3)
    statuses = [api.get("me").status_code for _ in range(5)]
    assert statuses == [200, 200, 200, 429, 429]
    refused = api.get("me")
    assert refused.json()["code"] == 429
    assert 1 <= int(refused.headers["Retry-After"]) <= 60
    assert [c.fault for c in sim.calls_to("me")][-3:] == ["rate_limit"] * 3


def test_rate_limit_counts_every_endpoint_together_when_global(sim: Simulator, api: Api) -> None:
    sim.faults.inject("*", "rate_limit", limit=2)
    assert api.get("me").status_code == 200
    assert api.get("stop-sms/list").status_code == 200
    assert api.get("me").status_code == 429


def test_rate_limit_on_one_endpoint_leaves_the_others_alone(sim: Simulator, api: Api) -> None:
    sim.faults.inject("me", "rate_limit", limit=1)
    assert api.get("me").status_code == 200
    assert [api.get("stop-sms/list").status_code for _ in range(3)] == [200, 200, 200]
    assert api.get("me").status_code == 429


def test_rate_limit_window_rolls_calls_out_as_they_age() -> None:
    faults = FaultInjector()
    faults.inject("*", "rate_limit", limit=2, window=10)
    assert faults.take("me", wall=100.0) is None
    assert faults.take("me", wall=104.0) is None
    refused = faults.take("me", wall=109.5)
    assert refused is not None and refused.kind == "rate_limit"
    assert refused.params["retry_after"] == 1  # the call of t=100 leaves the window at t=110
    assert faults.take("me", wall=110.0) is None  # t=100 left; t=104 and t=110 fill it again
    assert faults.take("me", wall=113.9) is not None
    assert faults.take("me", wall=114.0) is None


def test_refused_calls_do_not_count_against_the_rate() -> None:
    faults = FaultInjector()
    faults.inject("*", "rate_limit", limit=1, window=10)
    assert faults.take("me", wall=0.0) is None
    assert all(faults.take("me", wall=float(t)) is not None for t in range(1, 10))
    assert faults.take("me", wall=10.0) is None


def test_rate_limit_stays_until_cleared_and_other_faults_still_fire() -> None:
    faults = FaultInjector()
    faults.inject("*", "rate_limit", limit=5)
    faults.inject("me", "http_500")
    first = faults.take("me", wall=0.0)
    assert first is not None and first.kind == "http_500"
    assert faults.take("me", wall=1.0) is None
    assert [f.kind for f in faults.pending()] == ["rate_limit"]
    faults.clear()
    assert faults.pending() == []


@pytest.mark.parametrize(
    "params",
    [{}, {"limit": 0}, {"limit": "3"}, {"limit": 2, "window": 0}, {"limit": 2, "window": "60"}],
    ids=["no-limit", "zero", "text-limit", "zero-window", "text-window"],
)
def test_rate_limit_refuses_a_bad_setting(params: dict[str, object]) -> None:
    with pytest.raises(ValueError, match="rate_limit"):
        FaultInjector().inject("*", "rate_limit", **params)


def test_rate_limit_is_set_through_the_control_interface(sim: Simulator, server: SimulatorServer, api: Api) -> None:
    answer = requests.post(
        f"{server.control_url}/faults", json={"endpoint": "me", "kind": "rate_limit", "params": {"limit": 1, "window": 30}}, timeout=10
    )
    assert answer.json() == {"ok": True}
    assert [api.get("me").status_code for _ in range(2)] == [200, 429]
    bad = requests.post(f"{server.control_url}/faults", json={"kind": "rate_limit", "params": {"limit": -1}}, timeout=10)
    assert bad.status_code == 400 and "rate_limit" in bad.json()["error"]
    requests.post(f"{server.control_url}/faults", json={"clear": True}, timeout=10)
    assert api.get("me").status_code == 200


def test_call_log_carries_wall_clock_arrival_times(sim: Simulator, server: SimulatorServer, api: Api) -> None:
    before = datetime.now(timezone.utc)
    api.get("me")
    api.get("me")
    after = datetime.now(timezone.utc)
    walls = [c.wall_at for c in sim.calls_to("me")]
    assert all(w is not None and before <= w <= after for w in walls)
    assert walls == sorted(walls)  # type: ignore[type-var]
    assert sim.calls_to("me")[0].at == sim.clock.now()  # ``at`` stays the simulated time (frozen here)
    logged = requests.get(f"{server.control_url}/calls", params={"endpoint": "me"}, timeout=10).json()["calls"]
    assert datetime.fromisoformat(logged[0]["wall_at"]) == walls[0]


def test_call_log_names_the_client_port_of_each_call(sim: Simulator, server: SimulatorServer) -> None:
    # Two keep-alive connections stand for two processes: each call is logged with its own socket's port.
    ports = []
    for _ in range(2):
        conn = http.client.HTTPConnection(server.host, server.port, timeout=10)
        for _ in range(2):
            conn.request("GET", f"/v1/me?apiKey={KEY}")
            assert conn.getresponse().read()
        ports.append(conn.sock.getsockname()[1])
        conn.close()
    assert ports[0] != ports[1]
    assert [c.peer for c in sim.calls_to("me")] == [ports[0], ports[0], ports[1], ports[1]]
    logged = requests.get(f"{server.control_url}/calls", params={"endpoint": "me"}, timeout=10).json()["calls"]
    assert [c["peer"] for c in logged] == [ports[0], ports[0], ports[1], ports[1]]
