"""Behind PgBouncer in transaction mode: session advisory locks stop excluding, ``database.locks = "lease"`` works.

A real ``pgbouncer`` (tests/harness/pgbouncer.py) in front of this worker's PostgreSQL; skipped without the binary
locally, failed under ``CI=true`` (`make test` installs it: scripts/deps-test.sh). docs/operations.md, "PgBouncer".
"""

from __future__ import annotations

import threading
from collections.abc import Iterator

import pytest
from harness import PostgresServer, ServerUnavailable
from harness.availability import unavailable
from harness.pgbouncer import PgBouncer
from sqlalchemy import Engine, func, select

from etl.config import DatabaseConfig
from etl.db.engine import database_engine, make_engine
from etl.db.schema import job_leases, sync_runs
from etl.errors import LockHeld
from etl.locking import job_lock
from etl.runner import RunReport, run_job
from tests.jobs.helpers import make_client, make_config

pytestmark = pytest.mark.backends("postgresql")


@pytest.fixture
def bouncer(pg_server: PostgresServer, migrated_db_url: str) -> Iterator[tuple[PgBouncer, str]]:
    """PgBouncer (transaction pooling, 4 server connections) and the test database's URL through it."""
    pooler = PgBouncer(pg_server)
    try:
        pooler.start()
    except (ServerUnavailable, OSError) as exc:
        pooler.close()
        unavailable("PgBouncer", str(exc))
    try:
        yield pooler, pooler.url(migrated_db_url.rsplit("/", 1)[1])
    finally:
        pooler.close()


def _lease_engine(url: str) -> Engine:
    return database_engine(DatabaseConfig(url=url, locks="lease", prepared_statements=False))


def test_session_advisory_locks_through_pgbouncer_let_a_second_instance_in(backend: str, bouncer) -> None:  # type: ignore[no-untyped-def]
    # Why the switch exists: the lock belongs to whichever server connection ran pg_try_advisory_lock; the
    # second instance's statement is handed that same idle server connection, and a session lock is re-entrant.
    _, url = bouncer
    a, b = make_engine(url, prepared_statements=False), make_engine(url, prepared_statements=False)
    try:
        with job_lock(a, "stops", owner="a", heartbeat_seconds=60):
            with job_lock(b, "stops", owner="b", heartbeat_seconds=60):
                pass  # both "hold" it: nothing excludes them any more
    finally:
        a.dispose()
        b.dispose()


def test_lease_locks_through_pgbouncer_refuse_a_second_instance(backend: str, bouncer) -> None:  # type: ignore[no-untyped-def]
    _, url = bouncer
    a, b = _lease_engine(url), _lease_engine(url)
    try:
        with job_lock(a, "stops", owner="a", heartbeat_seconds=60):
            with pytest.raises(LockHeld, match="leased by a"):
                with job_lock(b, "stops", owner="b", heartbeat_seconds=60):
                    pytest.fail("two holders")  # pragma: no cover
        with job_lock(b, "stops", owner="b", heartbeat_seconds=60) as lock:
            assert not lock.lost
    finally:
        a.dispose()
        b.dispose()


def test_two_jobs_run_through_pgbouncer_with_lease_locks_and_no_prepared_statements(
    backend: str, bouncer, simulator  # type: ignore[no-untyped-def]
) -> None:
    _, url = bouncer
    for n in range(30):
        simulator.sim.add_stop(f"+3361234{n:04d}")
    config = make_config(url, simulator.base_url, database=DatabaseConfig(url=url, locks="lease", prepared_statements=False))
    engine, other = _lease_engine(url), _lease_engine(url)
    reports: list[RunReport] = []

    def run(name: str) -> None:
        for _ in range(3):  # more than psycopg's prepare threshold of 5 statements of a kind per connection, in all
            reports.append(run_job(name, config=config, client=make_client(simulator.base_url), engine=engine))

    try:
        with job_lock(other, "stops", owner="other-instance", heartbeat_seconds=60):
            held = run_job("stops", config=config, client=make_client(simulator.base_url), engine=engine)
        threads = [threading.Thread(target=run, args=(name,)) for name in ("stops", "statuses")]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        with engine.connect() as conn:
            outcomes = sorted(conn.execute(select(sync_runs.c.job, sync_runs.c.outcome)).all())
            live = conn.execute(select(func.count()).select_from(job_leases).where(job_leases.c.owner != "(free)")).scalar()
    finally:
        engine.dispose()
        other.dispose()
    assert (held.outcome, held.error) == ("skipped", "locked")
    assert [r.error for r in reports if not r.ok] == []
    assert outcomes == [("statuses", "success")] * 3 + [("stops", "success")] * 3
    assert live == 0  # every lease given back


