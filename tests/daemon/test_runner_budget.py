"""The runner gives each run's client the account's shared budget when ``api.max_calls_per_minute`` is set."""

from __future__ import annotations

import dataclasses
from typing import Any

from etl.budget import use_by_account
from etl.clock import utcnow
from etl.db.engine import make_engine
from etl.runner import run_job
from tests.jobs.helpers import make_client, make_config


def test_a_run_spends_its_calls_from_the_shared_budget(migrated_db_url: str, simulator: Any) -> None:
    engine = make_engine(migrated_db_url)
    base = make_config(migrated_db_url, simulator.base_url)
    config = dataclasses.replace(base, api=dataclasses.replace(base.api, max_calls_per_minute=50))
    try:
        report = run_job("stops", config=config, client=make_client(simulator.base_url), engine=engine)
        assert report.outcome == "success"
        with engine.connect() as conn:
            account = [u for u in use_by_account(conn, utcnow()) if u.endpoint_class == "*"]
        assert [(u.account, u.slots, u.used) for u in account] == [("main", 50, len(simulator.sim.calls))]
    finally:
        engine.dispose()


def test_without_a_budget_setting_no_slot_is_written(migrated_db_url: str, simulator: Any) -> None:
    engine = make_engine(migrated_db_url)
    try:
        run_job("stops", config=make_config(migrated_db_url, simulator.base_url), client=make_client(simulator.base_url), engine=engine)
        with engine.connect() as conn:
            assert use_by_account(conn, utcnow()) == []
    finally:
        engine.dispose()
