"""Run one job once: lock, run-log row, the job, outcome. Shared by `sync --once` and the daemon.

Order of a run, and why:

1. take the job's lock (`etl.locking.job_lock`) — if another instance holds it the run is
   *skipped*: one log line and the ``runs_skipped`` metric, no ``sync_runs`` row (the run log
   records work done; with two instances a row per skipped cycle would double it and hide the
   real runs). ``sync --once`` exits 75 (EX_TEMPFAIL) for it.
2. optionally (the daemon, ``fresh_within``): skip when a successful run of this job (by any
   instance) started less than ``fresh_within`` ago, so that two instances on one schedule do each
   cycle once, not twice;
3. open the ``running`` row, then mark other ``running`` rows of this job *abandoned* (safe only
   because we hold the lock);
4. run the job with ``should_stop`` = the caller's stop flag *or* "the lock was lost";
5. record the outcome; the lock is released on every path (``with``).

A job that splits (`etl.jobs.SPLIT_JOBS`: statuses) where the database claims rows (PostgreSQL, MariaDB;
`etl.db.claims.instances_share`) is not skipped in step 1 or 2: it runs without its exclusive phases
(``ctx.exclusive`` False) and does its claimed work, logged as ``statuses:claimed`` (`claimed_run_name`). Such a
run holds a session lock named after its instance (``sync_runs.owner``) while it runs, so that step 3 of the
lock holder marks it abandoned only once that instance is gone.

Database outages while locking or opening the row are a failed run (logged in one line, counted),
never an exception: the daemon must outlive them.
"""

from __future__ import annotations

import hashlib
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from functools import partial
from typing import TYPE_CHECKING

from sqlalchemy import Engine
from sqlalchemy.exc import SQLAlchemyError

from etl import budget as shared_budget
from etl import runlog
from etl.accounts import PARENT, AccountRef
from etl.api.protocol import ApiClient
from etl.clock import utcnow
from etl.compliance import breaches
from etl.config import Config
from etl.db import claims
from etl.db.engine import writer
from etl.errors import EtlError, LockHeld, SyncRefused
from etl.jobs import SPLIT_JOBS, get_job
from etl.jobs.base import JobContext, KeyLearner, RunResult, ignore_keys
from etl.locking import default_owner, job_lock
from etl.outcome import Outcome

if TYPE_CHECKING:
    from etl.metrics import Metrics

log = logging.getLogger(__name__)


@dataclass(frozen=True, kw_only=True)
class RunReport:
    job: str
    account: AccountRef = PARENT
    #: ``None`` when no ``sync_runs`` row was opened (skipped, or the database failed first).
    run_id: int | None
    #: success (or what the job said), failed, refused, skipped
    outcome: Outcome
    seconds: float
    #: What the job reported; ``None`` when it did not finish.
    result: RunResult | None = None
    error: str | None = None

    @property
    def ok(self) -> bool:
        return not self.outcome.failed


def run_job(
    name: str,
    *,
    config: Config,
    client: ApiClient,
    engine: Engine,
    now: Callable[[], datetime] = utcnow,
    force: bool = False,
    should_stop: Callable[[], bool] = lambda: False,
    owner: str | None = None,
    metrics: Metrics | None = None,
    fresh_within: float | None = None,
    wall_clock: Callable[[], datetime] = utcnow,
    account: AccountRef = PARENT,
    learn_keys: KeyLearner = ignore_keys,
) -> RunReport:
    """Run job ``name`` for ``account`` once under its lock and record it in `sync_runs`. Never raises for a job failure.

    ``now`` is the job's clock (tests and the simulator pass a simulated one): the run log and the
    freshness check use it. Leases use ``wall_clock``, which is shared by every instance. Expected failures (`EtlError`) are logged as one line;
    anything else with its traceback. The API key is removed from every text written to the log table.
    """
    job = get_job(name)
    shown = account.shown(name)
    started = time.monotonic()
    secret = client.secret.reveal()
    owner = owner or default_owner()
    budget = shared_budget.for_account(config, engine, account, clock=wall_clock)
    if budget is not None:
        client.use_budget(budget)
    splits = name in SPLIT_JOBS and claims.instances_share(engine)
    run = partial(
        _run_locked, name, job, config=config, client=client, engine=engine, now=now, force=force, secret=secret,
        started=started, account=account, learn_keys=learn_keys, owner=owner, splits=splits,
    )
    #: Why this run does only the job's claimed work (a split job whose exclusive part is not ours now).
    claimed_only: str | None = None
    try:
        with job_lock(engine, account.lock_name(name), owner=owner, lease_seconds=config.daemon.lease, now=wall_clock) as lock:
            if fresh_within and _recently_done(engine, name, account, fresh_within, now()):
                if splits:
                    claimed_only = "fresh"
                else:
                    log.info("job %s skipped: a successful run started less than %gs ago", shown, fresh_within,
                             extra={"job": name, "account": account.label, "outcome": Outcome.SKIPPED.value, "reason": "fresh"})
                    return _skipped(name, account, "fresh", started, metrics)
            else:
                report = run(exclusive=True, should_stop=lambda: should_stop() or lock.lost)
                if report.ok and name in breaches.DETECT_AFTER:
                    _detect_breaches(engine, config, account, now())
    except LockHeld as exc:
        if not splits:
            log.info("job %s skipped: %s", shown, exc, extra={"job": name, "account": account.label, "outcome": Outcome.SKIPPED.value, "reason": "locked"})
            return _skipped(name, account, "locked", started, metrics)
        claimed_only = "locked"
    except SQLAlchemyError as exc:
        report = _database_failed(name, account, exc, secret, started)
    if claimed_only is not None:
        report = _claimed_work(run, name, account, claimed_only, engine=engine, config=config, owner=owner,
                               should_stop=should_stop, wall_clock=wall_clock, secret=secret, started=started)
    if metrics is not None:
        metrics.record_run(report)
    return report


