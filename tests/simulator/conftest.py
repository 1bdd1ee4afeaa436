"""A fresh Simulator served on 127.0.0.1:0 per test, plus a tiny API helper."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
import requests

from etl.simulator import Simulator, SimulatorServer

KEY = "sim-key-0123"


class Api:
    """Calls the simulator like a client would: apiKey in the query (GET) or body (POST)."""

    def __init__(self, server: SimulatorServer) -> None:
        self.base = server.base_url
        self.http = requests.Session()

    def get(self, endpoint: str, key: str | None = KEY, **params: Any) -> requests.Response:
        if key is not None:
            params["apiKey"] = key
        return self.http.get(f"{self.base}/{endpoint}", params=params, timeout=10)

    def post(self, endpoint: str, key: str | None = KEY, **body: Any) -> requests.Response:
        if key is not None:
            body["apiKey"] = key
        return self.http.post(f"{self.base}/{endpoint}", json=body, timeout=10)

    def jget(self, endpoint: str, **params: Any) -> dict[str, Any]:
        return self.get(endpoint, **params).json()  # type: ignore[no-any-return]

    def jpost(self, endpoint: str, **body: Any) -> dict[str, Any]:
        return self.post(endpoint, **body).json()  # type: ignore[no-any-return]


@pytest.fixture
def sim() -> Simulator:
    return Simulator(api_key=KEY, seed=42)


@pytest.fixture
def server(sim: Simulator) -> Iterator[SimulatorServer]:
    with SimulatorServer(sim) as srv:
        yield srv


@pytest.fixture
def api(server: SimulatorServer) -> Iterator[Api]:
    client = Api(server)
    yield client
    client.http.close()
