"""Sub-accounts over real sockets (ACCOUNTS.md §2): shapes, codes, paging, routing by key, revoke and remove."""

from __future__ import annotations

import re
from decimal import Decimal
from typing import Any

import pytest

from etl.simulator import Simulator
from etl.simulator.seedfile import add_subaccount

from .conftest import KEY, Api


def _create(api: Api, email: str = "shop@example.invalid", **params: Any) -> dict[str, Any]:
    return api.jpost("subaccount/create", type=params.pop("type", "simple"), parameters={"email": email, **params})


def test_create_answers_email_and_token_but_no_id_key_or_balance(sim: Simulator, api: Api) -> None:
    body = _create(api, creditToAttribute=10)
    assert set(body) == {"success", "code", "subaccount", "sendConfirmMailTo", "parent_email"}
    assert body["subaccount"]["email"] == "shop@example.invalid" and body["code"] == 200
    assert body["parent_email"] == sim.user["username"]
    assert sim.balance == Decimal("10215.119")  # creditToAttribute is taken from the parent


def test_create_is_accepted_as_get_with_flat_parameters(api: Api) -> None:
    body = api.jget("subaccount/create", type="simple", email="get@example.invalid")
    assert body["code"] == 200 and body["subaccount"]["email"] == "get@example.invalid"


@pytest.mark.parametrize(
    "body,code",
    [
        ({"parameters": {"email": "a@example.invalid"}}, 4),
        ({"type": "gold", "parameters": {"email": "a@example.invalid"}}, 5),
        ({"type": "simple", "parameters": {}}, 6),
        ({"type": "advanced", "parameters": {"email": "a@example.invalid"}}, 3),
        ({"type": "simple", "parameters": {"email": "a@example.invalid", "creditToAttribute": 0}}, 8),
        ({"type": "simple", "parameters": {"email": "a@example.invalid", "creditToAttribute": "99999"}}, 9),
        ({"type": "simple", "parameters": {"email": "simulator@example.invalid"}}, 7),
    ],
    ids=["no-type", "unknown-type", "no-email", "advanced-without-isBuyer", "credit-zero", "parent-short", "email-taken"],
)
def test_create_codes(api: Api, body: dict[str, Any], code: int) -> None:
    assert api.jpost("subaccount/create", **body)["code"] == code


