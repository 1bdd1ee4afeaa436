"""A throwaway MariaDB server for the test session (lifecycle and traps: see ``_base``).

``mariadb-install-db --no-defaults --auth-root-authentication-method=normal`` makes a data dir in a private dir
under /tmp whose ``root`` user (localhost and 127.0.0.1) has no password; then ``mariadbd --no-defaults`` runs in the
foreground as our child on a free loopback port with its socket, pid file and log in the private dir. A real root
user (not ``--skip-grant-tables``) keeps ``CREATE``/``DROP DATABASE``, ``KILL`` and ``GET_LOCK`` behaving as in
production. ``--no-defaults`` keeps /etc/mysql, /var/lib/mysql and /run/mysqld (the system's own server, if any) out.

Durability is off (``innodb_flush_log_at_trx_commit=0``, no doublewrite, no binlog): a crash loses the data, which is
the point of a throwaway server. As root, ``mariadbd`` needs ``--user=root`` (it refuses root otherwise).
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess

from ._base import ServerUnavailable, ThrowawayServer, is_root, popen_kwargs, tail

_SAFE_NAME = re.compile(r"^[a-z_][a-z0-9_]{0,63}$")
_SBIN_PATH = os.pathsep.join([os.environ.get("PATH", ""), "/usr/sbin", "/usr/local/sbin", "/sbin"])


def find_binaries() -> tuple[str, str]:
    """(server, install-db) paths: MariaDB names first, the old MySQL-compatible names as a fallback."""
    server = shutil.which("mariadbd", path=_SBIN_PATH) or shutil.which("mysqld", path=_SBIN_PATH)
    install = shutil.which("mariadb-install-db", path=_SBIN_PATH) or shutil.which("mysql_install_db", path=_SBIN_PATH)
    if not server or not install:
        raise ServerUnavailable("mariadbd/mariadb-install-db not found (install mariadb-server)")
    return server, install


class MariaDBServer(ThrowawayServer):
    """A MariaDB server on 127.0.0.1:``port``; user ``root``, no password."""

    kind = "mariadb"
    _stop_signal = signal.SIGTERM  # clean shutdown; open client connections are killed

    def __init__(self, durable: bool = False) -> None:
        """``durable=True`` keeps the server's default flushing (for benchmarks whose figures should mean something)."""
        super().__init__()
        self.server_bin = ""
        self.install_bin = ""
        self.durable = durable

    # --- URLs and databases -------------------------------------------------------------------------------------
    @property
    def admin_url(self) -> str:
        """SQLAlchemy URL without a default database."""
        return f"mariadb+pymysql://root@{self.host}:{self.port}/?charset=utf8mb4"

    def url(self, dbname: str) -> str:
        return f"mariadb+pymysql://root@{self.host}:{self.port}/{dbname}?charset=utf8mb4"

    def _connect(self, timeout: int = 5):  # type: ignore[no-untyped-def]
        import pymysql

        return pymysql.connect(
            host=self.host, port=self.port, user="root", password="", charset="utf8mb4",
            connect_timeout=timeout, autocommit=True,
        )

    def execute(self, sql: str, params: tuple[object, ...] = ()) -> list[tuple[object, ...]]:
        """Run one statement without a default database (autocommit) and return its rows, if any."""
        conn = self._connect()
        try:
            with conn.cursor() as cur:
                cur.execute("SET SESSION lock_wait_timeout = 30")  # the default is a year
                cur.execute(sql, params or None)
                return list(cur.fetchall()) if cur.description else []
        finally:
            conn.close()

    def create_database(self, name: str) -> str:
        """Create database ``name`` (utf8mb4) and return its URL."""
        _check_name(name)
        self.execute(f"CREATE DATABASE `{name}` CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci")
        return self.url(name)

    def drop_database(self, name: str) -> None:
        """Drop ``name``, first killing the connections a test left open: an open transaction on one of its tables
        holds a metadata lock that would make ``DROP DATABASE`` wait."""
        _check_name(name)
        rows = self.execute(
            "SELECT id FROM information_schema.PROCESSLIST WHERE db = %s AND id <> CONNECTION_ID()", (name,)
        )
        for (conn_id,) in rows:
            try:
                self.execute(f"KILL {int(conn_id)}")  # type: ignore[call-overload]
            except Exception:  # noqa: BLE001, S110 - it may have gone by itself meanwhile
                pass
        self.execute(f"DROP DATABASE IF EXISTS `{name}`")

    # --- ThrowawayServer ----------------------------------------------------------------------------------------
    def _check_binaries(self) -> None:
        self.server_bin, self.install_bin = find_binaries()

    def _user_args(self) -> list[str]:
        return ["--user=root"] if is_root() else []

    def _init_datadir(self) -> None:
        assert self.base is not None
        proc = subprocess.run(
            [
                self.install_bin,
                "--no-defaults",
                f"--datadir={self.base / 'data'}",
                "--auth-root-authentication-method=normal",
                "--skip-test-db",
                "--skip-name-resolve",
                *self._user_args(),
            ],
            cwd=self.base,
            capture_output=True,
            text=True,
            check=False,
            **popen_kwargs(None),  # type: ignore[arg-type]
        )
        if proc.returncode != 0:
            raise ServerUnavailable(
                f"mariadb-install-db failed ({proc.returncode}): {(proc.stdout + proc.stderr).strip()[-2000:]}"
            )

    def _command(self) -> list[str]:
        assert self.base is not None
        return [
            self.server_bin,
            "--no-defaults",
            f"--datadir={self.base / 'data'}",
            f"--socket={self.base / 'mysql.sock'}",
            f"--pid-file={self.base / 'mariadbd.pid'}",
            f"--tmpdir={self.base}",
            f"--port={self.port}",
            f"--bind-address={self.host}",
            *self._user_args(),
            "--skip-name-resolve",
            "--skip-log-bin",
            "--innodb-buffer-pool-size=64M",
            "--innodb-log-file-size=64M",
            "--character-set-server=utf8mb4",
            "--collation-server=utf8mb4_unicode_ci",
            "--max-connections=200",
            "--log-warnings=1",
            *([] if self.durable else ["--innodb-flush-log-at-trx-commit=0", "--innodb-doublewrite=0"]),
        ]

    def _ping(self) -> bool:
        try:
            conn = self._connect(timeout=1)
        except Exception:  # noqa: BLE001 - any failure just means "not yet"
            return False
        conn.close()
        return True

    def log_tail(self) -> str:
        return tail(self.base / "server.log") if self.base else ""


def _check_name(name: str) -> None:
    # DDL cannot take parameters: allow only plain identifiers.
    if not _SAFE_NAME.match(name):
        raise ValueError(f"unsafe database name {name!r}")


__all__ = ["MariaDBServer", "ServerUnavailable", "find_binaries"]
