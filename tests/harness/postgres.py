"""A throwaway PostgreSQL server for the test session (lifecycle and traps: see ``_base``).

``initdb -A trust -U postgres`` in a private dir under /tmp, then ``postgres`` in the foreground as our child, on a
free loopback port with its unix socket in the same private dir, and durability switched off (fsync,
synchronous_commit, full_page_writes): a crash loses the data, which is the point of a throwaway server.

As root, both run as the ``smsetl-test`` system user (PostgreSQL refuses root). Binaries are looked up in
``$SMSETL_PG_BINDIR``, then the newest ``/usr/lib/postgresql/*/bin`` (Debian keeps them off PATH), then PATH.
"""

from __future__ import annotations

import glob
import os
import re
import shutil
import signal
import subprocess
from pathlib import Path

from ._base import (
    ServerUnavailable,
    ThrowawayServer,
    ensure_unprivileged_user,
    is_root,
    popen_kwargs,
    tail,
)

_SAFE_NAME = re.compile(r"^[a-z_][a-z0-9_]{0,62}$")


def find_bindir() -> Path:
    """The directory holding ``initdb`` and ``postgres``."""
    explicit = os.environ.get("SMSETL_PG_BINDIR")
    if explicit:
        candidates = [explicit]  # explicit means only this one: a typo must not silently pick another version
    else:

        def version(path: str) -> tuple[int, ...]:
            return tuple(int(p) for p in re.findall(r"\d+", Path(path).parent.name))

        candidates = sorted(glob.glob("/usr/lib/postgresql/*/bin"), key=version, reverse=True)
        on_path = shutil.which("initdb")
        if on_path:
            candidates.append(str(Path(on_path).parent))
    for cand in candidates:
        if (Path(cand) / "initdb").is_file() and (Path(cand) / "postgres").is_file():
            return Path(cand)
    raise ServerUnavailable("initdb/postgres not found (install postgresql, or set SMSETL_PG_BINDIR)")


class PostgresServer(ThrowawayServer):
    """A PostgreSQL server on 127.0.0.1:``port``; superuser ``postgres``, no password (trust)."""

    kind = "pg"
    _stop_signal = signal.SIGINT  # "fast" shutdown: disconnects clients; SIGTERM ("smart") would wait for them

    def __init__(self, durable: bool = False) -> None:
        """``durable=True`` keeps fsync and friends on (for benchmarks whose figures should mean something)."""
        super().__init__()
        self.bindir: Path | None = None
        self.durable = durable

    # --- URLs and databases -------------------------------------------------------------------------------------
    @property
    def admin_url(self) -> str:
        """SQLAlchemy URL of the maintenance database ``postgres``."""
        return self.url("postgres")

    def url(self, dbname: str) -> str:
        return f"postgresql+psycopg://postgres@{self.host}:{self.port}/{dbname}"

    def _connect(self, dbname: str = "postgres", timeout: int = 5):  # type: ignore[no-untyped-def]
        import psycopg

        return psycopg.connect(
            host=self.host, port=self.port, user="postgres", dbname=dbname, connect_timeout=timeout, autocommit=True
        )

    def execute(self, sql: str, params: tuple[object, ...] = ()) -> list[tuple[object, ...]]:
        """Run one statement on the maintenance database (autocommit) and return its rows, if any."""
        with self._connect() as conn:
            cur = conn.execute(sql, params)  # type: ignore[arg-type]
            return list(cur.fetchall()) if cur.description else []

    def create_database(self, name: str) -> str:
        """Create database ``name`` and return its URL."""
        _check_name(name)
        self.execute(f'CREATE DATABASE "{name}"')
        return self.url(name)

    def drop_database(self, name: str) -> None:
        """Drop ``name``, first terminating the connections a test left open (pools, leaked engines)."""
        _check_name(name)
        self.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %s AND pid <> pg_backend_pid()",
            (name,),
        )
        self.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')

    # --- ThrowawayServer ----------------------------------------------------------------------------------------
    def _check_binaries(self) -> None:
        self.bindir = find_bindir()
        if is_root():
            self._run_as = ensure_unprivileged_user()

    def _init_datadir(self) -> None:
        assert self.base is not None and self.bindir is not None
        proc = subprocess.run(
            [
                str(self.bindir / "initdb"),
                "-D", str(self.base / "data"),
                "-A", "trust",
                "-U", "postgres",
                "-E", "UTF8",
                "--no-locale",
                "--no-sync",
            ],
            cwd=self.base,
            capture_output=True,
            text=True,
            check=False,
            **popen_kwargs(self._run_as),  # type: ignore[arg-type]
        )
        if proc.returncode != 0:
            raise ServerUnavailable(f"initdb failed ({proc.returncode}): {proc.stderr.strip()[-2000:]}")

    def _command(self) -> list[str]:
        assert self.base is not None and self.bindir is not None
        settings = {
            "listen_addresses": self.host,
            "port": str(self.port),
            "unix_socket_directories": str(self.base),
            "max_connections": "100",
            "log_min_messages": "warning",
            "logging_collector": "off",
        }
        if not self.durable:
            settings.update(fsync="off", synchronous_commit="off", full_page_writes="off")
        cmd = [str(self.bindir / "postgres"), "-D", str(self.base / "data")]
        for key, value in settings.items():
            cmd += ["-c", f"{key}={value}"]
        return cmd

    def _ping(self) -> bool:
        try:
            with self._connect(timeout=1) as conn:
                conn.execute("SELECT 1")
            return True
        except Exception:  # noqa: BLE001 - any failure just means "not yet"
            return False

    def log_tail(self) -> str:
        return tail(self.base / "server.log") if self.base else ""


def _check_name(name: str) -> None:
    # Names go into SQL unquoted-by-parameter (DDL cannot take parameters): allow only plain identifiers.
    if not _SAFE_NAME.match(name):
        raise ValueError(f"unsafe database name {name!r}")


__all__ = ["PostgresServer", "ServerUnavailable", "find_bindir"]