@pytest.mark.parametrize("prepared", [True, False], ids=["prepared", "unprepared"])
def test_prepared_statements_collide_through_pgbouncer_unless_switched_off(backend: str, bouncer, prepared: bool) -> None:  # type: ignore[no-untyped-def]
    # psycopg prepares a statement on its 5th run on a connection, under a name per client connection
    # (_pg3_0, ...); PgBouncer 1.18 hands the next transaction another client's server connection, where that name exists.
    from sqlalchemy import text
    from sqlalchemy.exc import ProgrammingError

    pooler, url = bouncer
    if prepared and pooler.version >= (1, 21):
        pytest.skip(f"PgBouncer {pooler.version} follows prepared statements (max_prepared_statements)")
    engines = [make_engine(url, prepared_statements=prepared) for _ in range(6)]
    conns = [engine.connect() for engine in engines]

    def interleave() -> None:
        for i in range(8):
            for k, conn in enumerate(conns):
                conn.execute(text("SELECT :a + 1"), {"a": i})
                conn.execute(text(f"SELECT {k} + :a"), {"a": i})
                conn.commit()

    try:
        if prepared:
            with pytest.raises(ProgrammingError, match="prepared statement"):
                interleave()
        else:
            interleave()
    finally:
        for conn in conns:
            conn.close()
        for engine in engines:
            engine.dispose()


def test_db_upgrade_through_pgbouncer_waits_for_a_migration_held_elsewhere_then_migrates(
    backend: str, pg_server: PostgresServer, db_url: str
) -> None:
    # The migration lock is a transaction lock taken by the migration's own transaction: it holds through the
    # pooler, and it conflicts with the session lock of the same key (another host migrating, an older version).
    import psycopg

    from etl.db.migrate import current_heads, database_revisions, upgrade
    from etl.locking import MIGRATE, advisory_key

    pooler = PgBouncer(pg_server)
    try:
        pooler.start()
    except (ServerUnavailable, OSError) as exc:
        pooler.close()
        unavailable("PgBouncer", str(exc))
    name = db_url.rsplit("/", 1)[1]
    failures: list[BaseException] = []

    def migrate() -> None:
        try:
            upgrade(pooler.url(name))
        except BaseException as exc:  # noqa: BLE001 - reported below
            failures.append(exc)

    try:
        with psycopg.connect(host=pg_server.host, port=pg_server.port, user="postgres", dbname=name, autocommit=True) as other:
            other.execute("SELECT pg_advisory_lock(%s)", (advisory_key(MIGRATE),))
            thread = threading.Thread(target=migrate)
            thread.start()
            thread.join(1.5)
            assert thread.is_alive()  # waiting for the lock
            other.execute("SELECT pg_advisory_unlock(%s)", (advisory_key(MIGRATE),))
        thread.join(120)
        engine = make_engine(db_url, pool=False)
        try:
            assert not failures and database_revisions(engine) == current_heads()
        finally:
            engine.dispose()
        assert pg_server.execute("SELECT count(*) FROM pg_locks WHERE locktype = 'advisory'") == [(0,)]
    finally:
        pooler.close()
