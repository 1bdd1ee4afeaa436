"""Each quirk switch on sim.quirks changes the wire format as documented (REFERENCE §6)."""

from __future__ import annotations

from datetime import timedelta

import pytest

from etl.simulator import Simulator

from .conftest import Api

A = "+33611111111"


@pytest.fixture
def mid(sim: Simulator) -> str:
    m = sim.send([A], "x", tag="t")
    sim.plan(m, A, [(timedelta(seconds=3), "Delivered")])
    sim.clock.advance(10)
    return m


def _status(api: Api, mid: str) -> dict[str, object]:
    return api.jget("message-status", messageId=mid, phoneNumber=A)


def test_q11_error_http_status_400(sim: Simulator, api: Api) -> None:
    assert api.get("me", key="bad").status_code == 200
    sim.quirks.error_http_status = 400
    r = api.get("me", key="bad")
    assert (r.status_code, r.json()["code"]) == (400, 10)


def test_q13_error_key_singular(sim: Simulator, api: Api) -> None:
    sim.quirks.error_key = "error"
    assert api.jget("me", key="bad") == {"success": False, "code": 10, "error": "Clé API incorrecte"}
    assert api.jpost("send", phoneNumbers=A)["error"] == "Le message est requis"


def test_q3_statut_vs_status(sim: Simulator, api: Api, mid: str) -> None:
    assert "statut" in _status(api, mid)
    sim.quirks.message_status_key = "status"
    body = _status(api, mid)
    assert body["status"] == "Delivered" and "statut" not in body


@pytest.mark.parametrize(
    "style,ms,multi,bulk,send",
    [("documented", str, int, str, int), ("strings", str, str, str, str), ("ints", int, int, int, int)],
)
def test_q6_id_types(sim: Simulator, api: Api, mid: str, style: str, ms: type, multi: type, bulk: type, send: type) -> None:
    sim.quirks.id_style = style
    assert type(_status(api, mid)["messageId"]) is ms
    item = api.jpost("multi-status", SMSStatut_List=[{"phoneNumber": A, "messageId": mid}])["StatutResponse_List"][0]
    assert type(item["messageId"]) is multi
    assert type(api.jget("bulk-status", messageId=mid)["message_id"]) is bulk
    assert type(api.jpost("send", phoneNumbers=A, message="y")["message_id"]) is send
    assert type(api.jpost("stop-sms/add", phoneNumber="+33699999999")["stopId"]) is send


def test_q5_message_status_date_epoch(sim: Simulator, api: Api, mid: str) -> None:
    assert _status(api, mid)["date"] == "2026-01-05 09:00:03"
    sim.quirks.message_status_date = "epoch"
    assert _status(api, mid)["date"] == "1767600003"


def test_q5_naive_timezone_utc(sim: Simulator, api: Api, mid: str) -> None:
    sim.quirks.naive_timezone = "UTC"
    assert _status(api, mid)["date"] == "2026-01-05 08:00:03"
    sim.add_stop("+33622222222")
    assert api.jget("stop-sms/list")["data"][0]["createdAt"] == "2026-01-05 08:00:10"


def test_q4_stop_flag_styles(sim: Simulator, api: Api, mid: str) -> None:
    sim.add_stop(A)
    multi = lambda: api.jpost("multi-status", SMSStatut_List=[{"phoneNumber": A, "messageId": mid}])["StatutResponse_List"][0]  # noqa: E731
    bulk = lambda: api.jget("bulk-status", messageId=mid)["StatutResponse_List"][0]  # noqa: E731
    assert (_status(api, mid)["stopSms"], multi()["stopSms"], bulk()["stopSMS"]) == (True, "1", True)
    sim.quirks.stop_flag_style = "string"
    assert (_status(api, mid)["stopSms"], bulk()["stopSMS"]) == ("1", "1")
    sim.quirks.stop_flag_style = "bool"
    sim.quirks.stop_flag_key = "stopSMS"
    assert (_status(api, mid)["stopSMS"], multi()["stopSMS"]) == (True, True)


def test_q17_message_status_number_international(sim: Simulator, api: Api, mid: str) -> None:
    assert _status(api, mid)["number"] == "0611111111"
    sim.quirks.message_status_number = "international"
    assert _status(api, mid)["number"] == A


