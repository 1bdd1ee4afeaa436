"""Real daemon processes for the tests: a TOML config, `smspartner-etl run` in a subprocess, its log."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from harness import TEST_API_KEY
from harness._base import free_port
from sqlalchemy import text

from etl.db.engine import make_engine

ENTRY = Path(sys.executable).with_name("smspartner-etl")


def write_config(
    path: Path,
    db_url: str,
    base_url: str,
    *,
    every: float = 1.0,
    lease: float = 10.0,
    staleness: float = 3600.0,
    shutdown_timeout: float = 10.0,
    health_port: int = 0,
    jitter: float = 0.0,
    instance: str = "",
    read_url: str = "",
    job: str = "stops",
    extra: str = "",
) -> Path:
    """A daemon config running ``job`` every ``every`` seconds; ``extra``: more TOML (its own tables)."""
    path.write_text(
        f"""
[api]
base_url = "{base_url}"
max_attempts = 1
read_timeout = 60
[database]
url = "{db_url}"
read_url = "{read_url}"
[jobs.{job}]
every = {every}
staleness = {staleness}
[daemon]
log_format = "json"
lease = {lease}
jitter = {jitter}
shutdown_timeout = {shutdown_timeout}
health_port = {health_port}
instance = "{instance}"
{extra}
"""
    )
    return path


@dataclass
class DaemonProcess:
    proc: subprocess.Popen[bytes]
    log_path: Path
    health_port: int

    def log_lines(self) -> list[dict[str, Any]]:
        lines = []
        for raw in self.log_path.read_text(errors="replace").splitlines():
            try:
                lines.append(json.loads(raw))
            except ValueError:
                lines.append({"msg": raw})
        return lines

    def log_text(self) -> str:
        return self.log_path.read_text(errors="replace")

    def signal(self, signum: int) -> None:
        self.proc.send_signal(signum)

    def stop(self, timeout: float = 20.0) -> int:
        """SIGTERM, wait, return the exit status (SIGKILL if it hangs: a test failure anyway)."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(10)
            raise AssertionError(f"daemon did not stop within {timeout}s; log:\n{self.log_text()[-3000:]}") from None

    def get(self, path: str) -> tuple[int, bytes]:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{self.health_port}{path}", timeout=5) as resp:
                return resp.status, resp.read()
        except urllib.error.HTTPError as err:
            return err.code, err.read()


def start_daemon(
    tmp: Path, name: str, db_url: str, base_url: str, *args: str, health: bool = False, job: str = "stops", **options: Any
) -> DaemonProcess:
    """``smspartner-etl run JOB`` in a subprocess (``job``: stops unless told), its log in ``tmp/NAME.log``."""
    port = free_port() if health else 0
    options.setdefault("instance", name)  # the metrics' instance label
    config = write_config(tmp / f"{name}.toml", db_url, base_url, health_port=port, job=job, **options)
    log_path = tmp / f"{name}.log"
    env = {k: v for k, v in os.environ.items() if not k.startswith("SMSPARTNER_ETL")}
    env["SMSPARTNER_API_KEY"] = TEST_API_KEY
    with open(log_path, "wb") as out:
        proc = subprocess.Popen(
            [str(ENTRY), "--config", str(config), "run", job, *args],
            stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT, env=env,
        )
    return DaemonProcess(proc, log_path, port)


def wait_for(condition: Callable[[], Any], timeout: float, what: str, interval: float = 0.05) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        time.sleep(interval)


@dataclass(frozen=True)
class Run:
    id: int
    started_at: datetime
    finished_at: datetime | None
    outcome: str
    pid: int | None


def runs(db_url: str, job: str = "stops") -> list[Run]:
    engine = make_engine(db_url, pool=False)
    try:
        from sqlalchemy import select

        from etl.db.schema import sync_runs as t

        with engine.connect() as conn:
            rows = conn.execute(
                select(t.c.id, t.c.started_at, t.c.finished_at, t.c.outcome, t.c.pid).where(t.c.job == job).order_by(t.c.started_at)
            ).all()
            conn.rollback()
        return [Run(*row) for row in rows]
    finally:
        engine.dispose()


def count(db_url: str, sql: str) -> int:
    engine = make_engine(db_url, pool=False)
    try:
        with engine.connect() as conn:
            value = conn.execute(text(sql)).scalar()
            conn.rollback()
        return int(value or 0)
    finally:
        engine.dispose()
