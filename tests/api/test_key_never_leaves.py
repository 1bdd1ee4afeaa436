"""Issue 16, "the key never leaves the process": API texts that echo the key, end to end on three databases.

The simulator's ``key_echo`` fault makes an answer quote the caller's key (plainly, URL-encoded, upper-cased); the
real CLI and jobs then run against it over sockets, and the key must appear nowhere: not in any column of any table
(``sync_runs.detail``, ``write_actions.api_message``...), not in stdout/stderr, not in a log. The key has characters
a URL encodes and letters with a case, so each echo style writes it differently.
"""

from __future__ import annotations

import logging
import os
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result
from sqlalchemy import text

from etl.cli import cli
from etl.config import StatusesConfig
from etl.db.engine import make_engine
from etl.simulator import Simulator, SimulatorServer
from etl.tracking import TrackedSend, track
from tests.soak.hygiene import count_key, key_in_rows

ODD_KEY = "Sk/Ey+Odd=Key&Not Secret-0123"
NUMBER = "+33612345678"
TOKEN = "tok-echo-000123"
ENTRY = Path(sys.executable).with_name("smspartner-etl")


@dataclass
class World:
    sim: Simulator
    server: SimulatorServer
    db_url: str
    env: dict[str, str]
    config_path: Path

    def invoke(self, *args: str) -> Result:
        return CliRunner().invoke(cli, list(args), env=self.env, catch_exceptions=False)

    def echo(self, endpoint: str = "*", **params: Any) -> None:
        """Every matching call from now on answers with the key in its text (all three forms by default)."""
        params.setdefault("style", "all")
        self.sim.faults.inject(endpoint, "key_echo", count=None, **params)

    def track_one_send(self) -> str:
        now = self.sim.clock.now().astimezone(timezone.utc)
        mid = self.sim.send([NUMBER], "hello")
        engine = make_engine(self.db_url)
        try:
            track(engine, [TrackedSend(mid, [NUMBER], sent_at=now)], now=now, config=StatusesConfig())
        finally:
            engine.dispose()
        self.sim.clock.advance(timedelta(minutes=5))
        return str(mid)

    def rows(self, sql: str) -> list[tuple[Any, ...]]:
        engine = make_engine(self.db_url)
        try:
            with engine.connect() as conn:
                out = [tuple(r) for r in conn.execute(text(sql))]
                conn.rollback()
        finally:
            engine.dispose()
        return out


@pytest.fixture
def world(migrated_db_url: str, tmp_path: Path) -> Iterator[World]:
    sim = Simulator(api_key=ODD_KEY, seed=16)
    sim.add_rental(TOKEN, 5, status=2)
    server = SimulatorServer(sim).start()
    config = tmp_path / "config.toml"
    config.write_text(f'[[rentals.tokens]]\ntoken = "{TOKEN}"\nlabel = "echo"\n')
    env = {
        "SMSPARTNER_ETL__DATABASE__URL": migrated_db_url,
        "SMSPARTNER_ETL__API__BASE_URL": server.base_url,
        "SMSPARTNER_ETL__API__CLOCK": "simulator",
        "SMSPARTNER_ETL__API__MAX_ATTEMPTS": "1",
        "SMSPARTNER_ETL__API__READ_TIMEOUT": "2",
        "SMSPARTNER_API_KEY": ODD_KEY,
        "SMSPARTNER_ETL_CONFIG": str(config),
    }
    try:
        yield World(sim, server, migrated_db_url, env, config)
    finally:
        server.stop()


def assert_key_nowhere(world: World, *outputs: str, caplog: pytest.LogCaptureFixture | None = None) -> None:
    places: Counter[str] = Counter(key_in_rows(world.db_url, ODD_KEY))
    for i, output in enumerate(outputs):
        if count_key(output, ODD_KEY):
            places[f"output {i}"] += count_key(output, ODD_KEY)
    if caplog is not None:
        logged = "\n".join(record.getMessage() for record in caplog.records)
        if count_key(logged, ODD_KEY):
            places["captured log"] += count_key(logged, ODD_KEY)
    assert places == Counter(), f"the API key leaked into {dict(places)}"


def outputs(result: Result) -> tuple[str, str]:
    return result.stdout, result.stderr


# --- the sync jobs ------------------------------------------------------------------------------------------------


def test_statuses_run_detail_masks_an_echoed_key_when_a_poll_is_refused(world: World, caplog: pytest.LogCaptureFixture) -> None:
    world.track_one_send()
    world.echo("multi-status", code=99)
    world.echo("bulk-status", code=99)

    result = world.invoke("sync", "statuses")

    details = [d for (d,) in world.rows("SELECT detail FROM sync_runs WHERE job = 'statuses'")]
    assert world.sim.calls and world.sim.calls[-1].fault == "key_echo"
    assert_key_nowhere(world, *outputs(result), caplog=caplog)
    # The detail says why the cycle stopped ("stopped early: ..." or "partial, ...: ..."), echoed error masked.
    assert details and "code 99" in str(details[0]) and "***" in str(details[0]), details


