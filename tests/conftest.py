"""Fixtures shared by the whole suite: real databases on three backends, the simulator, the key-leak check.

Contract (keep these names; others' tests depend on them):

``backend``          "sqlite" | "postgresql" | "mariadb". Every test that uses ``backend``, ``db_url`` or
                     ``migrated_db_url`` is parametrised over the three, with exactly those ids
                     (``test_x[postgresql]``) and a marker of the same name (``-m "not mariadb"``).
                     ``@pytest.mark.backends("postgresql", "mariadb")`` narrows one test; ``--backends=sqlite,...``
                     narrows the run (the others are deselected).
``db_url``           A fresh, uniquely named, empty database for this test, as a SQLAlchemy URL string:
                     ``sqlite:////tmp/.../<name>.sqlite3``,
                     ``postgresql+psycopg://postgres@127.0.0.1:<port>/<name>``,
                     ``mariadb+pymysql://root@127.0.0.1:<port>/<name>?charset=utf8mb4``.
                     Dropped afterwards (connections the test left open are terminated first).
``migrated_db_url``  ``db_url`` after ``etl.db.migrate.upgrade(url)`` (``alembic upgrade heads``).
``pg_server``        Session fixture: the ``PostgresServer`` (``.host``, ``.port``, ``.admin_url``, ``.url(name)``,
``mariadb_server``   ``.create_database(name)``, ``.drop_database(name)``, ``.execute(sql)``, ``.stop()``,
                     ``.start()``). ``stop()``/``start()`` restart it on the same port with the same data, e.g. for
                     a soak test; ``db_url`` restarts a server a test left stopped.
``simulator``        A running ``etl.simulator.SimulatorServer`` on a free port (``.base_url``, ``.sim``), whose
                     account key is ``TEST_API_KEY``; stopped afterwards.
``api_key``          ``TEST_API_KEY`` ("sim-test-key-not-secret").

If a server cannot be had, tests needing it skip with "PostgreSQL unavailable: <reason>" (or "MariaDB ..."); under
``CI=true`` they fail instead, so CI cannot go green by skipping.

Servers: one PostgreSQL and one MariaDB per pytest process, started on first use (a ``--backends=sqlite`` run starts
none). Under pytest-xdist each worker is its own session, so each gets its own pair. That costs ~1 s per server per
worker, and buys simplicity: no lock file, no question of which process stops a shared server, and a test that
restarts "its" server (``pg_server.stop()``) cannot break tests running in another worker. Timings of each start go
to ``<basetemp>/server-timings.txt`` and are printed in the terminal summary.

The key-leak check (``harness/leakcheck.py``, loaded below) fails any test whose captured log records, stdout or
stderr contain ``TEST_API_KEY``; exempt a test with ``@pytest.mark.key_may_leak``.
"""

from __future__ import annotations

import itertools
import os
import re
import secrets
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

# Make ``harness`` importable however pytest imports this conftest (rootdir/tests may or may not be a package).
_TESTS_DIR = str(Path(__file__).resolve().parent)
if _TESTS_DIR not in sys.path:
    sys.path.insert(0, _TESTS_DIR)

from harness import (  # noqa: E402 - importable only after the path above
    TEST_API_KEY,
    MariaDBServer,
    PostgresServer,
    ServerUnavailable,
    ThrowawayServer,
)
from harness.availability import unavailable  # noqa: E402

pytest_plugins = ("harness.leakcheck", "pytester")

BACKENDS = ("sqlite", "postgresql", "mariadb")
LABELS = {"postgresql": "PostgreSQL", "mariadb": "MariaDB"}


# --- options, markers, parametrisation ----------------------------------------------------------------------------


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--backends",
        default=",".join(BACKENDS),
        help="comma-separated backends to run db tests on (default: %(default)s)",
    )