def _database_failed(name: str, account: AccountRef, exc: SQLAlchemyError, secret: str, started: float) -> RunReport:
    detail = runlog.redact(f"database error before or after the run: {type(exc).__name__}: {exc}", secret)
    detail = detail.splitlines()[0] if detail else detail
    log.error("job %s failed: %s", account.shown(name), detail, extra={"job": name, "account": account.label, "outcome": Outcome.FAILED.value})
    return RunReport(job=name, account=account, run_id=None, outcome=Outcome.FAILED, seconds=time.monotonic() - started, error=detail)


def claimed_run_name(job: str) -> str:
    """The ``sync_runs.job`` of a split job's run that did only its claimed work (``statuses:claimed``).

    Its own name, so that what reads a job's runs (freshness, catch-up, /healthz, the abandoned sweep)
    reads the runs that did the whole job, exclusive phases included."""
    return f"{job}:claimed"


def _instance_run_lock(account: AccountRef, job: str, owner: str | None) -> str:
    """The lock a claimed-work run holds while it runs, named after its row's ``owner`` (taken before the row is
    opened): a sweeper that can take it knows the run's instance is gone. The owner is hashed: a lease row's
    name (``database.locks = "lease"``) has 64 characters at most."""
    return account.lock_name(f"{claimed_run_name(job)}:{hashlib.sha256(str(owner).encode()).hexdigest()[:16]}")


def _claimed_work(
    run: Callable[..., RunReport],
    name: str,
    account: AccountRef,
    why: str,
    *,
    engine: Engine,
    config: Config,
    owner: str,
    should_stop: Callable[[], bool],
    wall_clock: Callable[[], datetime],
    secret: str,
    started: float,
) -> RunReport:
    """A split job's run without its exclusive phases: another instance holds the lock, or did them just now."""
    log.info("job %s: %s; claimed work only", account.shown(name),
             "another instance holds its lock" if why == "locked" else "its exclusive part ran just now",
             extra={"job": name, "account": account.label, "reason": why})
    lock_name = _instance_run_lock(account, name, owner)
    try:
        with job_lock(engine, lock_name, owner=owner, lease_seconds=config.daemon.lease, now=wall_clock) as lock:
            return run(exclusive=False, should_stop=lambda: should_stop() or lock.lost)
    except (SQLAlchemyError, LockHeld) as exc:
        if isinstance(exc, LockHeld):  # this instance runs the job's claimed work for this account already
            return RunReport(job=claimed_run_name(name), account=account, run_id=None, outcome=Outcome.SKIPPED,
                             seconds=time.monotonic() - started, error="running")
        return _database_failed(name, account, exc, secret, started)


def _instance_gone(engine: Engine, account: AccountRef, job: str) -> Callable[[str | None], bool]:
    """For the abandoned sweep of claimed-work rows: is the row's instance gone? (its run lock is free)"""

    def gone(owner: str | None) -> bool:
        try:
            with job_lock(engine, _instance_run_lock(account, job, owner), owner="sweep", heartbeat_seconds=3600.0):
                return True
        except LockHeld:
            return False

    return gone


def _detect_breaches(engine: Engine, config: Config, account: AccountRef, at: datetime) -> None:
    """After a stops or statuses run, record the account's new breaches (docs/compliance.md, "Breaches").

    Its own transaction: a failure here is logged and never turns the sync it follows into a failure."""
    try:
        with writer(engine).begin() as conn:
            added = breaches.detect(conn, grace_seconds=config.compliance.breach_grace, now=at, account_id=account.id)
    except SQLAlchemyError as exc:
        log.error("breach detection for %s failed: %s", account.label, type(exc).__name__, extra={"account": account.label})
        return
    if added:
        log.warning("%d new breach(es) for account %s: sends to numbers on its stop list (smspartner-etl breaches list)",
                    added, account.label, extra={"account": account.label, "breaches": added})


