"""One lock per job in the database, so two instances never run the same job at once.

``with job_lock(engine, "stops", owner=..., lease_seconds=900) as lock:`` takes the lock or raises
`LockHeld` at once (it never waits: the next scheduled run will try again). Per backend:

PostgreSQL
    ``pg_try_advisory_lock(key)`` on a dedicated connection kept for the whole run; ``key`` is a
    signed 64-bit number derived from the job name with SHA-256, so it is stable across versions
    and hosts. Advisory locks are scoped to the database, and belong to the session: when the
    process dies the server closes the session and the lock is gone at once.
MariaDB / MySQL
    ``GET_LOCK(name, 0)`` on a dedicated connection. Those names are server-wide, so the name
    carries the database name (two databases on one server do not block each other); names over
    64 characters are hashed. Like PostgreSQL's, the lock dies with the session.
SQLite
    No session locks across processes, so a lease row in ``job_leases`` with an expiry: taken when
    absent or expired (in one ``BEGIN IMMEDIATE`` transaction, so two takers cannot both win),
    renewed by a heartbeat thread every third of the lease while the run goes on, deleted on
    exit. A holder killed with SIGKILL blocks the job for at most ``lease_seconds``.

Leases everywhere (``database.locks = "lease"``, `etl.db.engine.make_engine`)
    The same lease rows on PostgreSQL or MariaDB, for a connection pooler in transaction mode
    (PgBouncer ``pool_mode = transaction``): there each transaction may run on another server
    connection, so a session lock is held by whichever server connection ran the ``SELECT`` and
    not by this process: a second instance handed that server connection takes it again (a session
    lock is re-entrant), the unlock may run elsewhere and leave it held (docs/operations.md,
    "PgBouncer"). The row is read ``FOR UPDATE`` and a lost race to insert it is `LockHeld`, since
    these servers do not serialise writers as SQLite does. `try_transaction_lock` then locks the
    lease row for the transaction (a placeholder row, expired, when there is none yet).

The heartbeat also checks the PostgreSQL/MariaDB connection; if the lock is lost (the lease was
taken over after a stall, the lock connection dropped) ``lock.lost`` becomes true and the runner
asks the job to stop at its next batch.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta

from sqlalchemy import Connection, Engine, delete, insert, select, text, update
from sqlalchemy.exc import DBAPIError, IntegrityError

from etl.clock import utcnow
from etl.db import backends
from etl.db.backends import mariadb, postgresql
from etl.db.engine import LOCKS_OPTION
from etl.db.schema import job_leases
from etl.errors import LockHeld

log = logging.getLogger(__name__)

#: Namespace mixed into every lock key, so our keys do not collide with another application's.
KEY_NAMESPACE = "smspartner-etl:job:"
#: The job name of the migration lock (`migration_lock`).
MIGRATE = "migrate"
#: Owner of the expired lease row `try_transaction_lock` leaves where no job held one yet.
NO_OWNER = "(free)"


def uses_leases(bind: Engine | Connection) -> bool:
    """Whether job locks on ``bind`` are lease rows: SQLite's only kind, or ``database.locks = "lease"``."""
    return bind.get_execution_options().get(LOCKS_OPTION) == "lease" or not backends.of(bind).session_locks


def default_owner() -> str:
    """``host:pid:random``: unique per process and readable in ``job_leases``."""
    return f"{socket.gethostname()[:80]}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


def lock_name(job: str) -> str:
    """The name every backend derives its lock key from (`etl.db.backends`)."""
    return KEY_NAMESPACE + job


def advisory_key(job: str) -> int:
    """PostgreSQL advisory lock key for ``job``: the first 8 bytes of SHA-256, as a signed bigint."""
    return postgresql.advisory_key(lock_name(job))


def mysql_lock_name(database: str, job: str) -> str:
    """MariaDB lock name for ``job`` in ``database`` (GET_LOCK names are server-wide, ≤ 64 chars)."""
    return mariadb.lock_name(database, lock_name(job))