@pytest.mark.parametrize("job", ["stops", "statuses", "finance", "rentals", "contacts", "actions"])
def test_every_sync_job_masks_an_echoed_key_in_its_run_row_output_and_log(
    world: World, job: str, caplog: pytest.LogCaptureFixture
) -> None:
    world.track_one_send()
    if job == "actions":
        # An unknown write for the actions job to resolve: the add answers after the read timeout.
        world.sim.faults.inject("stop-sms/add", "act_then_delay", seconds=3)
        world.sim.faults.inject("stop-sms/list", "http_500", count=None)
        assert world.invoke("stops", "add", "+33699999999").exit_code == 75
        world.sim.faults.clear()
    world.echo(code=99)

    result = world.invoke("sync", job)

    runs = world.rows(f"SELECT outcome, detail FROM sync_runs WHERE job = '{job}'")
    assert runs and all(detail for _outcome, detail in runs), runs
    assert any(c.fault == "key_echo" for c in world.sim.calls), "the job made no call the fault could answer"
    assert_key_nowhere(world, *outputs(result), caplog=caplog)


# --- the write commands -------------------------------------------------------------------------------------------


@pytest.mark.parametrize("on", ["error", "success"])
def test_stops_remove_masks_an_echoed_key_in_its_audit_row_and_output(
    world: World, on: str, caplog: pytest.LogCaptureFixture
) -> None:
    stop_id = world.sim.add_stop(NUMBER)
    world.echo("stop-sms/delete", code=99, on=on)

    result = world.invoke("stops", "remove", "--id", str(stop_id), "--reason", "opt back in", "--consent-evidence", "form 4711")

    assert result.exit_code == (1 if on == "error" else 0), result.output
    ((outcome, message),) = world.rows("SELECT outcome, api_message FROM write_actions")
    assert outcome == ("rejected" if on == "error" else "success")
    assert_key_nowhere(world, *outputs(result), caplog=caplog)
    if on == "error":
        assert "API code 99" in str(message) and "***" in str(message)


@pytest.mark.parametrize("on", ["error", "success"])
def test_messages_cancel_masks_an_echoed_key_in_its_audit_row_and_output(
    world: World, on: str, caplog: pytest.LogCaptureFixture
) -> None:
    sim = world.sim
    mid = sim.send(["+33611111111"], "later", scheduled_at=sim.clock.now() + timedelta(hours=3))
    world.echo("message-cancel", code=99, on=on)

    result = world.invoke("messages", "cancel", str(mid), "--reason", "wrong text")

    assert result.exit_code == (1 if on == "error" else 0), result.output
    ((outcome, message),) = world.rows("SELECT outcome, api_message FROM write_actions")
    assert outcome == ("rejected" if on == "error" else "success")
    assert_key_nowhere(world, *outputs(result), caplog=caplog)
    assert "***" in str(message), message


# --- the daemon ---------------------------------------------------------------------------------------------------


def test_daemon_log_and_database_never_hold_an_echoed_key(world: World, tmp_path: Path) -> None:
    world.track_one_send()
    jobs = "".join(f'[jobs.{name}]\nevery = 1\ncron = ""\n' for name in ("stops", "statuses", "finance", "rentals", "actions"))
    world.config_path.write_text(
        world.config_path.read_text()
        + f'[api]\nbase_url = "{world.server.base_url}"\nclock = "simulator"\nmax_attempts = 1\nread_timeout = 2\n'
        + f'[database]\nurl = "{world.db_url}"\n{jobs}[daemon]\nlog_format = "json"\nlease = 5\njitter = 0\n'
    )
    world.echo(code=99)
    env = {k: v for k, v in os.environ.items() if not k.startswith("SMSPARTNER_ETL")}
    env["SMSPARTNER_API_KEY"] = ODD_KEY
    log_path = tmp_path / "daemon.log"
    with open(log_path, "wb") as out:
        proc = subprocess.Popen(
            [str(ENTRY), "--config", str(world.config_path), "run"],
            stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT, env=env,
        )
    try:
        wait_until(lambda: _jobs_done(world) >= 5, 60, "every job to finish a run")
    finally:
        if proc.poll() is None:
            proc.terminate()
        proc.wait(30)
    log_text = log_path.read_text(errors="replace")
    assert "statuses" in log_text and "stopped" in log_text, log_text[-2000:]
    assert_key_nowhere(world, log_text)


def _jobs_done(world: World) -> int:
    return len(world.rows("SELECT DISTINCT job FROM sync_runs WHERE outcome <> 'running'"))


def wait_until(condition: Callable[[], Any], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        time.sleep(0.2)


@pytest.fixture(autouse=True)
def _etl_logs_captured(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG, logger="etl")
