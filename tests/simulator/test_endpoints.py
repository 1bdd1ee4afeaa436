"""Happy paths and documented control codes of every endpoint (REFERENCE §3)."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest

from etl.simulator import ApiFailure, Simulator
from etl.simulator.clock import PARIS

from .conftest import Api

A = "+33611111111"


def test_auth_key_missing_is_1_wrong_is_10_and_body_or_query_both_work(sim: Simulator, api: Api) -> None:
    assert api.get("me", key=None).json() == {"success": False, "code": 1, "message": "La Clé API est requise"}
    assert api.get("me", key="nope").json()["code"] == 10
    # quirk 22: a POST with the key in the query string, a GET with the key in a JSON body
    r = api.http.post(f"{api.base}/stop-sms/add?apiKey=sim-key-0123", json={"phoneNumber": A}, timeout=5)
    assert r.json()["code"] == 200
    r = api.http.request("GET", f"{api.base}/me", json={"apiKey": "sim-key-0123"}, timeout=5)
    assert r.json()["code"] == 200


def test_me_doc_names_and_string_balance(api: Api) -> None:
    body = api.jget("me")
    assert set(body["credits"]) == {"creditSms", "creditSmsECO", "creditHlr", "toSend", "balance", "currency"}
    assert body["credits"]["balance"] == "10225.119"


def test_send_response_and_scheduled_echo(sim: Simulator, api: Api) -> None:
    body = api.jpost("send", phoneNumbers="0611111111,+33622222222", message="hi", scheduledDeliveryDate="06/01/2026", time=14, minute=30)
    assert body["success"] and isinstance(body["message_id"], int)
    assert (body["nb_sms"], body["cost"], body["currency"]) == (2, 0.09, "EUR")
    assert body["scheduledDeliveryDate"] == "2026-01-06 14:30:00"
    msg = sim.messages[body["message_id"]]
    assert msg.send_at == datetime(2026, 1, 6, 14, 30, tzinfo=PARIS)


@pytest.mark.parametrize(
    "body,code",
    [
        ({"message": "x"}, 2),
        ({"phoneNumbers": A}, 9),
        ({"phoneNumbers": "12", "message": "x"}, 9),
        ({"phoneNumbers": ",".join(f"+3361000{i:04d}" for i in range(501)), "message": "x"}, 50),
        ({"phoneNumbers": A, "message": "x" * 1600}, 52),
        ({"phoneNumbers": A, "message": "x", "minute": 7, "scheduledDeliveryDate": "06/01/2026"}, 9),
        ({"phoneNumbers": A, "message": "x", "tag": "has space"}, 9),
    ],
    ids=["no-number", "no-message", "bad-number", "over-500", "over-10-parts", "bad-minute", "bad-tag"],
)
def test_send_errors(api: Api, body: dict[str, object], code: int) -> None:
    assert api.jpost("send", **body)["code"] == code


def test_send_validation_error_uses_errors_array(api: Api) -> None:
    body = api.jpost("send", phoneNumbers=A)
    assert body["errors"] == [{"elementId": "message", "message": "Le message est requis"}]


def test_send_to_stopped_number_only_is_14(sim: Simulator, api: Api) -> None:
    sim.add_stop(A)
    assert api.jpost("send", phoneNumbers=A, message="x")["code"] == 14


def test_bulk_send_items(sim: Simulator, api: Api) -> None:
    body = api.jpost("bulk-send", SMSList=[{"phoneNumber": A, "message": "a"}, {"phoneNumber": "bad", "message": "b"}])
    assert body["nbSMS"] == 1 and isinstance(body["message_id"], int)
    ok, bad = body["SMSResponse_List"]
    assert ok == {"success": True, "code": 200, "nbSms": 1, "cost": 0.045, "phoneNumber": A}
    assert (bad["success"], bad["code"]) == (False, 9)


def test_cost_resume_shape_and_rate_limit(sim: Simulator, api: Api) -> None:
    sim.send([A], "x")
    sim.clock.advance(timedelta(days=31))
    body = api.jget("statistics/cost-resume", interval="last_month")
    assert body["datas"] == [
        {"month": "january", "year": "2026", "m": "01", "date": 1767222000, "type": "month", "cost": "0.045", "nb_send": "1"}
    ]
    for _ in range(4):
        assert api.get("statistics/cost-resume", interval="last_month").status_code == 200
    r = api.get("statistics/cost-resume", interval="last_month")
    assert r.status_code == 429 and r.json()["code"] == 429 and int(r.headers["Retry-After"]) <= 60
    sim.clock.advance(60)
    assert api.get("statistics/cost-resume", interval="custom", **{"from": "01-12-2025", "to": "31-01-2026"}).json()["datas"][0]["month"] == "december"
    assert api.jget("statistics/cost-resume", interval="weekly")["code"] == 9


def test_cancel_rules(sim: Simulator, api: Api) -> None:
    now = sim.clock.now()
    later = sim.send([A], scheduled_at=now + timedelta(hours=1))
    soon = sim.send([A], scheduled_at=now + timedelta(minutes=4))
    sent = sim.send([A])
    assert api.jget("message-cancel", messageId=later) == {"success": True, "code": 200, "message": "L'envoi du SMS a été annulé."}
    assert api.jget("message-cancel", messageId=later)["code"] == 5
    assert api.jget("message-cancel", messageId=soon)["code"] == 6
    assert api.jget("message-cancel", messageId=sent)["code"] == 7
    assert api.jget("message-cancel", messageId="123")["code"] == 4
    assert api.jget("message-cancel")["code"] == 3
    assert sim.recipient_truth(later, A)["cancelled"] is True
    assert [e.kind for e in sim.events if e.kind == "cancel"] == ["cancel"]
    with pytest.raises(ApiFailure):
        sim.cancel(later)


def test_stop_list_add_delete(sim: Simulator, api: Api) -> None:
    sid = api.jpost("stop-sms/add", phoneNumber="0611111111")["stopId"]
    assert api.jpost("stop-sms/add", phoneNumbers="+33622222222")["code"] == 200  # quirk 2
    assert api.jpost("stop-sms/add", phoneNumber=A)["code"] == 3
    assert api.jpost("stop-sms/add", phoneNumber="123")["code"] == 9
    assert api.jpost("stop-sms/add")["code"] == 2
    body = api.jget("stop-sms/list")
    assert body["nbData"] == 2 and body["data"][0] == {"id": sid, "phoneNumber": A, "createdAt": "2026-01-05 09:00:00"}
    assert api.jget("stop-sms/delete", id=sid) == {"success": True, "code": 200}
    assert api.jget("stop-sms/delete", id=sid)["code"] == 4
    assert api.jget("stop-sms/delete")["code"] == 3
    assert [s[1] for s in sim.stops()] == ["+33622222222"]
    assert [e.kind for e in sim.events] == ["stop_added", "stop_added", "stop_removed"]


def test_generated_stops_are_unique_and_addressable(sim: Simulator, api: Api) -> None:
    sim.generate_stops(5000, seed=3)
    rows = sim.stops()
    assert len({p for _, p, _ in rows}) == 5000
    phone = rows[1234][1]
    assert api.jpost("stop-sms/add", phoneNumber=phone)["code"] == 3
    sim.remove_stop(rows[1234][0])
    assert api.jget("stop-sms/list")["nbData"] == 4999


def test_rental_status_and_download(sim: Simulator, api: Api) -> None:
    sim.add_rental("tok", ["+33700000001", "+33700000002"])
    status = api.jget("location/status", token="tok")
    assert status["status"] == "Fichier prêt à être téléchargé" and status["file"] == {"phoneNumbers": "2"}
    assert status["location"]["cost"]["total"] == "0.180"
    body = api.jget("location/file/download", token="tok")
    assert "code" not in body and body["phoneNumbers"] == 2
    assert [d["phone"] for d in body["datas"]] == ["+33700000001", "+33700000002"]
    assert body["datas"][0]["stopSms"] is False and isinstance(body["datas"][0]["id"], int)
    sim.set_rental_stop("tok", "+33700000002", True)
    assert api.jget("location/file/download", token="tok")["datas"][1]["stopSms"] is True


@pytest.mark.parametrize(
    "setup,code",
    [("missing-token", 31), ("unknown", 32), ("requested", 35), ("generating", 35), ("failed", 36), ("downloaded", 34), ("single-used", 34), ("no-file", 33)],
)
def test_rental_download_codes(sim: Simulator, api: Api, setup: str, code: int) -> None:
    sim.add_rental("t", 3, single_download=setup == "single-used")
    {"requested": lambda: sim.set_rental_status("t", 0), "generating": lambda: sim.set_rental_status("t", 1),
     "failed": lambda: sim.set_rental_status("t", 3), "downloaded": lambda: sim.set_rental_status("t", 5),
     "no-file": lambda: sim.remove_rental_file("t"), "single-used": lambda: api.get("location/file/download", token="t")}.get(setup, lambda: None)()
    params = {} if setup == "missing-token" else {"token": "zzz" if setup == "unknown" else "t"}
    assert api.jget("location/file/download", **params)["code"] == code


def test_rental_flip_stops(sim: Simulator, api: Api) -> None:
    sim.add_rental("big", 1000, stop_share=0.1)
    before = {d["phone"]: d["stopSms"] for d in api.jget("location/file/download", token="big")["datas"]}
    assert 50 < sum(before.values()) < 150
    flipped = sim.flip_rental_stops("big", 0.02, seed=1)
    after = {d["phone"]: d["stopSms"] for d in api.jget("location/file/download", token="big")["datas"]}
    assert len(flipped) == 20 and all(after[p] != before[p] for p in flipped)
    assert sum(after[p] != before[p] for p in after) == 20


def test_xml_format_positional_entries_with_cdata(sim: Simulator, api: Api) -> None:
    sim.add_stop(A)
    text = api.get("stop-sms/list", _format="xml").text
    assert text.startswith('<?xml version="1.0" encoding="UTF-8"?>')
    assert "<entry>true</entry><entry>200</entry><entry>1</entry><entry><entry><entry>1</entry><entry><![CDATA[+33611111111]]></entry>" in text
    err = api.get("me", key="bad", _format="XML").text
    assert "<entry>false</entry><entry>10</entry><entry><![CDATA[Clé API incorrecte]]></entry>" in err
    assert "<username><![CDATA[" in api.get("me", _format="xml").text


def test_unknown_endpoint_and_wrong_method(api: Api) -> None:
    assert api.get("nope").status_code == 404
    assert api.get("send").status_code == 405
