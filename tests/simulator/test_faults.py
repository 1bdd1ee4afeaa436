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


def test_per_endpoint_delays_each_slow_only_their_own_endpoint_for_every_call(sim: Simulator, api: Api) -> None:
    # bench/scale_out.py's network stand-in: 200 ms per status call, 20 ms per message-status, on every call.
    sim.faults.inject("me", "delay", count=None, seconds=0.3)
    sim.faults.inject("stop-sms/list", "delay", count=None, seconds=0.05)
    took: dict[str, list[float]] = {"me": [], "stop-sms/list": [], "subaccount/list": []}
    for _ in range(3):
        for endpoint, times in took.items():
            t0 = time.monotonic()
            assert api.get(endpoint).status_code == 200
            times.append(time.monotonic() - t0)
    assert all(t >= 0.3 for t in took["me"])
    assert all(0.05 <= t < 0.3 for t in took["stop-sms/list"])
    assert all(t < 0.05 for t in took["subaccount/list"])
    assert [c.fault for c in sim.calls_to("me")] == ["delay"] * 3
    assert len(sim.faults.pending()) == 2  # count=None: they stay until clear()


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


B = "+33622222222"


def _list_answers(sim: Simulator, api: Api) -> dict[str, tuple[str, object]]:
    """Every list endpoint the tool reads, set up with two items: (list key, callable reading it)."""
    sim.add_stop("+33633333333")
    sim.add_stop("+33644444444")
    sim.add_rental("tok", [A, B])
    mid = sim.send([A, B], tag="camp")
    pairs = [{"phoneNumber": A, "messageId": mid}, {"phoneNumber": B, "messageId": mid}]
    return {
        "stop-sms/list": ("data", lambda: api.jget("stop-sms/list")),
        "location/file/download": ("datas", lambda: api.jget("location/file/download", token="tok")),
        "multi-status": ("StatutResponse_List", lambda: api.jpost("multi-status", SMSStatut_List=pairs)),
        "bulk-status-by-tag": ("StatutResponse_List", lambda: api.jget("bulk-status-by-tag", tag="camp")),
    }


@pytest.mark.parametrize("endpoint", ["stop-sms/list", "location/file/download", "multi-status", "bulk-status-by-tag"])
def test_malformed_item_spoils_one_item_of_every_list_answer(sim: Simulator, api: Api, endpoint: str) -> None:
    key, read = _list_answers(sim, api)[endpoint]
    clean = read()[key]  # type: ignore[operator]
    sim.faults.inject(endpoint, "malformed_item", field="date", value="04/12/2026 07:00", index=1)
    spoiled = read()[key]  # type: ignore[operator]
    assert len(spoiled) == len(clean) == 2
    assert spoiled[0] == clean[0]
    assert spoiled[1] == {**clean[1], "date": "04/12/2026 07:00"}
    assert read()[key] == clean  # a counted fault fires once  # type: ignore[operator]


def test_malformed_item_without_field_replaces_the_item(sim: Simulator, api: Api) -> None:
    sim.add_stop(A)
    sim.faults.inject("stop-sms/list", "malformed_item")
    assert api.jget("stop-sms/list")["data"] == ["n/a"]


def test_malformed_item_on_a_single_answer_spoils_the_answer(sim: Simulator, api: Api) -> None:
    mid = sim.send([A])
    sim.faults.inject("message-status", "malformed_item", field="currency", value="EURO")
    body = api.jget("message-status", messageId=mid, phoneNumber=A)
    assert body["currency"] == "EURO" and body["success"] is True
