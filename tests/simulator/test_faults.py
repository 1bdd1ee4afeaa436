"""Remaining fault kinds over real sockets: delay, drop, truncated, html_200, invalid_json,
wrong_types, act_then_delay, and rate-based injection."""

from __future__ import annotations

import json
import time

import pytest
import requests

from etl.simulator import Simulator

from .conftest import KEY, Api

A = "+33611111111"


def test_delay_exceeds_client_timeout(sim: Simulator, api: Api) -> None:
    sim.faults.inject("me", "delay", seconds=1.0)
    t0 = time.monotonic()
    with pytest.raises(requests.ReadTimeout):
        api.http.get(f"{api.base}/me", params={"apiKey": KEY}, timeout=0.3)
    assert time.monotonic() - t0 < 1.0
    assert api.get("me").status_code == 200


def test_drop_mid_body_small_and_streamed(sim: Simulator, api: Api) -> None:
    sim.faults.inject("me", "drop")
    with pytest.raises(requests.exceptions.ChunkedEncodingError):
        api.get("me").json()
    sim.generate_stops(20_000)
    sim.faults.inject("stop-sms/list", "drop", after_bytes=10_000)
    with pytest.raises(requests.exceptions.ChunkedEncodingError):
        api.get("stop-sms/list")
    deadline = time.monotonic() + 2
    while not sim.calls_to("stop-sms/list") and time.monotonic() < deadline:
        time.sleep(0.01)  # the server logs the call after closing the socket
    assert sim.calls_to("stop-sms/list")[-1].fault == "drop"


def test_truncated_body_has_matching_content_length(sim: Simulator, api: Api) -> None:
    sim.faults.inject("me", "truncated")
    r = api.get("me")
    assert int(r.headers["Content-Length"]) == len(r.content)
    with pytest.raises(ValueError):
        json.loads(r.content)


def test_html_200_and_invalid_json(sim: Simulator, api: Api) -> None:
    sim.faults.inject("*", "html_200")
    r = api.get("me")
    assert r.status_code == 200 and r.headers["Content-Type"].startswith("text/html")
    sim.faults.inject("*", "invalid_json")
    r = api.get("me")
    assert r.status_code == 200 and r.headers["Content-Type"] == "application/json"
    with pytest.raises(ValueError):
        r.json()


def test_wrong_types_default_and_targeted(sim: Simulator, api: Api) -> None:
    sim.add_stop(A)
    sim.faults.inject("stop-sms/list", "wrong_types")
    body = api.jget("stop-sms/list")
    assert body["nbData"] == "n/a" and isinstance(body["data"], dict)
    sim.faults.inject("stop-sms/add", "wrong_types", field="stopId", value=[1])
    assert api.jpost("stop-sms/add", phoneNumber="+33622222222")["stopId"] == [1]


def test_act_then_delay_applies_the_write(sim: Simulator, api: Api) -> None:
    sim.faults.inject("stop-sms/add", "act_then_delay", seconds=1.0)
    with pytest.raises(requests.ReadTimeout):
        api.http.post(f"{api.base}/stop-sms/add", json={"apiKey": KEY, "phoneNumber": A}, timeout=0.3)
    assert [p for _, p, _ in sim.stops()] == [A]  # the write happened although the client timed out
    assert api.jpost("stop-sms/add", phoneNumber=A)["code"] == 3


def test_act_then_delay_refused_on_read_endpoint(sim: Simulator) -> None:
    with pytest.raises(ValueError):
        sim.faults.inject("me", "act_then_delay")


def test_count_and_rate(sim: Simulator, api: Api) -> None:
    sim.faults.inject("me", "http_503", count=3)
    assert [api.get("me").status_code for _ in range(4)] == [503, 503, 503, 200]
    sim.faults.inject("me", "http_500", rate=0.5)
    statuses = [api.get("me").status_code for _ in range(40)]
    assert 5 < statuses.count(500) < 35
    sim.faults.clear()
    assert api.get("me").status_code == 200


def test_faults_are_per_endpoint(sim: Simulator, api: Api) -> None:
    sim.faults.inject("stop-sms/list", "http_500")
    assert api.get("me").status_code == 200
    assert api.get("stop-sms/list").status_code == 500


def test_unknown_kind_refused(sim: Simulator) -> None:
    with pytest.raises(ValueError):
        sim.faults.inject("*", "meteor")
