"""K reads in flight on one client (etl/api/concurrent.py): order kept, errors per item, never more than K at once."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

import pytest

from etl.api import SmsPartnerClient
from etl.api.concurrent import in_flight
from etl.errors import NotFound


class Gauge:
    """Counts the calls running at once, and the most seen."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.running = 0
        self.most = 0
        self.started = 0

    def __enter__(self) -> None:
        with self._lock:
            self.running += 1
            self.started += 1
            self.most = max(self.most, self.running)

    def __exit__(self, *exc: object) -> None:
        with self._lock:
            self.running -= 1


def test_results_come_in_the_order_of_the_items_and_errors_stay_with_theirs() -> None:
    def call(n: int) -> int:
        if n == 3:
            raise NotFound(4, "no such pair", endpoint="message-status")
        return n * 10

    done = list(in_flight(call, range(6), concurrency=3))
    assert [d.item for d in done] == list(range(6))
    assert [d.get() for d in done if d.item != 3] == [0, 10, 20, 40, 50]
    with pytest.raises(NotFound):
        done[3].get()


def test_one_at_a_time_runs_each_call_in_the_callers_thread_when_its_item_is_taken() -> None:
    threads: list[str] = []
    results = in_flight(lambda n: threads.append(threading.current_thread().name) or n, range(3), concurrency=1)
    assert next(results).get() == 0
    assert len(threads) == 1  # lazily: the next call waits for the caller
    assert [d.get() for d in results] == [1, 2]
    assert threads == [threading.current_thread().name] * 3


def test_stopping_early_cancels_the_calls_not_started() -> None:
    gauge = Gauge()
    release = threading.Event()

    def call(n: int) -> int:
        with gauge:
            release.wait(5)
            return n

    results = in_flight(call, range(100), concurrency=2)
    release.set()
    first = next(results)
    results.close()
    assert first.get() == 0
    assert gauge.started <= 2 * 2 + 1  # the running and queued ones at most, never the 100


@pytest.mark.parametrize("bad", [0, 65], ids=["none", "too-many"])
def test_concurrency_outside_1_to_64_is_refused(bad: int) -> None:
    with pytest.raises(ValueError, match="concurrency"):
        list(in_flight(lambda n: n, [1], concurrency=bad))


def test_reads_overlap_on_one_client_and_never_exceed_k(make_client: Callable[..., SmsPartnerClient], sim: Any) -> None:
    client = make_client(concurrency=4)
    mid = sim.send([f"+336123456{i:02d}" for i in range(12)], "hi")
    sim.faults.inject("message-status", "delay", rate=1.0, seconds=0.3)
    gauge = Gauge()

    def read(phone: str) -> str:
        with gauge:
            return client.message_status(str(mid), phone).status

    phones = [f"+336123456{i:02d}" for i in range(12)]
    done = list(in_flight(read, phones, concurrency=4))
    assert [d.item for d in done] == phones and all(d.get() for d in done)
    assert 2 <= gauge.most <= 4
    assert len(sim.calls_to("message-status")) == 12


def test_retries_keep_their_policy_from_worker_threads(make_client: Callable[..., SmsPartnerClient], sim: Any) -> None:
    client = make_client(concurrency=3)
    sim.faults.inject("me", "http_503", count=2)
    done = list(in_flight(lambda _n: client.me().balance, range(6), concurrency=3))
    assert len({d.get() for d in done}) == 1
    assert [c.http_status for c in sim.calls_to("me")].count(503) == 2
    assert len(sim.calls_to("me")) == 8


def test_the_connection_pool_holds_k_connections(make_client: Callable[..., SmsPartnerClient]) -> None:
    client = make_client(concurrency=24)
    adapter = client._transport._session.get_adapter("http://127.0.0.1/")
    assert adapter._pool_maxsize == 24  # type: ignore[attr-defined]
