"""Status endpoints: message-status, multi-status, bulk-status, bulk-status-by-tag, and the clock."""

from __future__ import annotations

import time
from datetime import timedelta
from decimal import Decimal

from etl.simulator import Simulator

from .conftest import Api

A, B = "+33611111111", "+33622222222"


def _planned(sim: Simulator) -> str:
    mid = sim.send([A, B], "hello", tag="promo")
    sim.plan(mid, A, [(timedelta(seconds=5), "Delivered")], cost_after=timedelta(hours=2))
    sim.plan(mid, B, [(timedelta(hours=30), "Not delivered")])
    return mid


def test_message_status_documented_shape_national_number_and_statut(sim: Simulator, api: Api) -> None:
    mid = _planned(sim)
    sim.clock.advance(10)
    body = api.jget("message-status", messageId=mid, phoneNumber="0611111111")
    assert body == {
        "success": True,
        "code": 200,
        "number": "0611111111",
        "messageId": mid,
        "stopSms": False,
        "date": "2026-01-05 09:00:05",
        "statut": "Delivered",
        "countryCode": "FR",
        "currency": "EUR",
    }  # cost absent until 2 h after sending


def test_cost_appears_later(sim: Simulator, api: Api) -> None:
    mid = _planned(sim)
    sim.clock.advance(timedelta(hours=2))
    assert api.jget("message-status", messageId=mid, phoneNumber=A)["cost"] == 0.045
    assert sim.recipient_truth(mid, A)["cost"] == Decimal("0.045")


def test_clock_jump_48h_takes_milliseconds(sim: Simulator, api: Api) -> None:
    mids = [sim.send([f"+3361234{i:04d}" for i in range(50)], "x") for _ in range(4)]
    t0 = time.monotonic()
    sim.clock.advance(timedelta(hours=48))
    statuses = [api.jget("bulk-status", messageId=m)["StatutResponse_List"] for m in mids]
    assert time.monotonic() - t0 < 2
    flat = [row["status"] for rows in statuses for row in rows]
    assert "Waiting" not in flat  # everything resolved or expired after the 48 h validity
    assert flat.count("Delivered") > len(flat) // 2


def test_unresolved_recipient_stays_waiting_when_expiry_off(sim: Simulator, api: Api) -> None:
    sim.quirks.expire_after_validity = False
    mid = sim.send([A])
    sim.plan(mid, A, [])
    sim.clock.advance(timedelta(days=5))
    assert api.jget("message-status", messageId=mid, phoneNumber=A)["statut"] == "Waiting"


def test_message_status_codes(sim: Simulator, api: Api) -> None:
    mid = _planned(sim)
    assert api.jget("message-status", messageId=mid)["code"] == 2
    assert api.jget("message-status", phoneNumber=A)["code"] == 3
    assert api.jget("message-status", messageId="999", phoneNumber=A)["code"] == 4
    assert api.jget("message-status", messageId=mid, phoneNumber="+33699999999")["code"] == 4


def test_multi_status_post_mixes_found_and_not_found_items(sim: Simulator, api: Api) -> None:
    mid = _planned(sim)
    sim.clock.advance(60)
    pairs = [{"phoneNumber": A, "messageId": int(mid)}, {"phoneNumber": "+33600000000", "messageId": int(mid)}]
    body = api.jpost("multi-status", SMSStatut_List=pairs)
    ok, missing = body["StatutResponse_List"]
    assert ok == {
        "success": True,
        "code": 200,
        "phoneNumber": A,
        "messageId": int(mid),
        "status": "Delivered",
        "date": str(int((sim.messages[int(mid)].send_at + timedelta(seconds=5)).timestamp())),
        "stopSms": "0",
        "isSpam": "0",
    }
    assert missing == {"success": False, "code": 4, "phoneNumber": "+33600000000", "messageId": int(mid), "status": "Numéro introuvable"}


def test_multi_status_national_number_is_not_found(sim: Simulator, api: Api) -> None:
    mid = _planned(sim)
    body = api.jpost("multi-status", SMSStatut_List=[{"phoneNumber": "0611111111", "messageId": mid}])
    assert body["StatutResponse_List"][0]["code"] == 4


def test_multi_status_over_500_pairs_is_code_50(sim: Simulator, api: Api) -> None:
    pairs = [{"phoneNumber": A, "messageId": 1}] * 501
    assert api.jpost("multi-status", SMSStatut_List=pairs)["code"] == 50


def test_multi_status_get_with_json_body_and_with_query(sim: Simulator, api: Api) -> None:
    mid = _planned(sim)
    pairs = [{"phoneNumber": A, "messageId": int(mid)}]
    r = api.http.request("GET", f"{api.base}/multi-status", json={"apiKey": "sim-key-0123", "SMSStatut_List": pairs}, timeout=5)
    assert r.json()["StatutResponse_List"][0]["success"] is True
    import json

    r = api.get("multi-status", SMSStatut_List=json.dumps(pairs))
    assert r.json()["StatutResponse_List"][0]["success"] is True
    sim.quirks.multi_status_get = False
    assert api.get("multi-status", SMSStatut_List=json.dumps(pairs)).status_code == 405


def test_bulk_status_shape_and_codes(sim: Simulator, api: Api) -> None:
    mid = _planned(sim)
    sim.add_stop(B)
    body = api.jget("bulk-status", messageId=mid)
    assert body["message_id"] == mid and isinstance(body["message_id"], str)
    rows = {r["phoneNumber"]: r for r in body["StatutResponse_List"]}
    assert rows[B]["stopSMS"] is True and rows[A]["status"] == "Waiting"
    assert set(rows[A]) == {"phoneNumber", "status", "stopSMS", "date"}
    assert api.jget("bulk-status")["code"] == 3
    assert api.jget("bulk-status", messageId="42")["code"] == 4


def test_bulk_status_by_tag_pages(sim: Simulator, api: Api) -> None:
    sim.quirks.tag_page_size = 3
    sim.send([f"+3361000000{i}" for i in range(7)], "x", tag="camp")
    p1 = api.jget("bulk-status-by-tag", tag="camp")
    p3 = api.jget("bulk-status-by-tag", tag="camp", page=3)
    assert (p1["currentPage"], p1["total"], len(p1["StatutResponse_List"])) == (1, 7, 3)
    assert (p3["currentPage"], len(p3["StatutResponse_List"])) == (3, 1)
    sim.quirks.tag_total_meaning = "pages"
    assert api.jget("bulk-status-by-tag", tag="camp")["total"] == 3
    assert api.jget("bulk-status-by-tag")["code"] == 3
    assert api.jget("bulk-status-by-tag", tag="nope")["code"] == 4
