"""Contact groups and contacts over real sockets (ACCOUNTS.md §3): shapes, the lying envelopes, paging, codes."""

from __future__ import annotations

from typing import Any

import pytest

from etl.simulator import Simulator
from etl.simulator.seedfile import add_group, add_subaccount

from .conftest import KEY, Api


def _group(api: Api, name: str = "VIP") -> str:
    return str(api.jpost("group/add", name=name)["groupId"])


def test_group_add_succeeds_with_code_2_and_a_string_id(api: Api) -> None:
    body = api.jpost("group/add", name="VIP")
    assert (body["success"], body["code"], body["name"]) == (True, 2, "VIP")
    assert isinstance(body["groupId"], str)
    assert api.jpost("group/add")["code"] == 1
    missing = api.jpost("group/add", key=None, name="x")
    assert (missing["success"], missing["code"]) == (False, 2)  # code 2 is also "key required"


def test_group_list_says_success_false_with_no_code_and_string_ids(sim: Simulator, api: Api) -> None:
    _group(api)
    body = api.jget("group/list")
    assert body["success"] is False and "code" not in body
    (item,) = body["groups"]
    assert set(item) == {"id", "name", "createdAt", "isSpecialFile", "isLocationFile"}
    assert isinstance(item["id"], str) and item["createdAt"].endswith("+01:00")
    sim.quirks.group_list_honest = True
    assert api.jget("group/list")["code"] == 200


@pytest.mark.parametrize("path", ["group/delete", "groupe/delete"])
@pytest.mark.parametrize("verb", ["DELETE", "POST"])
def test_group_delete_both_paths_both_methods_takes_the_contacts(sim: Simulator, api: Api, path: str, verb: str) -> None:
    gid, cids = add_group(sim, {"name": "VIP", "contacts": ["+33611000001"]})
    r = api.http.request(verb, f"{api.base}/{path}", json={"apiKey": KEY, "groupId": str(gid)}, timeout=5)
    assert r.json() == {"success": True, "code": 200}
    assert api.jget("contact/detail", contactId=str(cids[0]))["code"] == 404  # our answer: contacts go too
    assert api.jpost(path, groupId=str(gid))["code"] == 404
    assert api.jpost(path)["code"] == 1


def test_contact_add_one_echoes_the_fields_with_a_contact_id_and_refuses_a_duplicate_with_15(api: Api) -> None:
    gid = _group(api)
    body = api.jpost("contact/add", groupId=gid, contact={"phoneNumber": "0611111111", "firstname": "Ana"})
    assert body["code"] == 200 and body["contact"]["firstname"] == "Ana" and isinstance(body["contact"]["contactId"], str)
    assert api.jpost("contact/add", groupId=gid, contact={"phoneNumber": "+33611111111"})["code"] == 15
    assert api.jpost("contact/add", contact={"phoneNumber": "+33611111111"})["code"] == 1
    assert api.jpost("contact/add", groupId=gid)["code"] == 2
    assert api.jpost("contact/add", groupId="999999", contact={"phoneNumber": "0622222222"})["code"] == 404


def test_a_number_may_sit_in_two_groups(api: Api) -> None:
    for gid in (_group(api, "A"), _group(api, "B")):
        assert api.jpost("contact/add", groupId=gid, contact={"phoneNumber": "0611111111"})["code"] == 200


def test_batch_add_has_no_envelope_lists_failures_and_counts_them(api: Api) -> None:
    gid = _group(api)
    api.jpost("contact/add", groupId=gid, contact={"phoneNumber": "0611111111"})
    lines = [{"phoneNumber": "0611111111"}, {"phoneNumber": "0622222222"}, {"phoneNumber": "0622222222"}, {"phoneNumber": "12"}, {}]
    body = api.jpost("contact/add", groupId=gid, contactsList=lines)
    assert "success" not in body and "code" not in body
    assert body["groupe"] == {"name": "VIP", "token": gid}
    rapport = body["rapport"]
    assert (rapport["nbline"], rapport["nbline_imported"], rapport["nbline_updated"]) == (5, 1, 0)
    assert {k: v for k, v in rapport["errors"].items() if v} == {"allreadyInGroupe": 1, "duplicatePhone": 1, "invalidePhone": 1, "empty": 1}
    assert [r["code"] for r in body["results"]] == [15, 16, 9, 2]
    assert body["results"][0]["phoneNumber"] == "+33611111111"
    assert api.jpost("contact/add", groupId=gid, contactsList=[{"phoneNumber": "0611111111"}] * 501)["code"] == 50