class JobLock:
    """A held lock. ``lost`` turns true if the heartbeat finds it gone."""

    def __init__(self, job: str, owner: str, backend: str) -> None:
        self.job = job
        self.owner = owner
        self.backend = backend
        self._lost = threading.Event()

    @property
    def lost(self) -> bool:
        return self._lost.is_set()

    def _mark_lost(self, why: str) -> None:
        if not self._lost.is_set():
            log.error("job %s: lock lost (%s); asking the run to stop", self.job, why)
            self._lost.set()

    def __repr__(self) -> str:
        return f"JobLock(job={self.job!r}, owner={self.owner!r}, backend={self.backend!r})"


@contextmanager
def job_lock(
    engine: Engine,
    job: str,
    *,
    owner: str | None = None,
    lease_seconds: float = 900.0,
    now: Callable[[], datetime] = utcnow,
    heartbeat_seconds: float | None = None,
) -> Iterator[JobLock]:
    """Hold ``job``'s lock for the ``with`` block; `LockHeld` if another holder has it.

    ``now`` is the wall clock for lease expiry (tests pass a fake one). ``heartbeat_seconds``
    defaults to a third of the lease.
    """
    owner = owner or default_owner()
    beat = heartbeat_seconds if heartbeat_seconds is not None else max(lease_seconds / 3.0, 0.5)
    if uses_leases(engine):
        cm = _lease_lock(engine, job, owner, lease_seconds, now, beat)
    else:
        cm = _session_lock(engine, job, owner, beat)
    with cm as lock:
        yield lock


@contextmanager
def migration_lock(conn: Connection, timeout_seconds: int = 300) -> Iterator[None]:
    """Hold the database-wide migration lock on ``conn`` (committed around it), so that two instances
    starting at once cannot migrate concurrently. SQLite needs none: its writer lock serialises them."""
    backend = backends.of(conn)
    if not backend.session_locks:
        yield
        return
    if backend.waits_in_transaction(conn, lock_name(MIGRATE)):
        # Taken as the migration transaction's first statement, held to its commit or rollback (the caller's):
        # nothing lives in the session, so it holds behind PgBouncer in transaction mode too, and it conflicts
        # with the session lock of the same key an older version takes.
        yield
        return
    backend.wait_lock(conn, lock_name(MIGRATE), timeout_seconds)
    conn.commit()
    try:
        yield
    finally:
        if conn.in_transaction():
            conn.rollback()  # a failed migration's transaction, so that the unlock can run
        backend.unlock(conn, lock_name(MIGRATE))
        conn.commit()


def try_transaction_lock(conn: Connection, job: str) -> bool:
    """Take ``job``'s lock for the current transaction, without waiting; `end_transaction_lock` after it.

    For writers outside the job (the push receiver's STOPs) that must not interleave with the job's
    run: PostgreSQL's lock ends with the transaction, MariaDB's is released explicitly, and on
    SQLite the writer's ``BEGIN IMMEDIATE`` already excludes the job. With leases on a server (``database.locks
    = "lease"``) the job's lease row is locked until the transaction ends, and refused while a job holds it.
    """
    backend = backends.of(conn)
    if backend.session_locks and uses_leases(conn):
        return _lock_lease_row(conn, job, utcnow())
    return backend.try_transaction_lock(conn, lock_name(job))


def end_transaction_lock(conn: Connection, job: str) -> None:
    backend = backends.of(conn)
    if backend.session_locks and uses_leases(conn):
        return  # a row lock: it ended with the transaction
    backend.end_transaction_lock(conn, lock_name(job))