def test_list_shape_balance_string_key_in_clear_created_at_without_zone(sim: Simulator, api: Api) -> None:
    _create(api, creditToAttribute="0.8")
    body = api.jget("subaccount/list")
    assert (body["total"], body["nb_per_page"], body["page"]) == (1, 20, 1)
    item = body["data"][0]
    assert set(item) == {"id", "email", "type", "token", "apiKey", "createdAt", "credits"}
    assert isinstance(item["id"], int) and item["type"] == "simple"
    assert item["credits"] == {"balance": "0.800", "currency": "EUR"}
    assert item["apiKey"].startswith("sim-sub-") and item["apiKey"] != KEY
    assert re.fullmatch(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d", item["createdAt"])


def test_29_subaccounts_make_two_pages_sorted_by_id_and_a_page_past_the_end_is_empty(sim: Simulator, api: Api) -> None:
    for i in range(29):
        add_subaccount(sim, {"email": f"s{i}@example.invalid"})
    first, second, past = (api.jget("subaccount/list", page=n) for n in (1, 2, 3))
    assert [len(p["data"]) for p in (first, second, past)] == [20, 9, 0]
    assert {p["total"] for p in (first, second, past)} == {29}
    ids = [d["id"] for d in first["data"] + second["data"]]
    assert ids == sorted(ids) and len(set(ids)) == 29
    assert api.jget("subaccount/list")["page"] == 1  # no page: page 1


def test_page_past_end_can_repeat_the_last_page(sim: Simulator, api: Api) -> None:
    for i in range(21):
        add_subaccount(sim, {"email": f"s{i}@example.invalid"})
    sim.quirks.page_past_end = "last"
    assert [d["id"] for d in api.jget("subaccount/list", page=5)["data"]] == [21]


def test_each_key_opens_its_own_account_and_the_parent_key_cannot_read_a_subaccount(sim: Simulator, api: Api) -> None:
    a = add_subaccount(sim, {"email": "a@example.invalid", "balance": "12.5", "stops": ["+33611000001"]})
    b = add_subaccount(sim, {"email": "b@example.invalid", "stops": ["+33622000002", "+33622000003"]})
    sim.add_stop("+33633000009")
    counts = {k: api.jget("stop-sms/list", key=k)["nbData"] for k in (KEY, a.api_key, b.api_key)}
    assert counts == {KEY: 1, a.api_key: 1, b.api_key: 2}
    me = api.jget("me", key=a.api_key)
    assert (me["credits"]["balance"], me["user"]["username"]) == ("12.500", "a@example.invalid")
    assert [c.account for c in sim.calls_to("me")] == [a.token]
    assert api.jget("subaccount/list", key=a.api_key)["total"] == 0  # a sub-account has no sub-accounts


def test_a_revoked_key_answers_10_and_a_rotated_one_is_listed(sim: Simulator, api: Api) -> None:
    sub = add_subaccount(sim, {"email": "a@example.invalid"})
    old = sub.api_key
    sim.subaccounts.revoke(sub.token)
    assert api.jget("me", key=old)["code"] == 10
    assert api.jget("subaccount/list")["data"][0]["apiKey"] == old  # listed, but refused
    sim.subaccounts.revoke(sub.token, rotate=True)
    new = api.jget("subaccount/list")["data"][0]["apiKey"]
    assert new != old and api.jget("me", key=new)["code"] == 200


def test_remove_by_delete_with_json_body_drops_it_from_the_list_and_its_key(sim: Simulator, api: Api) -> None:
    sub = add_subaccount(sim, {"email": "a@example.invalid", "balance": "3"})
    before = sim.balance
    r = api.http.delete(f"{api.base}/subaccount/remove", json={"apiKey": KEY, "token": sub.token}, timeout=5)
    assert r.json() == {"success": True, "code": 200}
    assert api.jget("subaccount/list")["total"] == 0
    assert api.jget("me", key=sub.api_key)["code"] == 10
    assert sim.balance == before + 3  # our answer: the balance goes back to the parent
    assert api.jpost("subaccount/remove", token=sub.token)["code"] == 404  # POST accepted too


def test_remove_codes_token_1_and_key_missing_10(api: Api) -> None:
    assert api.jpost("subaccount/remove")["code"] == 1
    assert api.jpost("subaccount/remove", key=None, token="x")["code"] == 10


@pytest.mark.parametrize("credit", ["100", 100, "2.5"], ids=["string", "int", "decimal-string"])
def test_credit_add_moves_both_balances_and_answers_floats(sim: Simulator, api: Api, credit: Any) -> None:
    sub = add_subaccount(sim, {"email": "a@example.invalid", "balance": "1"})
    parent = sim.balance
    body = api.jpost("subaccount/credit/add", credit=credit, tokenSubaccount=sub.token)
    moved = Decimal(str(credit))
    assert body == {"success": True, "code": 200, "credit": float(parent - moved), "subaccountCredit": float(1 + moved), "currency": "EUR"}
    assert (sim.balance, sub.account.balance) == (parent - moved, 1 + moved)
    back = api.jpost("subaccount/credit/remove", credit=credit, tokenSubaccount=sub.token)
    assert (back["credit"], back["subaccountCredit"]) == (float(parent), 1.0)


@pytest.mark.parametrize(
    "body,code",
    [
        ({"tokenSubaccount": "T"}, 2),
        ({"credit": "5"}, 3),
        ({"credit": "-1", "tokenSubaccount": "T"}, 5),
        ({"credit": "abc", "tokenSubaccount": "T"}, 5),
        ({"credit": "5", "tokenSubaccount": "nope"}, 7),
        ({"credit": "99999", "tokenSubaccount": "T"}, 8),
    ],
    ids=["no-credit", "no-token", "negative", "not-a-number", "unknown-subaccount", "parent-short"],
)
def test_credit_add_codes(sim: Simulator, api: Api, body: dict[str, Any], code: int) -> None:
    sub = add_subaccount(sim, {"email": "a@example.invalid", "token": "T"})
    assert sub.token == "T"
    assert api.jpost("subaccount/credit/add", **body)["code"] == code


def test_credit_remove_from_an_empty_subaccount_is_6_and_a_subaccount_key_is_4(sim: Simulator, api: Api) -> None:
    sub = add_subaccount(sim, {"email": "a@example.invalid"})
    assert api.jpost("subaccount/credit/remove", credit="1", tokenSubaccount=sub.token)["code"] == 6
    assert api.jpost("subaccount/credit/add", key=sub.api_key, credit="1", tokenSubaccount=sub.token)["code"] == 4
    assert api.jpost("subaccount/create", key=sub.api_key, type="simple", parameters={"email": "x@example.invalid"})["code"] == 2


def test_unknown_key_is_10_on_every_new_endpoint(api: Api) -> None:
    for endpoint in ("subaccount/list", "group/list", "contact/list"):
        assert api.jget(endpoint, key="sim-sub-unknown", groupId="1")["code"] == 10
    for endpoint in ("subaccount/credit/add", "group/add", "contact/add", "hlr/notify", "lookup"):
        assert api.jpost(endpoint, key="sim-sub-unknown")["code"] == 10
