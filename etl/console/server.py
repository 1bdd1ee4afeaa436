"""uvicorn around the console: in the foreground (`smspartner-etl console`) or in a thread of the daemon."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from datetime import datetime

import uvicorn
from sqlalchemy import Engine

from etl.clock import utcnow
from etl.config import Config

log = logging.getLogger(__name__)


def uvicorn_config(config: Config, engine: Engine, *, host: str | None = None, port: int | None = None,
                   now: Callable[[], datetime] = utcnow) -> uvicorn.Config:
    from etl.console.app import build

    cfg = config.console
    return uvicorn.Config(
        build(config, engine, now=now), host=host or cfg.host, port=cfg.port if port is None else port,
        log_level="warning", access_log=False, server_header=False, lifespan="off",
        proxy_headers=bool(cfg.forwarded_allow_ips), forwarded_allow_ips=list(cfg.forwarded_allow_ips) or None,
    )


class ConsoleServer:
    """The console in a daemon thread, as the daemon runs it beside the scheduler."""

    def __init__(self, config: Config, engine: Engine, now: Callable[[], datetime] = utcnow) -> None:
        self._server = uvicorn.Server(uvicorn_config(config, engine, now=now))
        self._thread: threading.Thread | None = None

    def start(self, timeout: float = 10.0) -> ConsoleServer:
        self._thread = threading.Thread(target=self._server.run, name="console-http", daemon=True)
        self._thread.start()
        deadline = time.monotonic() + timeout
        while not self._server.started and self._thread.is_alive() and time.monotonic() < deadline:
            time.sleep(0.02)
        if not self._server.started:
            raise OSError("the console did not start listening (see the log)")
        return self

    @property
    def port(self) -> int:
        servers = self._server.servers
        return int(servers[0].sockets[0].getsockname()[1]) if servers else 0

    def stop(self) -> None:
        self._server.should_exit = True
        if self._thread is not None:
            self._thread.join(timeout=10)