def test_contact_update_is_partial_and_detail_has_an_int_group_id(sim: Simulator, api: Api) -> None:
    gid, (cid, other) = add_group(sim, {"name": "VIP", "contacts": [{"phone": "+33611000001", "firstname": "Ana"}, "+33611000002"]})
    body = api.jpost("contact/update", contactId=str(cid), contact={"lastname": "Lopez"})
    assert body["contact"] == {"lastname": "Lopez", "contactId": str(cid)}
    detail = api.jget("contact/detail", contactId=str(cid))["contact"]
    assert (detail["firstname"], detail["lastname"], detail["groupId"], detail["stopSms"]) == ("Ana", "Lopez", gid, False)
    assert detail["createdAt"].endswith("+01:00") and detail["phone"] == "+33611000001"
    assert api.jpost("contact/update", contactId=str(cid), contact={"phoneNumber": "+33611000002"})["code"] == 15
    assert api.jpost("contact/update", contact={"lastname": "x"})["code"] == 1
    assert api.jget("contact/detail")["code"] == 1
    assert api.jget("contact/detail", contactId="1")["code"] == 404


def test_contact_delete(sim: Simulator, api: Api) -> None:
    _, (cid,) = add_group(sim, {"name": "VIP", "contacts": ["+33611000001"]})
    assert api.jpost("contact/delete", contactId=str(cid)) == {"success": True, "code": 200}
    assert api.jpost("contact/delete", contactId=str(cid))["code"] == 404


@pytest.mark.parametrize("verb", ["GET", "POST"])
def test_contact_list_pages_of_20_total_as_string_of_the_whole_group(sim: Simulator, api: Api, verb: str) -> None:
    gid, _ = add_group(sim, {"name": "VIP", "generate": 45})

    def page(n: int) -> dict[str, Any]:
        call = api.jget if verb == "GET" else api.jpost
        return call("contact/list", groupId=str(gid), page=n)

    pages = [page(n) for n in (1, 2, 3, 4)]
    assert [len(p["datas"]) for p in pages] == [20, 20, 5, 0]
    assert {p["total"] for p in pages} == {"45"} and [p["currentPage"] for p in pages] == [1, 2, 3, 4]
    assert "groupId" not in pages[0]["datas"][0]
    ids = [int(d["contactId"]) for p in pages for d in p["datas"]]
    assert ids == sorted(ids) and len(set(ids)) == 45
    sim.quirks.contact_total_meaning = "page"
    assert page(3)["total"] == "5"


def test_contact_list_codes(api: Api) -> None:
    assert api.jget("contact/list")["code"] == 1
    assert api.jget("contact/list", groupId="999999")["code"] == 404
    assert api.jget("contact/list", key=None, groupId="1")["code"] == 10


def test_stop_sms_of_a_contact_is_its_own_flag_not_the_stop_list(sim: Simulator, api: Api) -> None:
    gid, (cid,) = add_group(sim, {"name": "VIP", "contacts": [{"phone": "+33611000001", "stop_sms": True}]})
    assert api.jget("contact/detail", contactId=str(cid))["contact"]["stopSms"] is True
    assert api.jget("stop-sms/list")["nbData"] == 0
    sim.contacts.set_stop(cid, False)
    assert api.jget("contact/list", groupId=str(gid))["datas"][0]["stopSms"] is False
    sim.quirks.stop_flag_style = "string"
    assert api.jget("contact/detail", contactId=str(cid))["contact"]["stopSms"] == "0"


def test_groups_are_per_account(sim: Simulator, api: Api) -> None:
    sub = add_subaccount(sim, {"email": "a@example.invalid", "groups": [{"name": "Shop", "generate": 3}]})
    assert api.jget("group/list")["groups"] == []
    (group,) = api.jget("group/list", key=sub.api_key)["groups"]
    assert api.jget("contact/list", groupId=group["id"])["code"] == 404  # the parent key cannot read it
    assert api.jget("contact/list", key=sub.api_key, groupId=group["id"])["total"] == "3"
