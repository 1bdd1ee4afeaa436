"""A live console on the demo's database: a real uvicorn server (port 0) over a SQLite mirror that the real jobs
filled from the bundled simulator, with one user of each role. What tests/browser signs in to; usable outside
pytest (``with live_console(directory) as site: ...``).

The database is `etl.demo.populate`'s (the CLI in subprocesses: schema, every job over a few simulated hours,
writes, a quarantined item, a breach). Then the simulated clock jumps `STALE_AFTER` ahead and only stops and statuses
sync again (and contacts, which the audience check needs fresh too), so rentals (staleness 2 days) are stale
beside fresh stops; and one number is stopped, released by the
tool with a `<script>` reason, and stopped again. The console's clock is the simulator's, so staleness stays as made.
SQLite only: a page reads the same SQL on every backend, which tests/console checks on three (docs/console.md).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from importlib import resources
from pathlib import Path

from sqlalchemy import Engine

from etl.config import load_config
from etl.console import users
from etl.console.server import ConsoleServer
from etl.db.engine import make_engine
from etl.db.schema import ROLES
from etl.demo import etl, populate
from etl.simulator import Simulator, SimulatorServer
from etl.simulator.seedfile import build, load

PASSWORD = "browser-test-password"
XSS_REASON = "<script>document.title='pwned'</script>"
#: A number nobody else touches: stopped, released with `XSS_REASON`, stopped again (two periods, one open).
STOPPED = "+33612000001"
STOPPED_AS_TYPED = "06 12 00 00 01"
STALE_AFTER = timedelta(days=3)
STALE_JOB, FRESH_JOB = "rentals", "stops"


@dataclass(frozen=True)
class LiveConsole:
    url: str
    engine: Engine
    sim: Simulator
    #: ``$SMSPARTNER_ETL_CONFIG`` and the API key: `etl.demo.etl(*args, env=site.env)` runs the CLI on this database.
    env: dict[str, str]
    #: The label of the parent account (the rows of `tr[data-account]`).
    account: str

    def user(self, role: str) -> tuple[str, str]:
        """(name, password) of the user with ``role`` (the user is named after the role)."""
        return role, PASSWORD


def _now(sim: Simulator) -> datetime:
    return sim.clock.now().astimezone(timezone.utc)


def _age_and_stop(sim: Simulator, env: dict[str, str]) -> None:
    sim.clock.advance(STALE_AFTER)
    etl("sync", "stops", "statuses", "contacts", "--once", env=env)
    etl("stops", "add", STOPPED_AS_TYPED, "--actor", "browser", "--reason", "asked by phone", env=env)
    etl("stops", "remove", STOPPED, "--actor", "browser", "--reason", XSS_REASON,
        "--consent-evidence", "signed form #42", env=env)
    etl("stops", "add", STOPPED, "--actor", "browser", "--reason", "STOP again by SMS", env=env)


@contextmanager
def live_console(directory: Path) -> Iterator[LiveConsole]:
    """The seeded console, listening until the block ends (the simulator too: the console's writes reach it)."""
    seed = load(str(resources.files("etl.simulator").joinpath("demo_seed.json")))
    sim = build(seed)
    with SimulatorServer(sim, port=0) as api:
        env = populate(sim, seed, api.base_url, directory)
        _age_and_stop(sim, env)
        config = load_config(env["SMSPARTNER_ETL_CONFIG"], environ={
            "SMSPARTNER_ETL__CONSOLE__PORT": "0", "SMSPARTNER_ETL__CONSOLE__WORK_DIR": str(directory / "audience-runs")})
        engine = make_engine(config.database.url)
        for role in ROLES:
            users.add(engine, role, role, PASSWORD, _now(sim))
        server = ConsoleServer(config, engine, now=lambda: _now(sim)).start()
        try:
            yield LiveConsole(f"http://127.0.0.1:{server.port}", engine, sim, env, "main")
        finally:
            server.stop()
            engine.dispose()
