"""hlr/notify and lookup over real sockets (ACCOUNTS.md §4): shapes, codes, the 360/min limit, the HLR callback."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from datetime import timedelta
from decimal import Decimal
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from etl.simulator import Simulator

from .conftest import Api


def test_hlr_answers_campaign_count_cost_and_charges_the_balance(sim: Simulator, api: Api) -> None:
    before = sim.balance
    body = api.jpost("hlr/notify", phoneNumbers="+33611111111,+33622222222", tag="check")
    assert body == {"success": True, "code": 200, "campaign_id": "HLR000001", "number": 2, "cost": 0.01, "currency": "EUR"}
    assert sim.balance == before - Decimal("0.010")


@pytest.mark.parametrize(
    "numbers,code",
    [("", 2), ("0611111111", 3), ("+33611111111;+33622222222", 3), (",".join(f"+3361000{i:04d}" for i in range(501)), 50)],
    ids=["none", "national", "semicolons", "over-500"],
)
def test_hlr_codes(api: Api, numbers: str, code: int) -> None:
    assert api.jpost("hlr/notify", phoneNumbers=numbers)["code"] == code


class _Receiver(BaseHTTPRequestHandler):
    bodies: list[Any] = []

    def do_POST(self) -> None:  # noqa: N802 - stdlib name
        self.bodies.append(json.loads(self.rfile.read(int(self.headers["Content-Length"]))))
        self.send_response(200)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - stdlib signature
        pass


@pytest.fixture
def receiver() -> Iterator[tuple[str, list[Any]]]:
    bodies: list[Any] = []
    handler = type("Receiver", (_Receiver,), {"bodies": bodies})
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}/hlr", bodies
    httpd.shutdown()
    httpd.server_close()


def test_hlr_with_notify_url_posts_one_callback_per_number_when_due(sim: Simulator, api: Api, receiver: tuple[str, list[Any]]) -> None:
    url, bodies = receiver
    api.jpost("hlr/notify", phoneNumbers="+33611111111,+33622222200", notifyUrl=url)
    assert sim.callbacks is not None and sim.callbacks.tick() == 0  # due two simulated seconds later
    sim.clock.advance(5)
    assert sim.callbacks.tick() == 2
    by_phone = {b["phone"]: b for b in bodies}
    ok, unknown = by_phone["+33611111111"], by_phone["+33622222200"]
    assert set(ok) == {"phone", "messageId", "mccMnc", "ported", "errorGrpId", "errorName", "errorDesc", "date"}
    assert (ok["errorName"], ok["ported"], unknown["errorGrpId"]) == ("NO_ERROR ", 0, 1)
    assert ok["date"].endswith("+0000") and "." in ok["date"]


def test_lookup_items_as_documented_and_a_refused_number_as_request_and_false(api: Api) -> None:
    body = api.jpost("lookup", phoneNumbers="+33611111111,33122334455,0611")
    ok, fixed, bad = body["lookup"]
    assert ok == {
        "request": "33611111111",
        "success": True,
        "countryCode": "France",
        "prefixCode": 33,
        "phoneNumber": "+33611111111",
        "type": "Mobile",
        "network": "",
        "format": {"e164": "+33611111111", "international": "+33 6 11 11 11 11", "national": "06 11 11 11 11", "rfc3966": "tel:+33-6-11-11-11-11"},
    }
    assert fixed["type"] == "Fixed line"
    assert bad == {"request": "0611", "success": False}


@pytest.mark.parametrize("endpoint", ["hlr/notify", "lookup"])
def test_361st_call_in_a_minute_is_429_with_retry_after(sim: Simulator, api: Api, endpoint: str) -> None:
    sim.quirks.verification_rate_limit = 3
    for _ in range(3):
        assert api.post(endpoint, phoneNumbers="+33611111111").status_code == 200
    refused = api.post(endpoint, phoneNumbers="+33611111111")
    assert (refused.status_code, refused.json()["code"]) == (429, 429) and int(refused.headers["Retry-After"]) >= 1
    sim.clock.advance(timedelta(seconds=61))
    assert api.post(endpoint, phoneNumbers="+33611111111").status_code == 200