def _skipped(name: str, account: AccountRef, reason: str, started: float, metrics: Metrics | None) -> RunReport:
    if metrics is not None:
        metrics.record_skip(name, reason, account.label)
    return RunReport(job=name, account=account, run_id=None, outcome=Outcome.SKIPPED, seconds=time.monotonic() - started, error=reason)


def _recently_done(engine: Engine, name: str, account: AccountRef, within: float, at: datetime) -> bool:
    from etl.metrics import last_successes

    # Compared by start: a cycle is when its run began, however long the run took.
    last = last_successes(engine, [name], started=True, account_id=account.id)[name]
    return last is not None and (at - last).total_seconds() < within


def _run_locked(
    name: str,
    job: Callable[[JobContext], RunResult],
    *,
    config: Config,
    client: ApiClient,
    engine: Engine,
    now: Callable[[], datetime],
    force: bool,
    should_stop: Callable[[], bool],
    secret: str,
    started: float,
    account: AccountRef,
    learn_keys: KeyLearner,
    owner: str,
    splits: bool,
    exclusive: bool,
) -> RunReport:
    shown = account.shown(name)
    run_id = runlog.open_run(engine, name if exclusive else claimed_run_name(name), now(), account.id, owner)
    if exclusive:  # we hold the job's lock: no other instance runs its exclusive part
        abandoned = runlog.sweep_abandoned(engine, name, run_id, now(), account.id)
        if splits:  # claimed-work runs go on beside us: only those whose process is gone
            abandoned += runlog.sweep_abandoned(
                engine, claimed_run_name(name), run_id, now(), account.id, gone=_instance_gone(engine, account, name)
            )
        if abandoned:
            log.warning("job %s: marked %d earlier run(s) abandoned (their process died)", shown, abandoned)
    ctx = JobContext(
        config=config, client=client, engine=writer(engine), now=now, run_id=run_id, force=force, should_stop=should_stop,
        secrets=(secret,) if secret else (), account=account, learn_keys=learn_keys, exclusive=exclusive, owner=owner,
    )
    name = name if exclusive else claimed_run_name(name)
    fields = {"job": name, "account": account.label, "run_id": run_id}
    try:
        result = job(ctx)
    except SyncRefused as exc:
        detail = runlog.redact(str(exc), secret)
        runlog.fail_run(engine, run_id, Outcome.REFUSED, detail, now())
        log.error("job %s run %d refused: %s", shown, run_id, detail, extra={**fields, "outcome": Outcome.REFUSED.value})
        return RunReport(job=name, account=account, run_id=run_id, outcome=Outcome.REFUSED, seconds=time.monotonic() - started, error=detail)
    except EtlError as exc:
        detail = runlog.redact(f"{type(exc).__name__}: {exc}", secret)
        runlog.fail_run(engine, run_id, Outcome.FAILED, detail, now())
        log.error("job %s run %d failed: %s", shown, run_id, detail, extra={**fields, "outcome": Outcome.FAILED.value})
        return RunReport(job=name, account=account, run_id=run_id, outcome=Outcome.FAILED, seconds=time.monotonic() - started, error=detail)
    except Exception as exc:  # noqa: BLE001 - the runner is one of the two places allowed to
        detail = runlog.redact(f"{type(exc).__name__}: {exc}", secret)
        try:
            runlog.fail_run(engine, run_id, Outcome.FAILED, detail, now())
        except SQLAlchemyError:
            pass  # the database is gone; the next run marks this one abandoned
        log.exception("job %s run %d crashed: %s", shown, run_id, detail, extra={**fields, "outcome": Outcome.FAILED.value})
        return RunReport(job=name, account=account, run_id=run_id, outcome=Outcome.FAILED, seconds=time.monotonic() - started, error=detail)
    if not runlog.is_finished(engine, run_id):
        # A job with nothing to commit may leave the row to us.
        with writer(engine).begin() as conn:
            runlog.finish_run(conn, run_id, result, now())
    seconds = time.monotonic() - started
    log.info(
        "job %s run %d %s: added=%d changed=%d removed=%d in %.2fs%s",
        shown, run_id, result.outcome, result.added, result.changed, result.removed, seconds,
        "".join(f" {k}={v}" for k, v in result.figures.items()),
        extra={
            **fields, "outcome": Outcome(result.outcome).value, "seconds": round(seconds, 3), "added": result.added,
            "changed": result.changed, "removed": result.removed, "figures": dict(result.figures),
        },
    )
    return RunReport(job=name, account=account, run_id=run_id, outcome=Outcome(result.outcome), seconds=seconds, result=result)