def _lock_lease_row(conn: Connection, job: str, at: datetime) -> bool:
    """Lock ``job``'s lease row for this transaction when no holder's lease is running; False when one is.

    With no row yet, an expired one is inserted first (a duplicate skipped), so that there is a row to lock: a
    job taking its lease meanwhile waits for this transaction, then finds the row and takes it over."""
    backend = backends.of(conn)
    lease = select(job_leases.c.owner, job_leases.c.expires_at).where(job_leases.c.job == job)
    row = conn.execute(backend.locked(lease)).first()
    if row is None:
        backend.insert_rows(conn, job_leases, [{"job": job, "owner": NO_OWNER, "acquired_at": at, "expires_at": at}],
                            skip_duplicates_of="job")
        row = conn.execute(backend.locked(lease)).first()
    return row is not None and (row.owner == NO_OWNER or row.expires_at <= at)


# --- PostgreSQL and MariaDB: a session lock on a dedicated connection -----------------------------


@contextmanager
def _session_lock(engine: Engine, job: str, owner: str, beat: float) -> Iterator[JobLock]:
    backend = backends.of(engine)
    # AUTOCOMMIT: the lock belongs to the session, and the connection must not sit "idle in
    # transaction" for the length of a run (it would hold back VACUUM on PostgreSQL).
    conn = engine.connect().execution_options(isolation_level="AUTOCOMMIT")
    try:
        if not backend.try_lock(conn, lock_name(job)):
            raise LockHeld(f"job {job}: another instance holds its lock")
    except BaseException:
        conn.close()
        raise
    lock = JobLock(job, owner, backend.name)
    conn_guard = threading.Lock()

    def check() -> None:
        with conn_guard:
            conn.execute(text("SELECT 1"))

    try:
        with _heartbeat(lock, beat, check):
            yield lock
    finally:
        try:
            with conn_guard:
                backend.unlock(conn, lock_name(job))
        except Exception as exc:  # noqa: BLE001 - the session is gone, and the lock with it
            log.warning("job %s: could not release the lock cleanly (%s); the session is closed anyway", job, type(exc).__name__)
        finally:
            conn.close()


# --- SQLite: a lease row -------------------------------------------------------------------------


def _lease_begin(engine: Engine) -> Engine:
    # BEGIN IMMEDIATE (see etl.db.engine): the read-then-write below is atomic between processes.
    return engine.execution_options(sqlite_immediate=True)


def take_lease(engine: Engine, job: str, owner: str, lease_seconds: float, at: datetime) -> None:
    """Take the lease if absent, expired or already ours; `LockHeld` otherwise."""
    expires = at + timedelta(seconds=lease_seconds)
    try:
        _take_lease(engine, job, owner, at, expires)
    except (IntegrityError, DBAPIError) as exc:
        # PostgreSQL/MariaDB with leases: another taker inserted the row first (a duplicate key), or on
        # MariaDB both gap-locked the absent row (a deadlock). SQLite's IMMEDIATE writer never gets here.
        if isinstance(exc, IntegrityError) or backends.of(engine).deadlocked(exc):
            raise LockHeld(f"job {job}: another instance took its lease at the same moment") from None
        raise


def _take_lease(engine: Engine, job: str, owner: str, at: datetime, expires: datetime) -> None:
    with _lease_begin(engine).begin() as conn:
        # FOR UPDATE where rows lock (leases on a server): two takers of an expired lease take turns.
        row = conn.execute(
            backends.of(conn).locked(select(job_leases.c.owner, job_leases.c.expires_at).where(job_leases.c.job == job))
        ).first()
        if row is None:
            conn.execute(insert(job_leases).values(job=job, owner=owner, acquired_at=at, expires_at=expires))
            return
        if row.owner not in (owner, NO_OWNER) and row.expires_at > at:
            raise LockHeld(f"job {job}: leased by {row.owner} until {row.expires_at.isoformat(timespec='seconds')}")
        if row.owner not in (owner, NO_OWNER):
            log.warning("job %s: taking over the lease of %s, expired at %s", job, row.owner, row.expires_at.isoformat())
        conn.execute(
            update(job_leases)
            .where(job_leases.c.job == job)
            .values(owner=owner, acquired_at=at, expires_at=expires)
        )


