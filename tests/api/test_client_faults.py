"""Transport faults, retries, Retry-After, writes after a timeout, and the key never leaking."""

from __future__ import annotations

import logging
import socket
import time
import traceback
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest
from harness import TEST_API_KEY

from etl.api import RetryPolicy, SmsPartnerClient
from etl.errors import (
    ApiRejected,
    AuthError,
    ConnectFailed,
    NotFound,
    PayloadError,
    TransientApiError,
    UnknownOutcome,
)

A = "+33612345678"
TRANSIENT_KINDS = ["http_500", "http_502", "http_503", "http_429", "delay", "drop", "truncated", "html_200",
                   "invalid_json"]
FAULT_PARAMS: dict[str, dict[str, Any]] = {"delay": {"seconds": 5}, "http_429": {"retry_after": 1}}


def wait_calls(sim: Any, endpoint: str, n: int, timeout: float = 5.0) -> list[Any]:
    """Calls are logged when the server thread finishes (after a delay fault's sleep): wait for them."""
    deadline = time.monotonic() + timeout
    while len(calls := sim.calls_to(endpoint)) < n and time.monotonic() < deadline:
        time.sleep(0.02)
    return calls


def assert_no_key(*texts: str) -> None:
    for text in texts:
        assert TEST_API_KEY not in text


# ---------------------------------------------------------------------------------------------- reads


@pytest.mark.parametrize("kind", TRANSIENT_KINDS)
def test_read_retried_after_one_fault_succeeds(client: SmsPartnerClient, sim: Any, sleeps: list[float], kind: str) -> None:
    sim.faults.inject("me", kind, count=1, **FAULT_PARAMS.get(kind, {}))
    assert client.me().balance is not None
    assert len(wait_calls(sim, "me", 2)) == 2 and len(sleeps) == 1


@pytest.mark.parametrize("kind", TRANSIENT_KINDS)
def test_read_exhausted_after_max_attempts_raises_transient(
    client: SmsPartnerClient, sim: Any, sleeps: list[float], kind: str
) -> None:
    sim.faults.inject("me", kind, count=3, **FAULT_PARAMS.get(kind, {}))
    with pytest.raises(TransientApiError) as info:
        client.me()
    assert info.value.endpoint == "me"
    assert len(wait_calls(sim, "me", 3)) == 3 and len(sleeps) == 2
    assert_no_key(str(info.value), repr(info.value), "".join(traceback.format_exception(info.value)))


@pytest.mark.parametrize("kind", ["http_503", "drop", "truncated", "html_200", "invalid_json"])
def test_stop_list_head_faults_are_retried_before_any_record(
    client: SmsPartnerClient, sim: Any, sleeps: list[float], kind: str
) -> None:
    sim.generate_stops(3000)
    sim.quirks.update(stream_chunk_entries=10)  # small chunks, so the fault lands inside the first 64 KiB
    sim.faults.inject("stop-sms/list", kind, count=1, after_bytes=1000, bytes=1000)
    assert len(list(client.iter_stops())) == 3000
    assert len(sim.calls_to("stop-sms/list")) == 2 and len(sleeps) == 1


def test_stop_list_dropped_mid_stream_raises_transient_after_some_records(client: SmsPartnerClient, sim: Any) -> None:
    sim.generate_stops(20_000)
    sim.faults.inject("stop-sms/list", "drop", count=1, after_bytes=300_000)
    seen = 0
    with pytest.raises(TransientApiError) as info:
        for _ in client.iter_stops():
            seen += 1
    assert 0 < seen < 20_000
    assert "cut short" in str(info.value) and info.value.endpoint == "stop-sms/list"
    assert len(sim.calls_to("stop-sms/list")) == 1  # mid-stream: the caller restarts, not the client
    assert len(list(client.iter_stops())) == 20_000


@pytest.mark.parametrize(
    ("endpoint", "call", "field"),
    [
        ("me", lambda c: c.me(), "user"),
        ("stop-sms/list", lambda c: list(c.iter_stops()), "data"),
    ],
    ids=["me", "stop-list"],
)
def test_wrong_types_is_a_payload_error_naming_the_field_not_retried(
    client: SmsPartnerClient, sim: Any, sleeps: list[float], endpoint: str, call: Any, field: str
) -> None:
    sim.add_stop(A)
    sim.faults.inject(endpoint, "wrong_types")
    with pytest.raises(PayloadError) as info:
        call(client)
    assert info.value.endpoint == endpoint and info.value.field == field
    assert len(wait_calls(sim, endpoint, 1)) == 1 and sleeps == []


def test_wrong_types_in_a_streamed_list_is_a_payload_error(client: SmsPartnerClient, sim: Any) -> None:
    sim.generate_stops(3000)
    sim.faults.inject("stop-sms/list", "wrong_types")
    with pytest.raises(PayloadError) as info:
        list(client.iter_stops())
    assert info.value.field == "data"


