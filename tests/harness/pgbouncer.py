"""A throwaway PgBouncer in transaction pooling mode in front of the session's PostgreSQL (docs/operations.md, "PgBouncer").

``PgBouncer(pg).start()`` writes an ini into a private dir, starts ``pgbouncer`` in the foreground as our child (as
the ``smsetl-test`` user when root: pgbouncer refuses to run as root) on a free loopback port, and waits until it
answers. Every database of the server is reachable through it by name (``* =`` in ``[databases]``), as the same
``postgres`` user, no password (``auth_type = any``). ``pool_mode = transaction`` is the point: each transaction may
run on a different server connection, which is what breaks session state (advisory locks, prepared statements).
``default_pool_size`` is small (4), so several clients do share server connections.
"""

from __future__ import annotations

import shutil
from pathlib import Path

from ._base import ServerUnavailable, ThrowawayServer, ensure_unprivileged_user, is_root, tail
from .postgres import PostgresServer


def find_pgbouncer() -> str:
    found = shutil.which("pgbouncer") or ("/usr/sbin/pgbouncer" if Path("/usr/sbin/pgbouncer").is_file() else None)
    if found is None:
        raise ServerUnavailable("pgbouncer not found (apt-get install pgbouncer)")
    return found


class PgBouncer(ThrowawayServer):
    """PgBouncer on 127.0.0.1:``port``, transaction pooling, in front of ``postgres``."""

    kind = "pgbouncer"
    ready_timeout = 20.0

    def __init__(self, postgres: PostgresServer, pool_size: int = 4) -> None:
        super().__init__()
        self.postgres = postgres
        self.pool_size = pool_size
        self.binary = ""
        #: ``(1, 18)``: from ``pgbouncer --version``; 1.21 and later can follow prepared statements.
        self.version: tuple[int, ...] = ()

    def url(self, dbname: str) -> str:
        """The SQLAlchemy URL of ``dbname`` through the pooler."""
        return f"postgresql+psycopg://postgres@{self.host}:{self.port}/{dbname}"

    def _check_binaries(self) -> None:
        import re
        import subprocess

        self.binary = find_pgbouncer()
        banner = subprocess.run([self.binary, "--version"], capture_output=True, text=True, check=False).stdout
        found = re.search(r"PgBouncer (\d+)\.(\d+)", banner)
        self.version = (int(found[1]), int(found[2])) if found else ()
        if is_root():
            self._run_as = ensure_unprivileged_user()

    def _init_datadir(self) -> None:
        assert self.base is not None

    def _command(self) -> list[str]:
        assert self.base is not None
        ini = self.base / "pgbouncer.ini"
        ini.write_text(
            "[databases]\n"
            f"* = host={self.postgres.host} port={self.postgres.port} user=postgres\n"
            "[pgbouncer]\n"
            f"listen_addr = {self.host}\n"
            f"listen_port = {self.port}\n"
            "unix_socket_dir =\n"
            "auth_type = any\n"
            "pool_mode = transaction\n"
            f"default_pool_size = {self.pool_size}\n"
            "max_client_conn = 200\n"
            # psycopg sends none of these today; libpq clients with `options` would be refused without it.
            "ignore_startup_parameters = extra_float_digits,options\n"
            f"logfile = {self.base / 'pgbouncer.log'}\n"
            f"pidfile = {self.base / 'pgbouncer.pid'}\n"
        )
        if self._run_as is not None:
            import os

            os.chown(ini, self._run_as.pw_uid, self._run_as.pw_gid)
        return [self.binary, str(ini)]

    def _ping(self) -> bool:
        import psycopg

        try:
            with psycopg.connect(host=self.host, port=self.port, user="postgres", dbname="postgres",
                                 connect_timeout=1, autocommit=True) as conn:
                conn.execute("SELECT 1")
            return True
        except Exception:  # noqa: BLE001 - any failure just means "not yet"
            return False

    def log_tail(self) -> str:
        return tail(self.base / "pgbouncer.log") if self.base else ""


__all__ = ["PgBouncer", "find_pgbouncer"]
