"""Small builders shared by the job tests: a config, a client and an engine for one test."""

from __future__ import annotations

import dataclasses
import json
import time
from collections import Counter
from collections.abc import Callable
from datetime import datetime, timezone
from typing import Any

from sqlalchemy import Engine, text

from etl.api.client import SmsPartnerClient
from etl.config import ApiConfig, Config, DatabaseConfig, Secret, StopsConfig
from etl.runner import RunReport, run_job

TEST_KEY = "sim-test-key-not-secret"


def make_config(db_url: str, base_url: str, **sections: Any) -> Config:
    config = Config(
        api=ApiConfig(base_url=base_url, read_timeout=3.0, connect_timeout=2.0, max_attempts=3, max_retry_seconds=5.0),
        database=DatabaseConfig(url=db_url),
        stops=StopsConfig(),
    )
    return dataclasses.replace(config, **sections)


def make_client(base_url: str, **kwargs: Any) -> SmsPartnerClient:
    options: dict[str, Any] = dict(connect_timeout=2.0, read_timeout=3.0, max_attempts=3, max_retry_seconds=5.0)
    options.update(kwargs)
    return SmsPartnerClient(base_url, Secret(TEST_KEY), sleep=lambda _seconds: None, **options)


def recording_client(base_url: str) -> tuple[SmsPartnerClient, list[float]]:
    """The job tests' client, but its waits recorded: restarts must wait through it, not time.sleep."""
    sleeps: list[float] = []
    client = SmsPartnerClient(
        base_url, Secret(TEST_KEY), connect_timeout=2.0, read_timeout=3.0, max_attempts=3, max_retry_seconds=60.0,
        sleep=sleeps.append,
    )
    return client, sleeps


def sim_clock(sim: Any):  # noqa: ANN201 - returns a clock callable
    """The job clock follows the simulator's, in UTC."""
    return lambda: sim.clock.now().astimezone(timezone.utc)


def run(name: str, engine: Engine, config: Config, client: Any, now: Any = None, **kwargs: Any) -> RunReport:
    return run_job(
        name, config=config, client=client, engine=engine, now=now or (lambda: datetime.now(timezone.utc)), **kwargs
    )


def table_rows(engine: Engine, table: str, order_by: str = "id") -> list[tuple[Any, ...]]:
    with engine.connect() as conn:
        rows = [tuple(r) for r in conn.execute(text(f"SELECT * FROM {table} ORDER BY {order_by}"))]
        conn.rollback()
    return rows


def timed_behind_a_reader(engine: Engine, tables: list[str], action: Callable[[], Any]) -> tuple[Any, float]:
    """``action()``'s result and its wall seconds, run while another connection holds an open
    transaction that has read ``tables`` (as a BI query left open would)."""
    with engine.connect() as reader:
        for table in tables:
            reader.execute(text(f"SELECT COUNT(*) FROM {table}")).scalar()
        started = time.monotonic()
        result = action()
        waited = time.monotonic() - started
        reader.rollback()
    return result, waited


def pairs_asked(sim: Any, *, completed_only: bool = False) -> Counter[tuple[str, str]]:
    """(message id, number) → times the simulator was asked its status with multi-status; ``completed_only``:
    leave out calls a fault was injected into (a delayed call its caller may not have lived to read)."""
    asked: Counter[tuple[str, str]] = Counter()
    for call in sim.calls_to("multi-status"):
        if completed_only and call.fault is not None:
            continue
        items = call.params.get("SMSStatut_List", call.params.get("SMSStatus_List"))
        for item in json.loads(items) if isinstance(items, str) else items:
            asked[(str(item["messageId"]), item["phoneNumber"])] += 1
    return asked
