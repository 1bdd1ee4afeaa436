"""Faults on the new endpoints, and the control API and seed file that create sub-accounts and groups."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import requests

from etl.simulator import Simulator, SimulatorServer, seedfile
from etl.simulator.seedfile import add_group, add_subaccount, build, load

from .conftest import KEY, Api


@pytest.mark.parametrize("kind,status", [("http_503", 503), ("http_429", 429), ("html_200", 200)])
def test_transport_faults_fire_on_the_new_endpoints(sim: Simulator, api: Api, kind: str, status: int) -> None:
    for endpoint in ("subaccount/list", "group/list", "contact/list"):
        sim.faults.inject(endpoint, kind)
        assert api.get(endpoint, groupId="1").status_code == status
    assert api.get("group/list").json()["groups"] == []  # the fault was used up


def test_malformed_item_spoils_a_group_list_item_although_its_envelope_says_success_false(sim: Simulator, api: Api) -> None:
    add_group(sim, {"name": "A"})
    add_group(sim, {"name": "B"})
    sim.faults.inject("group/list", "malformed_item", index=1, field="id", value=None)
    groups = api.jget("group/list")["groups"]
    assert groups[0]["id"] and groups[1]["id"] is None


def test_key_echo_on_success_quotes_the_subaccount_key(sim: Simulator, api: Api) -> None:
    sub = add_subaccount(sim, {"email": "a@example.invalid"})
    sim.faults.inject("me", "key_echo", on="success")
    assert sub.api_key in api.jget("me", key=sub.api_key)["message"]


def test_truncated_body_and_act_then_delay_on_a_credit_move(sim: Simulator, api: Api) -> None:
    sub = add_subaccount(sim, {"email": "a@example.invalid"})
    sim.faults.inject("subaccount/list", "truncated")
    with pytest.raises(ValueError):
        api.get("subaccount/list").json()
    sim.faults.inject("subaccount/credit/add", "act_then_delay", seconds=2)
    with pytest.raises(requests.ReadTimeout):
        # A new connection: the truncated answer above may leave the session's kept-alive one closed by the server.
        requests.post(f"{api.base}/subaccount/credit/add", json={"apiKey": KEY, "credit": "1", "tokenSubaccount": sub.token}, timeout=0.5)
    assert sub.account.balance == 1  # the write happened; only the answer was late


def test_control_api_creates_revokes_and_removes_subaccounts_with_their_state(sim: Simulator, server: SimulatorServer, api: Api) -> None:
    ctl = server.control_url
    made = requests.post(
        f"{ctl}/subaccounts/create",
        json={"email": "c@example.invalid", "balance": "4", "stops": ["+33611000001"], "groups": [{"name": "G", "contacts": ["+33611000002"]}]},
        timeout=5,
    ).json()
    assert made["ok"] and made["api_key"].startswith("sim-sub-")
    token, key = made["token"], made["api_key"]
    assert api.jget("stop-sms/list", key=key)["nbData"] == 1
    group = requests.post(f"{ctl}/groups/add", json={"account": token, "name": "H", "contacts": ["+33611000003"]}, timeout=5).json()
    flipped = requests.post(f"{ctl}/contacts/stop", json={"account": token, "contact_id": group["contact_ids"][0]}, timeout=5).json()
    assert flipped["stop_sms"] is True
    assert requests.post(f"{ctl}/stops/add", json={"account": token, "phone": "+33611000009"}, timeout=5).json()["ok"]
    assert len(requests.post(f"{ctl}/truth/stops", json={"account": token}, timeout=5).json()["stops"]) == 2
    assert requests.post(f"{ctl}/subaccounts/revoke", json={"token": token}, timeout=5).json()["ok"]
    assert api.jget("me", key=key)["code"] == 10
    listed = requests.post(f"{ctl}/subaccounts", json={}, timeout=5).json()["subaccounts"]
    assert [(s["token"], s["revoked"]) for s in listed] == [(token, True)]
    assert requests.post(f"{ctl}/subaccounts/remove", json={"token": token}, timeout=5).json()["ok"]
    assert requests.post(f"{ctl}/subaccounts/remove", json={"token": token}, timeout=5).json()["code"] == 404
    assert api.jget("subaccount/list")["total"] == 0


def test_seed_file_builds_subaccounts_and_groups(tmp_path: Path) -> None:
    spec = {
        "api_key": "k",
        "groups": [{"name": "Parent group", "generate": 5, "stop_share": 1.0}],
        "subaccounts": [
            {"email": "a@example.invalid", "balance": "2.5", "stops": {"generate": 3}, "groups": [{"name": "A", "contacts": ["0611000001"]}]},
            {"email": "b@example.invalid", "revoked": True},
        ],
    }
    path = tmp_path / "seed.json"
    path.write_text(json.dumps(spec), encoding="utf-8")
    sim = build(load(path))
    a, b = sim.subaccounts.listed()
    assert (len(a.account.stops()), a.account.balance, b.revoked) == (3, 2.5, True)
    assert [len(g) for g in (sim.contacts.contacts, a.account.contacts.contacts)] == [5, 1]
    assert all(c.stop_sms for c in sim.contacts.contacts.values())


def test_the_demo_seed_has_two_subaccounts_and_a_contact_group() -> None:
    sim = build(load(Path(seedfile.__file__).with_name("demo_seed.json")))
    assert len(sim.subaccounts.listed()) == 2
    assert sim.contacts.groups