def test_wrong_type_of_one_field(client: SmsPartnerClient, sim: Any) -> None:
    mid = sim.send([A], "x")
    sim.faults.inject("message-status", "wrong_types", field="date", value="le 7 février")
    with pytest.raises(PayloadError) as info:
        client.message_status(mid, A)
    assert (info.value.endpoint, info.value.field) == ("message-status", "date")


@pytest.mark.parametrize(
    ("endpoint", "call", "code", "exc"),
    [
        ("me", lambda c: c.me(), 10, AuthError),
        ("stop-sms/list", lambda c: list(c.iter_stops()), 1, AuthError),
        ("bulk-status", lambda c: c.bulk_status("1"), 4, NotFound),
        ("me", lambda c: c.me(), 500, ApiRejected),
        ("stop-sms/add", lambda c: c.add_stop(A), 9, ApiRejected),
    ],
    ids=["me-10", "stops-1", "bulk-4", "me-500-in-body", "add-9"],
)
def test_api_error_codes_are_never_retried(
    client: SmsPartnerClient, sim: Any, sleeps: list[float], endpoint: str, call: Any, code: int, exc: type
) -> None:
    sim.faults.inject(endpoint, "api_error", code=code)
    with pytest.raises(exc) as info:
        call(client)
    assert info.value.code == code and type(info.value) is exc
    assert len(sim.calls_to(endpoint)) == 1 and sleeps == []


# ---------------------------------------------------------------------------------------------- Retry-After


def test_retry_after_seconds_is_honoured(client: SmsPartnerClient, sim: Any, sleeps: list[float]) -> None:
    sim.faults.inject("me", "http_429", retry_after=7)
    client.me()
    assert sleeps == [7.0]


def test_retry_after_http_date_is_honoured(client: SmsPartnerClient, sim: Any, sleeps: list[float]) -> None:
    sim.faults.inject("me", "http_429", retry_after=5, retry_after_date=True)
    client.me()
    assert len(sleeps) == 1 and 4.0 <= sleeps[0] <= 6.0


def test_retry_after_is_clamped_to_wait_max(make_client: Callable[..., SmsPartnerClient], sim: Any, sleeps: list[float]) -> None:
    client = make_client(retry_policy=RetryPolicy(max_attempts=3, max_seconds=600, wait_max=10, jitter=0))
    sim.faults.inject("me", "http_429", retry_after=3600)
    client.me()
    assert sleeps == [10.0]


def test_retry_stops_when_the_time_budget_would_be_exceeded(
    make_client: Callable[..., SmsPartnerClient], sim: Any, sleeps: list[float]
) -> None:
    client = make_client(retry_policy=RetryPolicy(max_attempts=10, max_seconds=10, wait_max=60, jitter=0))
    sim.faults.inject("me", "http_429", count=5, retry_after=8)
    with pytest.raises(TransientApiError) as info:
        client.me()
    assert info.value.status == 429 and info.value.retry_after == 8
    assert sleeps == [8.0] and len(sim.calls_to("me")) == 2


def test_backoff_is_exponential_without_retry_after(
    make_client: Callable[..., SmsPartnerClient], sim: Any, sleeps: list[float]
) -> None:
    client = make_client(retry_policy=RetryPolicy(max_attempts=4, wait_initial=1.0, wait_max=3.0, jitter=0))
    sim.faults.inject("me", "http_500", count=3)
    client.me()
    assert sleeps == [1.0, 2.0, 3.0]


def test_jitter_stays_within_its_bound(make_client: Callable[..., SmsPartnerClient], sim: Any, sleeps: list[float]) -> None:
    client = make_client(retry_policy=RetryPolicy(max_attempts=4, wait_initial=1.0, wait_max=30, jitter=0.5))
    sim.faults.inject("me", "http_502", count=3)
    client.me()
    assert [int(s) for s in sleeps] == [1, 2, 4] and all(s - int(s) <= 0.5 for s in sleeps)


# ---------------------------------------------------------------------------------------------- writes


@pytest.mark.parametrize("kind", ["http_500", "http_503", "delay", "drop", "truncated", "html_200", "invalid_json"])
def test_write_is_never_retried_when_it_may_have_reached_the_server(
    client: SmsPartnerClient, sim: Any, sleeps: list[float], kind: str
) -> None:
    sim.faults.inject("stop-sms/add", kind, **FAULT_PARAMS.get(kind, {}))
    with pytest.raises(UnknownOutcome) as info:
        client.add_stop(A)
    assert info.value.endpoint == "stop-sms/add"
    assert len(wait_calls(sim, "stop-sms/add", 1)) == 1 and sleeps == []


def test_write_rate_limited_is_retried(client: SmsPartnerClient, sim: Any, sleeps: list[float]) -> None:
    sim.faults.inject("stop-sms/add", "http_429", retry_after=2)
    assert client.add_stop(A).stop_id == sim.stop_id_of(A)
    assert sleeps == [2.0] and len(sim.calls_to("stop-sms/add")) == 2


