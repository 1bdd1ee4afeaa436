"""The console's read-only pages read ``database.read_url`` (a replica); sign-in and users stay on the primary."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any

from sqlalchemy import insert
from starlette.testclient import TestClient

from etl.config import Config, DatabaseConfig
from etl.db.engine import make_engine
from etl.db.schema import sync_runs
from tests.test_read_replica import replica_url  # noqa: F401 - the fixture

from .conftest import NOW


def test_the_run_log_comes_from_the_replica_and_the_sign_in_from_the_primary(
    migrated_db_url: str, replica_url: str, console_config: Config, make_app: Callable[..., Any],  # noqa: F811
    sign_in: Callable[..., TestClient],
) -> None:
    replica = make_engine(replica_url, pool=False)
    with replica.begin() as conn:
        conn.execute(insert(sync_runs).values(job="rentals", started_at=NOW, finished_at=NOW, outcome="failed",
                                              rows_added=0, rows_changed=0, rows_removed=0, detail="seen on the replica"))
    replica.dispose()
    config = dataclasses.replace(console_config, database=DatabaseConfig(url=migrated_db_url, read_url=replica_url))
    client = sign_in("viewer", app=make_app(config))  # the user exists on the primary only
    assert client.get("/runs", params={"outcome": "failed"}).text.count('href="/runs/1"') == 1
    assert "seen on the replica" in client.get("/runs/1").text  # the primary has no run at all: 404 there
