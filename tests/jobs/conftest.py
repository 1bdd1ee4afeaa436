"""The job tests' environment: an engine on the migrated test database, the simulator, a config and a client.

``env`` is the usual ``(engine, sim, config, client)``; a test module needing other config sections or client
options overrides ``env`` with ``job_env(client_kwargs=..., **sections)``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest
from sqlalchemy import Engine

from etl.db.engine import make_engine
from tests.jobs.helpers import make_client, make_config

JobEnv = tuple[Engine, Any, Any, Any]


@pytest.fixture
def job_env(migrated_db_url: str, simulator: Any) -> Iterator[Callable[..., JobEnv]]:
    engines: list[Engine] = []

    def build(*, client_kwargs: dict[str, Any] | None = None, **sections: Any) -> JobEnv:
        engine = make_engine(migrated_db_url)
        engines.append(engine)
        config = make_config(migrated_db_url, simulator.base_url, **sections)
        return engine, simulator.sim, config, make_client(simulator.base_url, **(client_kwargs or {}))

    yield build
    for engine in engines:
        engine.dispose()


@pytest.fixture
def env(job_env: Callable[..., JobEnv]) -> JobEnv:
    return job_env()
