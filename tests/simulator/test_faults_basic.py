"""Faults: each kind on a real socket."""

from __future__ import annotations

import pytest

from etl.simulator import Simulator

from .conftest import Api


@pytest.mark.parametrize("kind,status", [("http_500", 500), ("http_502", 502), ("http_503", 503)])
def test_http_5xx_fires_once_then_clears(sim: Simulator, api: Api, kind: str, status: int) -> None:
    sim.faults.inject("me", kind)
    assert api.get("me").status_code == status
    assert api.get("me").status_code == 200
    assert [c.fault for c in sim.calls_to("me")] == [kind, None]


def test_http_429_retry_after_seconds_and_date(sim: Simulator, api: Api) -> None:
    sim.faults.inject("*", "http_429", retry_after=3)
    r = api.get("me")
    assert (r.status_code, r.headers["Retry-After"]) == (429, "3")
    sim.faults.inject("*", "http_429", retry_after_date=True)
    assert api.get("me").headers["Retry-After"].endswith("GMT")


def test_api_error_fault(sim: Simulator, api: Api) -> None:
    sim.faults.inject("stop-sms/list", "api_error", code=10)
    assert api.jget("stop-sms/list") == {"success": False, "code": 10, "message": "Clé API incorrecte"}


def test_call_log_masks_key(sim: Simulator, api: Api) -> None:
    api.get("me")
    assert sim.calls[-1].params == {"apiKey": "***"}
    assert "sim-key-0123" not in repr(sim.calls)
