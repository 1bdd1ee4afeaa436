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

Database outages while locking or opening the row are a failed run (logged in one line, counted),
never an exception: the daemon must outlive them.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
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
from etl.db.engine import writer
from etl.errors import EtlError, LockHeld, SyncRefused
from etl.jobs import get_job
from etl.jobs.base import JobContext, KeyLearner, RunResult, ignore_keys
from etl.locking import job_lock
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
    budget = shared_budget.for_account(config, engine, account, clock=wall_clock)
    if budget is not None:
        client.use_budget(budget)
    try:
        with job_lock(engine, account.lock_name(name), owner=owner, lease_seconds=config.daemon.lease, now=wall_clock) as lock:
            if fresh_within and _recently_done(engine, name, account, fresh_within, now()):
                log.info("job %s skipped: a successful run started less than %gs ago", shown, fresh_within,
                         extra={"job": name, "account": account.label, "outcome": Outcome.SKIPPED.value, "reason": "fresh"})
                return _skipped(name, account, "fresh", started, metrics)
            report = _run_locked(
                name, job, config=config, client=client, engine=engine, now=now, force=force,
                should_stop=lambda: should_stop() or lock.lost, secret=secret, started=started,
                account=account, learn_keys=learn_keys,
            )
            if report.ok and name in breaches.DETECT_AFTER:
                _detect_breaches(engine, config, account, now())
    except LockHeld as exc:
        log.info("job %s skipped: %s", shown, exc, extra={"job": name, "account": account.label, "outcome": Outcome.SKIPPED.value, "reason": "locked"})
        return _skipped(name, account, "locked", started, metrics)
    except SQLAlchemyError as exc:
        detail = runlog.redact(f"database error before or after the run: {type(exc).__name__}: {exc}", secret)
        detail = detail.splitlines()[0] if detail else detail
        log.error("job %s failed: %s", shown, detail, extra={"job": name, "account": account.label, "outcome": Outcome.FAILED.value})
        report = RunReport(job=name, account=account, run_id=None, outcome=Outcome.FAILED, seconds=time.monotonic() - started, error=detail)
    if metrics is not None:
        metrics.record_run(report)
    return report


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
) -> RunReport:
    shown = account.shown(name)
    run_id = runlog.open_run(engine, name, now(), account.id)
    abandoned = runlog.sweep_abandoned(engine, name, run_id, now(), account.id)
    if abandoned:
        log.warning("job %s: marked %d earlier run(s) abandoned (their process died)", shown, abandoned)
    ctx = JobContext(
        config=config, client=client, engine=writer(engine), now=now, run_id=run_id, force=force, should_stop=should_stop,
        secrets=(secret,) if secret else (), account=account, learn_keys=learn_keys,
    )
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

