"""Fault ``key_echo``: the answer quotes the caller's key back, as a careless API would (issue 16)."""

from __future__ import annotations

from collections.abc import Iterator
from urllib.parse import quote

import pytest
import requests

from etl.simulator import Simulator, SimulatorServer

from .conftest import Api

#: Characters a URL encodes and letters whose case can change: each echo style then looks different.
ODD_KEY = "Ke/y+with=odd&chars 0123"


@pytest.fixture
def odd() -> Iterator[tuple[Simulator, Api]]:
    sim = Simulator(api_key=ODD_KEY, seed=1)
    with SimulatorServer(sim) as server:
        api = Api(server)
        yield sim, api
        api.http.close()


def get(api: Api, endpoint: str, **params: str) -> dict[str, object]:
    answer: dict[str, object] = api.get(endpoint, key=ODD_KEY, **params).json()
    return answer


def test_error_echo_quotes_the_key_in_the_error_text_with_code_10_by_default(odd: tuple[Simulator, Api]) -> None:
    sim, api = odd
    sim.faults.inject("me", "key_echo")
    assert get(api, "me") == {"success": False, "code": 10, "message": f"Clé API {ODD_KEY} invalide"}
    assert get(api, "me")["success"] is True
    assert [c.fault for c in sim.calls_to("me")] == ["key_echo", None]


@pytest.mark.parametrize(
    "style,shown",
    [
        ("plain", ODD_KEY),
        ("url", f"apiKey={quote(ODD_KEY, safe='')}"),
        ("upper", ODD_KEY.upper()),
    ],
    ids=["plain", "url-encoded", "upper-case"],
)
def test_each_style_shows_the_key_in_its_form_and_not_verbatim(odd: tuple[Simulator, Api], style: str, shown: str) -> None:
    sim, api = odd
    sim.faults.inject("stop-sms/list", "key_echo", code=99, style=style)
    answer = get(api, "stop-sms/list")
    assert answer["code"] == 99 and shown in str(answer["message"])
    if style != "plain":
        assert ODD_KEY not in str(answer["message"])


def test_style_all_shows_every_form_in_one_text(odd: tuple[Simulator, Api]) -> None:
    sim, api = odd
    sim.faults.inject("*", "key_echo", style="all")
    text = str(get(api, "bulk-status", messageId="1")["message"])
    assert ODD_KEY in text and quote(ODD_KEY, safe="") in text and ODD_KEY.upper() in text


def test_error_key_quirk_moves_the_echo_to_the_error_field(odd: tuple[Simulator, Api]) -> None:
    sim, api = odd
    sim.quirks.update(error_key="error", error_http_status=400)
    sim.faults.inject("me", "key_echo")
    response = api.get("me", key=ODD_KEY)
    assert response.status_code == 400 and ODD_KEY in response.json()["error"]


def test_success_echo_keeps_the_answer_and_adds_the_key_to_its_message(odd: tuple[Simulator, Api]) -> None:
    sim, api = odd
    stop_id = sim.add_stop("+33611111111")
    sim.faults.inject("stop-sms/delete", "key_echo", on="success", style="upper")
    answer = get(api, "stop-sms/delete", id=str(stop_id))
    assert answer["success"] is True and answer["code"] == 200
    assert ODD_KEY.upper() in str(answer["message"])
    assert sim.stop_id_of("+33611111111") is None  # the write was applied


def test_success_echo_leaves_an_error_answer_alone(odd: tuple[Simulator, Api]) -> None:
    sim, api = odd
    sim.faults.inject("stop-sms/delete", "key_echo", on="success")
    answer = get(api, "stop-sms/delete", id="424242")
    assert answer["success"] is False and ODD_KEY not in str(answer)


def test_wrong_key_is_not_echoed_it_is_refused_as_usual(odd: tuple[Simulator, Api]) -> None:
    sim, api = odd
    sim.faults.inject("me", "key_echo")
    assert api.get("me", key="another-key").json() == {"success": False, "code": 10, "message": "Clé API incorrecte"}


def test_key_echo_is_enabled_through_the_control_endpoint(odd: tuple[Simulator, Api]) -> None:
    sim, api = odd
    control = api.base.removesuffix("/v1") + "/_sim"
    ok = requests.post(f"{control}/faults", json={"endpoint": "me", "kind": "key_echo", "params": {"style": "url"}}, timeout=5)
    assert ok.json() == {"ok": True}
    assert quote(ODD_KEY, safe="") in str(get(api, "me")["message"])
    bad = requests.post(f"{control}/faults", json={"kind": "key_echo", "params": {"style": "shout"}}, timeout=5)
    assert bad.status_code == 400 and "style" in bad.json()["error"]


def test_unknown_style_or_side_is_refused_at_injection(sim: Simulator) -> None:
    with pytest.raises(ValueError, match="key_echo"):
        sim.faults.inject("me", "key_echo", style="shout")
    with pytest.raises(ValueError, match="key_echo"):
        sim.faults.inject("me", "key_echo", on="always")
