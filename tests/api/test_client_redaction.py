"""The client masks the key in every text it turns into an error or a message (issue 16), over real sockets.

The simulator's ``key_echo`` fault quotes the key back (plain, URL-encoded, upper-cased); ``malformed_item`` puts it
in one item of a list. Whatever the path (envelope error, write message, per-item error, streamed item, write turned
into an unknown outcome), no text leaving the client holds the key, and the rest of each answer is unchanged.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from etl.api import RetryPolicy, SmsPartnerClient
from etl.api.lists import STOP_LIST
from etl.api.stoprows import run_shaper
from etl.config import Secret
from etl.errors import ApiError, ApiRejected, AuthError, PayloadError
from etl.simulator import Simulator, SimulatorServer
from tests.soak.hygiene import count_key

KEY = "Sk/Ey+Odd=Key&Not Secret-0123"
PHONE = "+33611111111"
POLICY = RetryPolicy(max_attempts=2, max_seconds=10.0, wait_initial=0.01, wait_max=0.05, jitter=0.0)


@pytest.fixture
def sim() -> Simulator:
    return Simulator(api_key=KEY, seed=3)


@pytest.fixture
def client(sim: Simulator) -> Iterator[SmsPartnerClient]:
    with SimulatorServer(sim) as server:
        with SmsPartnerClient(
            server.base_url, Secret(KEY), connect_timeout=1.0, read_timeout=2.0, sleep=lambda _s: None, retry_policy=POLICY
        ) as api:
            yield api


def texts(exc: BaseException) -> str:
    """Everything of an error a caller may print or store."""
    return " | ".join([str(exc), repr(exc), *(str(v) for v in vars(exc).values())])


@pytest.mark.parametrize("style", ["plain", "url", "upper", "all"])
def test_an_error_echoing_the_key_is_raised_masked_with_its_code(sim: Simulator, client: SmsPartnerClient, style: str) -> None:
    sim.faults.inject("bulk-status", "key_echo", code=99, style=style)
    with pytest.raises(ApiRejected) as caught:
        client.bulk_status("1")
    assert caught.value.code == 99 and caught.value.endpoint == "bulk-status"
    assert "***" in caught.value.api_message and count_key(texts(caught.value), KEY) == 0


def test_an_auth_error_echoing_the_key_stays_an_auth_error_masked(sim: Simulator, client: SmsPartnerClient) -> None:
    sim.faults.inject("me", "key_echo", style="all")
    with pytest.raises(AuthError) as caught:
        client.me()
    assert str(caught.value) == "me: code 10: Clé API *** invalide ; Requête refusée : /v1/me?apiKey=*** ; CLÉ API *** INVALIDE"


def test_the_error_key_spelling_and_http_400_are_masked_too(sim: Simulator, client: SmsPartnerClient) -> None:
    sim.quirks.update(error_key="error", error_http_status=400)
    sim.faults.inject("stop-sms/list", "key_echo", code=99, style="upper")
    with pytest.raises(ApiRejected) as caught:
        list(client.iter_stops())
    assert count_key(texts(caught.value), KEY) == 0 and "***" in caught.value.api_message


def test_a_write_success_message_echoing_the_key_is_returned_masked(sim: Simulator, client: SmsPartnerClient) -> None:
    mid = sim.send([PHONE], "later", scheduled_at=sim.clock.now().replace(hour=18))
    sim.faults.inject("message-cancel", "key_echo", on="success", style="all")
    result = client.cancel_message(str(mid))
    assert result.code == 200 and result.message is not None
    assert "***" in result.message and count_key(result.message, KEY) == 0


def test_a_write_refusal_echoing_the_key_is_masked(sim: Simulator, client: SmsPartnerClient) -> None:
    stop_id = sim.add_stop(PHONE)
    sim.faults.inject("stop-sms/delete", "key_echo", code=99, style="url")
    with pytest.raises(ApiRejected) as caught:
        client.delete_stop(stop_id)
    assert count_key(texts(caught.value), KEY) == 0
    assert sim.stop_id_of(PHONE) == stop_id  # refused: nothing done


def test_a_per_item_text_echoing_the_key_is_returned_masked(sim: Simulator, client: SmsPartnerClient) -> None:
    mid = sim.send([PHONE], "hi")
    sim.faults.inject("multi-status", "malformed_item", field="statut", value=f"Clé API {KEY.upper()} invalide")
    try:
        items = client.multi_status([(str(mid), PHONE)])
    except ApiError as exc:  # an unknown status may be refused: then its error is masked
        assert count_key(texts(exc), KEY) == 0
    else:
        assert count_key(repr(items), KEY) == 0


def test_a_streamed_item_holding_the_key_fails_masked(sim: Simulator, client: SmsPartnerClient) -> None:
    sim.generate_stops(20_000)  # more than the client's head: the list is streamed
    sim.faults.inject("stop-sms/list", "malformed_item", index=15_000, field="id", value=f"id {KEY}")
    with pytest.raises(PayloadError) as caught:
        for _ in client.stream_list(STOP_LIST, run_shaper()):
            pass
    assert count_key(texts(caught.value), KEY) == 0 and "***" in str(caught.value)


def test_answers_without_the_key_are_unchanged(sim: Simulator, client: SmsPartnerClient) -> None:
    sim.faults.inject("bulk-status", "api_error", code=99, message="apiKey-free text / ok")
    with pytest.raises(ApiRejected) as caught:
        client.bulk_status("1")
    assert caught.value.api_message == "apiKey-free text / ok"
    assert client.me().balance is not None


def test_a_streamed_item_handed_to_on_unreadable_is_masked_with_its_error(sim: Simulator, client: SmsPartnerClient) -> None:
    sim.generate_stops(20_000)
    sim.faults.inject("stop-sms/list", "malformed_item", index=15_000, field="id", value=f"id {KEY.upper()}")
    seen: list[str] = []

    def on_unreadable(item: object, error: PayloadError) -> None:
        seen.append(f"{item!r} {error}")
        return None

    rows = sum(len(run) for run in client.stream_list(STOP_LIST, run_shaper(on_unreadable=on_unreadable)))
    assert rows == 4 * 19_999 and len(seen) == 1
    assert "***" in seen[0] and count_key(seen[0], KEY) == 0
