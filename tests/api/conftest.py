"""Client fixtures: a real SimulatorServer on port 0 (root conftest ``simulator``), small timeouts,
and a recording ``sleep`` so retries cost no wall time and the waits can be asserted."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest

from etl.api import RetryPolicy, SmsPartnerClient
from etl.config import Secret

FAST_POLICY = RetryPolicy(max_attempts=3, max_seconds=120.0, wait_initial=0.01, wait_max=30.0, jitter=0.0)


class Sleeps(list[float]):
    """The client's ``sleep``: records each wait instead of sleeping."""

    def __call__(self, seconds: float) -> None:
        self.append(seconds)


@pytest.fixture
def sim(simulator: Any) -> Any:
    return simulator.sim


@pytest.fixture
def sleeps() -> Sleeps:
    return Sleeps()


@pytest.fixture
def make_client(simulator: Any, api_key: str, sleeps: Sleeps) -> Iterator[Callable[..., SmsPartnerClient]]:
    made: list[SmsPartnerClient] = []

    def make(**options: Any) -> SmsPartnerClient:
        settings: dict[str, Any] = {
            "connect_timeout": 1.0,
            "read_timeout": 2.0,  # roomy: a loaded CI box must not turn a normal answer into a timeout
            "sleep": sleeps,
            "retry_policy": FAST_POLICY,
        }
        settings.update(options)
        base_url = settings.pop("base_url", simulator.base_url)
        key = settings.pop("key", api_key)
        client = SmsPartnerClient(base_url, Secret(key), **settings)
        made.append(client)
        return client

    yield make
    for client in made:
        client.close()


@pytest.fixture
def client(make_client: Callable[..., SmsPartnerClient]) -> SmsPartnerClient:
    return make_client()
