"""etl.locking: one holder per job and database, on every backend; SQLite leases expire and renew."""

from __future__ import annotations

import subprocess
import sys
import threading
import time
from datetime import datetime, timedelta, timezone

import pytest
from sqlalchemy import select

from etl.db.engine import make_engine
from etl.db.schema import job_leases
from etl.errors import LockHeld
from etl.locking import advisory_key, job_lock, mysql_lock_name

T0 = datetime(2026, 1, 5, 9, 0, tzinfo=timezone.utc)


class FakeClock:
    def __init__(self, at: datetime = T0) -> None:
        self.at = at

    def __call__(self) -> datetime:
        return self.at

    def advance(self, seconds: float) -> None:
        self.at += timedelta(seconds=seconds)


@pytest.fixture
def engines(migrated_db_url: str):  # type: ignore[no-untyped-def]
    """Two engines on one database: two 'instances', each with its own connections."""
    a, b = make_engine(migrated_db_url), make_engine(migrated_db_url)
    yield a, b
    a.dispose()
    b.dispose()


def test_second_holder_is_refused_while_the_first_holds_the_lock(engines) -> None:  # type: ignore[no-untyped-def]
    a, b = engines
    with job_lock(a, "stops", owner="a"):
        with pytest.raises(LockHeld):
            with job_lock(b, "stops", owner="b"):
                pytest.fail("two holders")  # pragma: no cover
    with job_lock(b, "stops", owner="b") as lock:
        assert not lock.lost


def test_lock_is_released_when_the_block_raises(engines) -> None:  # type: ignore[no-untyped-def]
    a, b = engines
    with pytest.raises(RuntimeError):
        with job_lock(a, "stops", owner="a"):
            raise RuntimeError("job blew up")
    with job_lock(b, "stops", owner="b"):
        pass


def test_different_jobs_do_not_block_each_other(engines) -> None:  # type: ignore[no-untyped-def]
    a, b = engines
    # Taking the second lock would raise LockHeld if the two jobs shared one.
    with job_lock(a, "stops", owner="a") as stops, job_lock(b, "statuses", owner="b") as statuses:
        assert not stops.lost and not statuses.lost


def test_only_one_of_many_concurrent_takers_wins(engines) -> None:  # type: ignore[no-untyped-def]
    a, b = engines
    winners: list[int] = []
    barrier = threading.Barrier(6)

    def take(i: int) -> None:
        engine = a if i % 2 else b
        barrier.wait()
        try:
            with job_lock(engine, "race", owner=f"t{i}"):
                winners.append(i)
                time.sleep(0.5)
        except LockHeld:
            pass

    threads = [threading.Thread(target=take, args=(i,)) for i in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(winners) == 1


@pytest.mark.backends("sqlite")
def test_expired_lease_of_a_dead_holder_is_taken_over(engines, backend: str) -> None:  # type: ignore[no-untyped-def]
    a, b = engines
    clock = FakeClock()
    held = job_lock(a, "stops", owner="dead", lease_seconds=60, now=clock, heartbeat_seconds=3600)
    held.__enter__()  # a holder that never exits: as if SIGKILLed
    with pytest.raises(LockHeld):
        with job_lock(b, "stops", owner="b", lease_seconds=60, now=clock):
            pass
    clock.advance(61)
    with job_lock(b, "stops", owner="b", lease_seconds=60, now=clock):
        with b.connect() as conn:
            assert conn.execute(select(job_leases.c.owner)).scalar_one() == "b"
    with b.connect() as conn:
        assert conn.execute(select(job_leases)).all() == []


@pytest.mark.backends("sqlite")
def test_heartbeat_renews_the_lease_of_a_long_run(engines, backend: str) -> None:  # type: ignore[no-untyped-def]
    a, b = engines
    clock = FakeClock()
    with job_lock(a, "stops", owner="a", lease_seconds=60, now=clock, heartbeat_seconds=0.05) as lock:
        clock.advance(50)
        time.sleep(0.3)  # a few heartbeats at t0+50: expiry moves to t0+110
        clock.advance(50)  # t0+100: past the first expiry, inside the renewed one
        with pytest.raises(LockHeld):
            with job_lock(b, "stops", owner="b", lease_seconds=60, now=clock):
                pass
        assert not lock.lost


@pytest.mark.backends("sqlite")
def test_holder_whose_lease_was_taken_over_sees_it_lost(engines, backend: str) -> None:  # type: ignore[no-untyped-def]
    a, b = engines
    clock = FakeClock()
    with job_lock(a, "stops", owner="a", lease_seconds=60, now=clock, heartbeat_seconds=3600) as stalled:
        clock.advance(61)
        with job_lock(b, "stops", owner="b", lease_seconds=60, now=clock, heartbeat_seconds=3600):
            stalled._mark_lost("test")  # what its heartbeat finds: renew_lease() -> False
            assert stalled.lost
        # 'a' leaving must not delete the lease 'b' took (release is by owner).


HOLDER = """
import sys, time
from etl.db.engine import make_engine
from etl.locking import job_lock
with job_lock(make_engine(sys.argv[1]), "stops", owner="child", lease_seconds=float(sys.argv[2])):
    print("locked", flush=True)
    time.sleep(600)
"""


def _sigkilled_holder(url: str, lease: float) -> None:
    """A separate process takes the lock, then dies by SIGKILL (no cleanup of any kind)."""
    proc = subprocess.Popen([sys.executable, "-c", HOLDER, url, str(lease)], stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None and proc.stdout.readline().strip() == "locked"
    finally:
        proc.kill()
        proc.wait(10)


@pytest.mark.backends("postgresql", "mariadb")
def test_lock_of_a_sigkilled_process_is_free_at_once(engines, migrated_db_url: str, backend: str) -> None:  # type: ignore[no-untyped-def]
    _, b = engines
    _sigkilled_holder(migrated_db_url, 900)
    deadline = time.monotonic() + 3  # the server notices the closed socket at once
    while True:
        try:
            with job_lock(b, "stops", owner="b"):
                break
        except LockHeld:
            assert time.monotonic() < deadline, "lock outlived its session"
            time.sleep(0.05)


@pytest.mark.backends("sqlite")
def test_lease_of_a_sigkilled_process_blocks_until_it_expires(engines, migrated_db_url: str, backend: str) -> None:  # type: ignore[no-untyped-def]
    _, b = engines
    _sigkilled_holder(migrated_db_url, 1.5)
    killed_at = time.monotonic()
    with pytest.raises(LockHeld):
        with job_lock(b, "stops", owner="b"):
            pass
    while True:
        try:
            with job_lock(b, "stops", owner="b"):
                break
        except LockHeld:
            time.sleep(0.05)
    assert 0.3 < time.monotonic() - killed_at < 3


def test_lock_keys_are_stable_and_scoped() -> None:
    assert advisory_key("stops") == advisory_key("stops") != advisory_key("statuses")
    assert -(2**63) <= advisory_key("stops") < 2**63
    assert mysql_lock_name("db1", "stops") != mysql_lock_name("db2", "stops")
    assert len(mysql_lock_name("x" * 64, "stops")) <= 64