def _selected_backends(config: pytest.Config) -> list[str]:
    chosen = [b.strip() for b in str(config.getoption("--backends")).split(",") if b.strip()]
    unknown = sorted(set(chosen) - set(BACKENDS))
    if unknown:
        raise pytest.UsageError(f"--backends: unknown {unknown}; choose from {', '.join(BACKENDS)}")
    return chosen


def pytest_configure(config: pytest.Config) -> None:
    _selected_backends(config)  # fail early on a typo
    for name in BACKENDS:
        config.addinivalue_line("markers", f"{name}: runs on the {name} backend (set by the backend parametrisation)")


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "backend" not in metafunc.fixturenames:
        return
    if any("backend" in _argnames(m) for m in metafunc.definition.iter_markers("parametrize")):
        return  # the test parametrises ``backend`` itself
    marker = metafunc.definition.get_closest_marker("backends")
    names = list(marker.args) if marker is not None and marker.args else list(BACKENDS)
    unknown = sorted(set(names) - set(BACKENDS))
    if unknown:
        raise pytest.UsageError(f"{metafunc.definition.nodeid}: @pytest.mark.backends got unknown {unknown}")
    params = [pytest.param(name, id=name, marks=getattr(pytest.mark, name)) for name in names]
    metafunc.parametrize("backend", params, indirect=True)


def _argnames(marker: pytest.Mark) -> list[str]:
    names = marker.args[0] if marker.args else marker.kwargs.get("argnames", "")
    return [n.strip() for n in names.split(",")] if isinstance(names, str) else list(names)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    selected = set(_selected_backends(config))
    keep, drop = [], []
    for item in items:
        callspec = getattr(item, "callspec", None)
        backend = callspec.params.get("backend") if callspec is not None else None
        (drop if backend is not None and backend not in selected else keep).append(item)
    if drop:
        config.hook.pytest_deselected(items=drop)
        items[:] = keep


# --- servers ------------------------------------------------------------------------------------------------------


def _timings_file(factory: pytest.TempPathFactory) -> Path:
    base = factory.getbasetemp()
    # Under xdist a worker's basetemp is <controller basetemp>/popen-gwN: write where the controller will look.
    return (base.parent if os.environ.get("PYTEST_XDIST_WORKER") else base) / "server-timings.txt"


def _serve(server: ThrowawayServer, label: str, factory: pytest.TempPathFactory) -> Iterator[Any]:
    try:
        server.start()
    except (ServerUnavailable, OSError) as exc:
        server.close()
        unavailable(label, str(exc))
    worker = os.environ.get("PYTEST_XDIST_WORKER", "main")
    with open(_timings_file(factory), "a") as out:
        out.write(f"{worker}: {label} started in {server.startup_seconds:.2f}s on port {server.port}\n")
    try:
        yield server
    finally:
        server.close()


@pytest.fixture(scope="session")
def pg_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PostgresServer]:
    """This process's throwaway PostgreSQL server (started on first use, removed at session end)."""
    yield from _serve(PostgresServer(), LABELS["postgresql"], tmp_path_factory)


@pytest.fixture(scope="session")
def mariadb_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[MariaDBServer]:
    """This process's throwaway MariaDB server (started on first use, removed at session end)."""
    yield from _serve(MariaDBServer(), LABELS["mariadb"], tmp_path_factory)


def pytest_terminal_summary(terminalreporter: Any, config: pytest.Config) -> None:
    factory = getattr(config, "_tmp_path_factory", None)
    if factory is None or os.environ.get("PYTEST_XDIST_WORKER"):
        return
    try:
        lines = (factory.getbasetemp() / "server-timings.txt").read_text().splitlines()
    except OSError:
        return
    terminalreporter.write_sep("-", "throwaway database servers")
    for line in sorted(lines):
        terminalreporter.write_line(line)


# --- databases ----------------------------------------------------------------------------------------------------

_counter = itertools.count(1)


