"""Helpers every benchmark shares: fresh databases and measured child processes.

Benchmarks run as scripts (``python bench/x.py``), so they import this as ``_shared`` from their
own directory.
"""

from __future__ import annotations

import json
import os
import subprocess
import threading
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "bench" / "out"


def fresh_database(kind: str, name: str) -> str:
    """An empty database ``name``: a SQLite file under bench/out, or one on ``$SMSETL_POSTGRESQL_URL``'s server."""
    if kind == "sqlite":
        OUT.mkdir(parents=True, exist_ok=True)
        for leftover in OUT.glob(f"{name}*"):  # -wal/-shm, and dlt's attached <name>__<dataset> files
            leftover.unlink()
        return f"sqlite:///{OUT / f'{name}.sqlite3'}"
    import psycopg
    from sqlalchemy.engine import make_url

    url = make_url(os.environ["SMSETL_POSTGRESQL_URL"])
    with psycopg.connect(host=url.host, port=url.port, user=url.username, dbname="postgres", autocommit=True) as admin:
        admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.execute(f'CREATE DATABASE "{name}"')
    return url.set(database=name).render_as_string(hide_password=False)


def reuse_database(kind: str, name: str) -> str:
    """The URL of database ``name`` as `fresh_database` made it (and a run filled it), without emptying it."""
    if kind == "sqlite":
        path = OUT / f"{name}.sqlite3"
        if not path.exists():
            raise SystemExit(f"{path}: no such database to reuse")
        return f"sqlite:///{path}"
    from sqlalchemy.engine import make_url

    return make_url(os.environ["SMSETL_POSTGRESQL_URL"]).set(database=name).render_as_string(hide_password=False)


def measure(
    argv: list[str], *, env: dict[str, str] | None = None, timeout: float | None = None, json_result: bool = True
) -> dict[str, Any]:
    """Run one child; its last stdout line (JSON) plus wall time and its own peak RSS (``wait4``).

    The wait blocks (no polling: a 0.2 s poll made every wall time up to 0.2 s long); a timer
    kills the child past ``timeout``, and ``{"killed": True}`` is returned with the figures so far.
    Its stdout is drained meanwhile, so a chatty child never blocks on a full pipe.
    """
    started = time.perf_counter()
    # A command's own logs (stderr) are not figures: dropped for an operator-style run.
    child = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=None if json_result else subprocess.DEVNULL, cwd=ROOT,
                             env={**os.environ, **(env or {})})
    chunks: list[bytes] = []
    reader = threading.Thread(target=lambda: chunks.extend(iter(lambda: child.stdout.read(65536), b"")), daemon=True)
    reader.start()
    killed = threading.Event()

    def kill() -> None:
        killed.set()
        child.kill()

    killer = threading.Timer(timeout, kill) if timeout is not None else None
    if killer is not None:
        killer.start()
    _pid, status, usage = os.wait4(child.pid, 0)
    seconds = time.perf_counter() - started
    child.returncode = os.waitstatus_to_exitcode(status)  # reaped here: keep Popen from waiting again
    if killer is not None:
        killer.cancel()
    reader.join(10)
    figures = {"seconds": seconds, "rss_mb": usage.ru_maxrss / 1024}
    if killed.is_set():
        return {**figures, "killed": True}
    output = b"".join(chunks).decode()
    if status != 0:
        raise SystemExit(f"{' '.join(argv[1:4])} failed (status {status}):\n{output}")
    if not json_result:  # a command run as an operator runs it: its output lines, not a JSON line
        return {**figures, "lines": output.splitlines()}
    result = json.loads(output.strip().splitlines()[-1]) if output.strip() else {}
    result.update(figures)
    return result
