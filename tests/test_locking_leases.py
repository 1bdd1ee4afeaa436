"""``database.locks = "lease"``: the lease rows of SQLite on PostgreSQL and MariaDB too, race-safe without one writer.

The PgBouncer case itself is tests/test_locking_pgbouncer.py; here the flavour is checked on the servers directly.
"""

from __future__ import annotations

import threading
import time
from datetime import datetime, timedelta, timezone

import pytest
from sqlalchemy import Engine, select

from etl.config import DatabaseConfig
from etl.db.engine import database_engine, writer
from etl.db.schema import job_leases
from etl.errors import LockHeld
from etl.locking import NO_OWNER, job_lock, try_transaction_lock, uses_leases

pytestmark = pytest.mark.backends("postgresql", "mariadb")
T0 = datetime(2026, 1, 5, 9, 0, tzinfo=timezone.utc)


@pytest.fixture
def leases(migrated_db_url: str):  # type: ignore[no-untyped-def]
    """Two 'instances' whose job locks are lease rows."""
    a, b = (database_engine(DatabaseConfig(url=migrated_db_url, locks="lease")) for _ in range(2))
    yield a, b
    a.dispose()
    b.dispose()


def _owners(engine: Engine) -> list[str]:
    with engine.connect() as conn:
        return list(conn.execute(select(job_leases.c.owner).order_by(job_leases.c.job)).scalars())


def test_lease_locks_on_a_server_refuse_a_second_holder_and_leave_no_row(leases, backend: str) -> None:  # type: ignore[no-untyped-def]
    a, b = leases
    assert uses_leases(a)
    with job_lock(a, "stops", owner="a"):
        assert _owners(b) == ["a"]
        with pytest.raises(LockHeld, match="leased by a"):
            with job_lock(b, "stops", owner="b"):
                pytest.fail("two holders")  # pragma: no cover
    assert _owners(b) == []


def _race(engines: tuple[Engine, Engine], job: str, takers: int) -> list[str]:
    """``takers`` threads take ``job``'s lock at once, alternating engines; the owners that got it."""
    winners: list[str] = []
    barrier = threading.Barrier(takers)

    def take(i: int) -> None:
        barrier.wait()
        try:
            with job_lock(engines[i % 2], job, owner=f"t{i}", heartbeat_seconds=60):
                winners.append(f"t{i}")
                time.sleep(0.3)
        except LockHeld:
            pass

    threads = [threading.Thread(target=take, args=(i,)) for i in range(takers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return winners


def test_only_one_of_many_concurrent_lease_takers_wins(leases, backend: str) -> None:  # type: ignore[no-untyped-def]
    # No row yet: every taker inserts; the losers get a duplicate key (or, on MariaDB, a deadlock): LockHeld.
    for round_ in range(3):
        assert len(_race(leases, f"race{round_}", 6)) == 1


def test_an_expired_lease_is_taken_over_by_one_instance_only(leases, backend: str) -> None:  # type: ignore[no-untyped-def]
    a, _ = leases
    with writer(a).begin() as conn:
        conn.execute(job_leases.insert().values(job="stops", owner="dead", acquired_at=T0, expires_at=T0 + timedelta(seconds=60)))
    assert len(_race(leases, "stops", 4)) == 1


def test_a_writer_outside_the_job_is_refused_while_its_lease_runs(leases, backend: str) -> None:  # type: ignore[no-untyped-def]
    # The push receiver's STOPs (etl/push/apply.py) take the stops lock for one transaction.
    a, b = leases
    with job_lock(a, "stops", owner="a", heartbeat_seconds=60):
        with b.begin() as conn:
            assert not try_transaction_lock(conn, "stops")
    with b.begin() as conn:
        assert try_transaction_lock(conn, "stops")  # no row yet: an expired placeholder is locked
    assert _owners(b) == [NO_OWNER]
    with job_lock(a, "stops", owner="a", heartbeat_seconds=60):  # the placeholder is taken over, silently
        assert _owners(b) == ["a"]


def test_a_job_waits_for_a_writer_that_holds_its_lease_row(leases, backend: str) -> None:  # type: ignore[no-untyped-def]
    a, b = leases
    with b.begin() as conn:
        assert try_transaction_lock(conn, "stops")
    took: list[float] = []
    with b.begin() as conn:
        assert try_transaction_lock(conn, "stops")

        def job() -> None:
            with job_lock(a, "stops", owner="a", heartbeat_seconds=60):
                took.append(time.monotonic())

        thread = threading.Thread(target=job)
        thread.start()
        time.sleep(0.5)
        assert took == []  # the row is locked by this transaction
        released = time.monotonic()
    thread.join(10)
    assert took and took[0] >= released