def test_q21_me_credit_names_go(sim: Simulator, api: Api) -> None:
    sim.quirks.me_credit_names = "go"
    credits = api.jget("me")["credits"]
    assert "creditSmsLowCost" in credits and credits["solde"] == credits["balance"] and "creditSmsECO" not in credits


@pytest.mark.parametrize("style,balance,cost", [("documented", "10225.074", 0.045), ("strings", "10225.074", "0.045"), ("floats", 10225.074, 0.045)])
def test_q20_decimal_styles(sim: Simulator, api: Api, mid: str, style: str, balance: object, cost: object) -> None:
    sim.quirks.decimal_style = style
    assert api.jget("me")["credits"]["balance"] == balance
    assert _status(api, mid)["cost"] == cost


@pytest.mark.parametrize("style,expected", [("absent", "missing"), ("null", None), ("zero", 0.0)])
def test_cost_missing_styles(sim: Simulator, api: Api, style: str, expected: object) -> None:
    sim.quirks.cost_missing_style = style
    m = sim.send([A])
    sim.plan(m, A, [(timedelta(seconds=1), "Delivered")], cost_after=timedelta(hours=1))
    assert _status(api, m).get("cost", "missing") == expected
    sim.clock.advance(timedelta(hours=1))
    assert _status(api, m)["cost"] == 0.045


def test_default_plans_delay_some_costs(sim: Simulator) -> None:
    m = sim.send([f"+336100{i:05d}" for i in range(400)])
    sim.clock.advance(timedelta(minutes=2))
    missing = sum(sim.recipient_truth(m, p)["cost"] is None for p in sim.messages[int(m)].recipients)
    assert 20 < missing < 120


def test_q2_plural_param_switch(sim: Simulator, api: Api) -> None:
    sim.quirks.stop_add_plural_param = False
    assert api.jpost("stop-sms/add", phoneNumbers=A)["code"] == 2


def test_q15_stop_add_duplicate_idempotent(sim: Simulator, api: Api) -> None:
    sid = sim.add_stop(A)
    sim.quirks.stop_add_duplicate = "idempotent"
    assert api.jpost("stop-sms/add", phoneNumber=A) == {"success": True, "code": 200, "stopId": sid}


def test_q24_commercial_night_hold(sim: Simulator, api: Api) -> None:
    sim.clock.set(sim.clock.now().replace(hour=21))  # Monday 21:00
    sim.quirks.commercial_night_hold = True
    m = sim.send([A])
    sim.plan(m, A, [(timedelta(seconds=5), "Delivered")])
    sim.clock.advance(timedelta(hours=10))  # Tuesday 07:00: still held
    assert _status(api, m)["statut"] == "Waiting"
    sim.clock.advance(timedelta(hours=1, seconds=5))
    assert _status(api, m)["statut"] == "Delivered"


def test_q24_sandbox_purged_next_day(sim: Simulator, api: Api) -> None:
    m = sim.send([A], sandbox=True)
    assert _status(api, m)["code"] == 200
    sim.clock.advance(timedelta(days=1))
    assert _status(api, m)["code"] == 4


def test_cancelled_status_choices(sim: Simulator, api: Api) -> None:
    m = sim.send([A], scheduled_at=sim.clock.now() + timedelta(hours=2))
    sim.cancel(m)
    assert _status(api, m)["statut"] == "Not delivered"
    sim.quirks.cancelled_status = "not_found"
    assert _status(api, m)["code"] == 4


def test_q19_rental_envelopes(sim: Simulator, api: Api) -> None:
    sim.add_rental("t", 2)
    sim.quirks.rental_status_numeric = True
    sim.quirks.rental_download_code = True
    assert api.jget("location/status", token="t")["status"] == 2
    assert api.jget("location/file/download", token="t")["code"] == 200


def test_tag_items_message_id_switch(sim: Simulator, api: Api, mid: str) -> None:
    assert "messageId" not in api.jget("bulk-status-by-tag", tag="t")["StatutResponse_List"][0]
    sim.quirks.tag_items_message_id = True
    assert api.jget("bulk-status-by-tag", tag="t")["StatutResponse_List"][0]["messageId"] == int(mid)


def test_quirks_update_refuses_unknown_names(sim: Simulator) -> None:
    with pytest.raises(KeyError):
        sim.quirks.update(no_such_quirk=1)