def renew_lease(engine: Engine, job: str, owner: str, lease_seconds: float, at: datetime) -> bool:
    """Push the expiry forward; False when the lease is no longer ours."""
    with _lease_begin(engine).begin() as conn:
        result = conn.execute(
            update(job_leases)
            .where(job_leases.c.job == job, job_leases.c.owner == owner)
            .values(expires_at=at + timedelta(seconds=lease_seconds))
        )
        return bool(result.rowcount)


def release_lease(engine: Engine, job: str, owner: str) -> None:
    with _lease_begin(engine).begin() as conn:
        conn.execute(delete(job_leases).where(job_leases.c.job == job, job_leases.c.owner == owner))


def give_back_leases(engine: Engine, owner: str) -> None:
    """At shutdown with a run still going: give back ``owner``'s leases if the write lock is free
    within a moment (where locks are leases; session locks die with the process anyway).

    The unfinished run may hold the write lock (its transaction is open); then the leases stay and
    expire after ``daemon.lease``, the same as after a crash.
    """
    backend = backends.of(engine)
    if not uses_leases(engine):
        return
    try:
        with engine.connect() as conn:
            backend.short_lock_wait(conn, 300)
            conn.execute(delete(job_leases).where(job_leases.c.owner == owner))
            conn.commit()
    except Exception as exc:  # noqa: BLE001 - the lease then expires on its own
        log.warning("leases of %s left to expire (%s)", owner, type(exc).__name__)


def release_all_leases(engine: Engine, owner: str) -> int:
    """Drop every lease ``owner`` holds (the daemon's last act when a run would not stop in time)."""
    with _lease_begin(engine).begin() as conn:
        return int(conn.execute(delete(job_leases).where(job_leases.c.owner == owner)).rowcount or 0)


@contextmanager
def _lease_lock(
    engine: Engine, job: str, owner: str, lease_seconds: float, now: Callable[[], datetime], beat: float
) -> Iterator[JobLock]:
    take_lease(engine, job, owner, lease_seconds, now())
    lock = JobLock(job, owner, backends.of(engine).name)

    valid_until = [now() + timedelta(seconds=lease_seconds)]

    def renew() -> None:
        at = now()
        try:
            still_ours = renew_lease(engine, job, owner, lease_seconds, at)
        except Exception as exc:  # noqa: BLE001 - e.g. "database is locked" for longer than the busy timeout
            if at >= valid_until[0]:
                raise
            log.warning("job %s: could not renew the lease (%s); retrying", job, type(exc).__name__)
            return
        if not still_ours:
            lock._mark_lost("the lease was taken over")
        valid_until[0] = at + timedelta(seconds=lease_seconds)

    try:
        with _heartbeat(lock, beat, renew):
            yield lock
    finally:
        try:
            release_lease(engine, job, owner)
        except Exception as exc:  # noqa: BLE001 - the lease then simply expires
            log.warning("job %s: could not release the lease (%s); it expires on its own", job, type(exc).__name__)


# --- heartbeat -----------------------------------------------------------------------------------


@contextmanager
def _heartbeat(lock: JobLock, every: float, beat: Callable[[], None]) -> Iterator[None]:
    """``beat()`` every ``every`` seconds in a thread while the block runs, stopped and joined when it ends.

    A failing beat marks the lock lost (a DB outage: the lock may be gone) and ends the thread.
    """
    stop = threading.Event()

    def loop() -> None:
        while not stop.wait(every):
            try:
                beat()
            except Exception as exc:  # noqa: BLE001 - a DB outage: the lock may be gone
                lock._mark_lost(f"heartbeat failed: {type(exc).__name__}")
            if lock.lost:
                return

    thread = threading.Thread(target=loop, name=f"lock-heartbeat-{lock.job}", daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join()