def test_add_stop_acted_then_timed_out_is_unknown_then_resolved_by_rereading(
    client: SmsPartnerClient, sim: Any, sleeps: list[float]
) -> None:
    sim.faults.inject("stop-sms/add", "act_then_delay", seconds=5)
    with pytest.raises(UnknownOutcome):
        client.add_stop(A)
    found = client.find_stop_by_phone("06 12 34 56 78")
    assert found is not None and found.stop_id == sim.stop_id_of(A) and found.phone_e164 == A
    assert len(wait_calls(sim, "stop-sms/add", 1)) == 1  # sent once, never twice
    time.sleep(0.2)
    assert len(sim.calls_to("stop-sms/add")) == 1 and sleeps == []
    assert client.find_stop_by_phone("+33698765432") is None
    assert client.resolve_add_stop(A) == found


def test_delete_stop_acted_then_timed_out_is_resolved_by_stop_exists(client: SmsPartnerClient, sim: Any) -> None:
    stop_id = sim.add_stop(A)
    sim.faults.inject("stop-sms/delete", "act_then_delay", seconds=5)
    with pytest.raises(UnknownOutcome):
        client.delete_stop(stop_id)
    assert client.stop_exists(stop_id) is False and client.resolve_delete_stop(stop_id) is True
    assert len(wait_calls(sim, "stop-sms/delete", 1)) == 1


def test_cancel_acted_then_timed_out_is_resolved_by_rereading_status(client: SmsPartnerClient, sim: Any) -> None:
    mid = sim.send([A], "later", scheduled_at=sim.clock.now() + timedelta(hours=2))
    sim.faults.inject("message-cancel", "act_then_delay", seconds=5)
    with pytest.raises(UnknownOutcome):
        client.cancel_message(mid)
    status = client.resolve_cancel(mid, A)
    assert status is None or status.message_id == str(mid)
    with pytest.raises(ApiRejected) as info:  # asking again is safe: 5 = already cancelled
        client.cancel_message(mid)
    assert info.value.code == 5
    assert sim.recipient_truth(mid, A)["cancelled"] is True


def _closed_port_url() -> str:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    return f"http://127.0.0.1:{port}/v1"


@pytest.mark.parametrize("call", [lambda c: c.me(), lambda c: c.add_stop(A), lambda c: list(c.iter_stops())],
                         ids=["read", "write", "stream"])
def test_connection_refused_is_retried_even_for_writes_and_names_the_path_only(
    make_client: Callable[..., SmsPartnerClient], sleeps: list[float], call: Any
) -> None:
    client = make_client(base_url=_closed_port_url())
    with pytest.raises(ConnectFailed) as info:
        call(client)
    assert len(sleeps) == 2
    text = "".join(traceback.format_exception(info.value))
    assert_no_key(str(info.value), repr(info.value), text)
    assert info.value.__context__ is None and info.value.__cause__ is None
    assert "127.0.0.1" not in str(info.value)


# ---------------------------------------------------------------------------------------------- observability


def test_observer_sees_each_attempt_and_outcome(make_client: Callable[..., SmsPartnerClient], sim: Any) -> None:
    seen: list[tuple[str, str, int]] = []
    client = make_client(observer=lambda *a: seen.append(a))
    sim.faults.inject("me", "http_503")
    client.me()
    sim.faults.inject("stop-sms/add", "http_500")
    with pytest.raises(UnknownOutcome):
        client.add_stop(A)
    assert seen == [("me", "retry", 1), ("me", "ok", 2), ("stop-sms/add", "UnknownOutcome", 1)]


def test_a_failing_observer_never_breaks_a_call(make_client: Callable[..., SmsPartnerClient]) -> None:
    def boom(*_: Any) -> None:
        raise RuntimeError("metrics down")

    assert make_client(observer=boom).me().balance is not None


def test_retries_log_a_warning_with_path_and_attempt_and_never_the_key(
    client: SmsPartnerClient, sim: Any, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)  # urllib3 logs request lines (with the query string) at DEBUG
    sim.faults.inject("stop-sms/list", "http_503")
    sim.faults.inject("message-status", "delay", seconds=5)
    sim.faults.inject("stop-sms/add", "act_then_delay", seconds=5)
    list(client.iter_stops())
    with pytest.raises(NotFound):
        client.message_status("1", A)
    with pytest.raises(UnknownOutcome) as info:
        client.add_stop(A)
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING and r.name == "etl.api.retry"]
    assert [r.getMessage().split(" in ")[0] for r in warnings] == [
        "retrying stop-sms/list after attempt 1/3",
        "retrying message-status after attempt 1/3",
    ]
    assert any("apiKey=***" in r.getMessage() for r in caplog.records if r.name.startswith("urllib3"))
    assert_no_key(caplog.text, str(info.value), repr(info.value), "".join(traceback.format_exception(info.value)))
    assert "?" not in "".join(r.getMessage() for r in warnings)


def test_repr_masks_the_key(client: SmsPartnerClient) -> None:
    assert TEST_API_KEY not in repr(client) and "****" in repr(client)
    assert TEST_API_KEY not in str(vars(client).get("_key"))
