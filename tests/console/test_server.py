"""The console over a real socket: alone (`ConsoleServer`, what browser tests use) and inside the daemon."""

from __future__ import annotations

import dataclasses
import urllib.error
import urllib.request

import pytest

from etl.config_console import ConsoleConfig
from etl.console.server import ConsoleServer
from etl.daemon import Daemon
from etl.db.engine import make_engine
from tests.jobs.helpers import make_config


def _status(url: str) -> int:
    class NoRedirect(urllib.request.HTTPRedirectHandler):
        def redirect_request(self, *args: object, **kwargs: object) -> None:
            return None

    try:
        with urllib.request.build_opener(NoRedirect).open(url, timeout=5) as answer:
            return int(answer.status)
    except urllib.error.HTTPError as error:
        return int(error.code)


@pytest.mark.backends("sqlite")
def test_the_daemon_serves_the_console_only_when_enabled_and_stops_it(migrated_db_url: str, backend: str) -> None:
    engine = make_engine(migrated_db_url)
    config = make_config(migrated_db_url, "http://127.0.0.1:9/v1")
    assert Daemon(config, engine, client_factory=lambda key: None).start_console() is None  # type: ignore[arg-type, return-value]

    config = dataclasses.replace(config, console=ConsoleConfig(enabled=True, port=0))
    daemon = Daemon(config, engine, client_factory=lambda key: None)  # type: ignore[arg-type, return-value]
    server = daemon.start_console()
    assert server is not None
    base = f"http://127.0.0.1:{server.port}"
    assert _status(f"{base}/healthz") == 200
    assert _status(f"{base}/") == 303, "sign-in first, over a real socket too"
    daemon.stop_console()
    assert daemon.console_server is None
    engine.dispose()


@pytest.mark.backends("sqlite")
def test_a_console_server_on_port_0_says_which_port_it_took(migrated_db_url: str, backend: str) -> None:
    engine = make_engine(migrated_db_url)
    config = dataclasses.replace(make_config(migrated_db_url, "http://127.0.0.1:9/v1"), console=ConsoleConfig(port=0))
    server = ConsoleServer(config, engine).start()
    try:
        assert server.port > 0
        assert _status(f"http://127.0.0.1:{server.port}/login") == 200
    finally:
        server.stop()
        engine.dispose()
