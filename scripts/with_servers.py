"""Run a command with throwaway database servers (the test harness's), then stop and remove them.

    python scripts/with_servers.py [--postgresql] [--mariadb] -- COMMAND [ARG...]

For each server asked for, a database ``smsetl`` is created and its SQLAlchemy URL exported to the command as
``SMSETL_POSTGRESQL_URL`` / ``SMSETL_MARIADB_URL``. ``make bench`` uses it so the benchmark needs no running server.
Servers keep their durable defaults (fsync on) unless ``--fast``, so benchmark figures mean something.
Exits with the command's status; a server that cannot be started is reported and its variable left unset.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

from harness import MariaDBServer, PostgresServer, ServerUnavailable, ThrowawayServer


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--postgresql", action="store_true")
    parser.add_argument("--mariadb", action="store_true")
    parser.add_argument("--fast", action="store_true", help="fsync off, as in the tests (default: durable settings)")
    parser.add_argument("command", nargs=argparse.REMAINDER)
    args = parser.parse_args(argv)
    command = args.command[1:] if args.command[:1] == ["--"] else args.command
    if not command:
        parser.error("no command given")

    env = dict(os.environ)
    servers: list[ThrowawayServer] = []
    try:
        for wanted, server, var in (
            (args.postgresql, PostgresServer(durable=not args.fast), "SMSETL_POSTGRESQL_URL"),
            (args.mariadb, MariaDBServer(durable=not args.fast), "SMSETL_MARIADB_URL"),
        ):
            if not wanted:
                continue
            servers.append(server)
            t0 = time.monotonic()
            try:
                server.start()
                env[var] = server.create_database("smsetl")  # type: ignore[attr-defined]
            except ServerUnavailable as exc:
                print(f"with_servers: {server.kind} unavailable: {exc}", file=sys.stderr)
                continue
            print(f"with_servers: {server.kind} ready in {time.monotonic() - t0:.2f}s: {var}={env[var]}", file=sys.stderr)
        return subprocess.call(command, env=env)
    finally:
        for server in servers:
            server.close()


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
