"""Throwaway database servers for the test suite: ``PostgresServer`` and ``MariaDBServer``.

One server of each kind per pytest process (so one per xdist worker): see ``tests/conftest.py`` for why.
Usable outside pytest too (``scripts/with_servers.py`` starts them for ``make bench``).
"""

import re

from ._base import ServerUnavailable, ThrowawayServer, free_port, reap_stale
from .mariadb import MariaDBServer
from .postgres import PostgresServer

# The simulator account's key in tests. It must never reach a log: harness.leakcheck fails any test where it does.
TEST_API_KEY = "sim-test-key-not-secret"

# The compliance hash key in tests (etl/compliance/hashing.py): never in a log, row or output; leakcheck searches it too.
TEST_HASH_KEY = "sim-hash-key-not-secret"

# Every sub-account key the simulator makes (etl/simulator/accounts.py KEY_PREFIX + hex): leakcheck searches for any.
SUBACCOUNT_KEY_PATTERN = re.compile(r"sim-sub-[0-9a-f]{16,}", re.IGNORECASE)

__all__ = [
    "SUBACCOUNT_KEY_PATTERN",
    "TEST_API_KEY",
    "TEST_HASH_KEY",
    "MariaDBServer",
    "PostgresServer",
    "ServerUnavailable",
    "ThrowawayServer",
    "free_port",
    "reap_stale",
]