def _db_name(test_name: str) -> str:
    """``t<worker>_<n>_<test name>_<random>``: unique, traceable to its test, a plain identifier under 63 chars."""
    worker = os.environ.get("PYTEST_XDIST_WORKER", "gw").removeprefix("gw") or "m"
    slug = re.sub(r"[^a-z0-9]+", "_", test_name.lower()).strip("_")
    return f"t{worker}_{next(_counter)}_{slug}"[:52] + "_" + secrets.token_hex(3)


@pytest.fixture
def backend(request: pytest.FixtureRequest) -> str:
    """The backend of this test's parametrisation: "sqlite", "postgresql" or "mariadb"."""
    return str(request.param)


@pytest.fixture
def db_url(request: pytest.FixtureRequest, backend: str, tmp_path: Path) -> Iterator[str]:
    """A fresh empty database for this test (see the module docstring); dropped afterwards."""
    name = _db_name(request.node.name)
    if backend == "sqlite":
        path = tmp_path / f"{name}.sqlite3"
        yield f"sqlite:///{path}"
        for suffix in ("", "-wal", "-shm", "-journal"):
            Path(f"{path}{suffix}").unlink(missing_ok=True)
        return
    server: PostgresServer | MariaDBServer = request.getfixturevalue(
        "pg_server" if backend == "postgresql" else "mariadb_server"
    )
    try:
        server.start()  # no-op unless an earlier test left it stopped
        url = server.create_database(name)
    except Exception as exc:  # noqa: BLE001 - reported as the skip/fail reason
        unavailable(LABELS[backend], f"cannot create database {name}: {exc}")
    yield url
    server.start()
    server.drop_database(name)


@pytest.fixture
def migrated_db_url(db_url: str) -> str:
    """``db_url`` with every Alembic head applied (``etl.db.migrate.upgrade``)."""
    from etl.db.migrate import upgrade  # lazily: the harness predates the schema

    upgrade(db_url)
    return db_url


@pytest.fixture
def migrated_engine(migrated_db_url: str) -> Iterator[Any]:
    """An engine on ``migrated_db_url``, disposed afterwards."""
    from etl.db.engine import make_engine

    engine = make_engine(migrated_db_url)
    yield engine
    engine.dispose()


# --- simulator ----------------------------------------------------------------------------------------------------


@pytest.fixture
def api_key() -> str:
    """The simulator account's API key; the leak check fails any test that lets it into logs or output."""
    return TEST_API_KEY


@pytest.fixture
def simulator() -> Iterator[Any]:
    """A fresh simulator account served on a free loopback port; stopped afterwards."""
    from etl.simulator import (  # lazily: written alongside the harness
        Simulator,
        SimulatorServer,
    )

    server = SimulatorServer(Simulator(api_key=TEST_API_KEY))
    server.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def invoke(migrated_db_url: str, simulator: Any, api_key: str, tmp_path: Path) -> Callable[..., Any]:
    """``invoke("sync", "--once")``: the real CLI in process (click's runner) against the simulator and the
    migrated test database, one API attempt, an empty config file; ``input=`` what a prompt reads."""
    from click.testing import CliRunner

    from etl.cli import cli

    env = {
        "SMSPARTNER_ETL__DATABASE__URL": migrated_db_url,
        "SMSPARTNER_ETL__API__BASE_URL": simulator.base_url,
        "SMSPARTNER_ETL__API__MAX_ATTEMPTS": "1",
        "SMSPARTNER_ETL__API__READ_TIMEOUT": "2",
        "SMSPARTNER_API_KEY": api_key,
        "SMSPARTNER_ETL_CONFIG": str(tmp_path / "config.toml"),
    }
    (tmp_path / "config.toml").write_text("")

    def run(*args: str, input: str | None = None) -> Any:  # noqa: A002 - click's name for it
        return CliRunner().invoke(cli, list(args), env=env, input=input, catch_exceptions=False)

    return run
