"""`smspartner-etl run`: the scheduler, its shutdown, and the health endpoint.

APScheduler 3.x ``BackgroundScheduler`` with an in-memory job store (jobs are defined here, in
code: nothing pickled into the database), one trigger per job from ``[jobs.<name>]`` (``every`` or
``cron``, cron in UTC), ``max_instances=1``, ``coalesce=True`` and ``misfire_grace_time`` from
``daemon.misfire_grace``. Every run goes through `etl.runner.run_job`, so it holds the job's
database lock: two daemons on one database never run one job at once (but for the claimed work
of a job that splits, the statuses polling, which every instance does: `etl.runner`).

Choices worth knowing:

- **One entry per (job, account)** (`etl.cadence`): each account fires at a stable offset after
  the job's tick (a hash of job and account id, below ``daemon.account_spread`` and a quarter of
  the period), so sub-accounts do not call the API at the same second; ``max_instances=1`` per
  entry, so one job never runs twice at once for one account. Entries follow the accounts: added
  and removed by `Daemon.reconcile`, after each accounts run and every minute.
- **Jitter.** ``daemon.jitter`` seconds at most, capped at a quarter of an interval job's period,
  so instances started together do not hit the API and the lock at the same instant.
- **Catch-up after a restart** (APScheduler's misfire grace dies with the process, its memory
  store does): at start each job's next run is computed from its last success *in sync_runs*. An
  interval job whose last success is older than its interval runs at once; a cron job runs at once
  when a fire time was missed since its last success, no longer ago than ``daemon.misfire_grace``.
  A job that never succeeded runs at once.
- **One cycle, one run.** Two instances on one schedule would each run every cycle, one after the
  other. A scheduled run is skipped when a successful run by any instance started less than half
  a period ago (``fresh_within``); ``sync --once`` never skips for that.
- **Shutdown.** The first SIGTERM/SIGINT sets the stop flag every job sees as
  ``ctx.should_stop()``, stops scheduling, and waits up to ``daemon.shutdown_timeout`` for the
  running batch to finish or roll back; locks are released by the runner's ``with``. Exit 0. If a
  run is still going at the deadline, its SQLite leases are dropped and the process exits 1 (its
  open transaction dies with the connection; on SQLite its lease is then left to expire, since the
  run still holds the write lock). A second signal exits at once (status 1).
"""

from __future__ import annotations

import logging
import os
import random
import signal
import threading
import time
from collections.abc import Callable, Sequence
from datetime import datetime, timedelta, timezone
from types import FrameType
from typing import TYPE_CHECKING, Any

from apscheduler.events import EVENT_JOB_MAX_INSTANCES, JobSubmissionEvent
from apscheduler.executors.pool import ThreadPoolExecutor
from apscheduler.jobstores.memory import MemoryJobStore
from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.triggers.base import BaseTrigger
from apscheduler.triggers.cron import CronTrigger
from apscheduler.triggers.interval import IntervalTrigger
from sqlalchemy import Engine
from sqlalchemy.exc import SQLAlchemyError

from etl.accounts import PARENT, AccountRef, AccountSource, Followed, OneAccount
from etl.api.protocol import ApiClient
from etl.cadence import OffsetTrigger, account_offset, entry_id
from etl.clock import utcnow
from etl.compliance import breaches
from etl.config import Config, JobSchedule, Secret
from etl.health import Health, HealthServer, evaluate, with_breaches
from etl.jobs import PARENT_ONLY_JOBS, job_names
from etl.locking import default_owner, give_back_leases
from etl.metrics import Metrics, last_successes_by_account
from etl.runner import RunReport, run_job

if TYPE_CHECKING:
    from etl.console.server import ConsoleServer  # imported when the console is enabled (starlette, uvicorn)
    from etl.push.receiver import PushReceiver  # imported when push is enabled (aiohttp)

log = logging.getLogger(__name__)

ClientFactory = Callable[[Secret], ApiClient]
"""Builds a client for one account's key (`etl.api.factory.make_client` with the daemon's metrics)."""

RECONCILE_ENTRY = "_accounts"
RECONCILE_SECONDS = 60.0
"""How often the schedule is matched to the followed accounts (besides after each accounts run)."""


# --- pure decisions ------------------------------------------------------------------------------


def scheduled_jobs(config: Config, only: Sequence[str] = (), available: Sequence[str] | None = None) -> dict[str, JobSchedule]:
    """The jobs to schedule: enabled in config (or asked for by name) and present in the registry."""
    registry = list(available if available is not None else job_names())
    unknown = sorted(set(only) - set(registry))
    if unknown:
        from etl.errors import InputError

        raise InputError(f"unknown job {unknown[0]!r}; known jobs: {', '.join(registry)}")
    chosen: dict[str, JobSchedule] = {}
    for name in registry:
        schedule = config.jobs.get(name, JobSchedule())
        if (name in only) if only else schedule.enabled:
            chosen[name] = schedule
    return chosen


def capped_jitter(schedule: JobSchedule, jitter: float) -> float:
    """At most ``jitter``, and at most a quarter of an interval job's period."""
    if schedule.cron:
        return max(jitter, 0.0)
    return max(min(jitter, schedule.every / 4.0), 0.0)


def build_trigger(schedule: JobSchedule, jitter: float) -> BaseTrigger:
    """``cron`` (5 fields, UTC; use day names, APScheduler 3 counts weekdays from Monday) or ``every``."""
    j = capped_jitter(schedule, jitter) or None
    if schedule.cron:
        trigger = CronTrigger.from_crontab(schedule.cron, timezone=timezone.utc)
        trigger.jitter = int(j) if j else None
        return trigger
    return IntervalTrigger(seconds=schedule.every, timezone=timezone.utc, jitter=j)


def period_seconds(schedule: JobSchedule, now: datetime) -> float:
    """The job's period: ``every``, or for cron the gap between its next two fire times."""
    if not schedule.cron:
        return schedule.every
    trigger = CronTrigger.from_crontab(schedule.cron, timezone=timezone.utc)
    first = trigger.get_next_fire_time(None, now)
    second = trigger.get_next_fire_time(first, first + timedelta(seconds=1)) if first else None
    return (second - first).total_seconds() if first and second else 86400.0


def first_run_at(schedule: JobSchedule, last_success: datetime | None, now: datetime, misfire_grace: float) -> datetime | None:
    """When to run first after a (re)start; None: let the trigger decide (its next fire time).

    Interval jobs: ``last_success + every``, or now if that is past. Cron jobs: now if the latest
    fire time since the last success is no older than ``misfire_grace``. Never succeeded: now.
    """
    if last_success is None:
        return now
    if not schedule.cron:
        return max(now, last_success + timedelta(seconds=schedule.every))
    trigger = CronTrigger.from_crontab(schedule.cron, timezone=timezone.utc)
    # The latest fire time missed since the last success (coalescing: one catch-up run at most).
    fire = trigger.get_next_fire_time(None, last_success + timedelta(seconds=1))
    latest = None
    for _ in range(100_000):
        if fire is None or fire > now:
            break
        latest = fire
        fire = trigger.get_next_fire_time(fire, fire + timedelta(seconds=1))
    if latest is not None and (now - latest).total_seconds() <= misfire_grace:
        return now
    return None


# --- the daemon ----------------------------------------------------------------------------------


class Daemon:
    """Schedules the jobs, serves health, stops cleanly. ``run()`` is for the main thread."""

    def __init__(
        self,
        config: Config,
        engine: Engine,
        *,
        client_factory: ClientFactory,
        accounts: AccountSource | None = None,
        metrics: Metrics | None = None,
        jobs: Sequence[str] = (),
        owner: str | None = None,
        wall_clock: Callable[[], datetime] = utcnow,
        job_clock: Callable[[], datetime] | None = None,
    ) -> None:
        self.config = config
        self.engine = engine
        self.client_factory = client_factory
        #: Who to run each job for; without one, the parent alone (its key read at the first run).
        self._accounts = accounts
        #: The accounts of the latest fan-out: what /healthz reports on (the parent until a first run).
        self._fanned_out: list[AccountRef] = [PARENT]
        #: The followed accounts by id, as the latest fan-out or reconcile read them (their keys).
        self._following: dict[int, Followed] = {}
        #: The scheduler's (job, account) entries by entry id; the lock keeps two reconciles apart.
        self._entries: dict[str, tuple[str, AccountRef]] = {}
        self._entries_lock = threading.Lock()
        self.metrics = metrics or Metrics()
        self.schedules = scheduled_jobs(config, jobs)
        self.owner = owner or default_owner()
        self.wall_clock = wall_clock
        #: The time jobs and the run log live in (the simulator's, under api.clock = "simulator").
        self.job_clock = job_clock or wall_clock
        self.started_at = self.job_clock()
        self.stopping = threading.Event()
        self._signals = 0
        self._active: dict[str, float] = {}
        self._active_lock = threading.Lock()
        self.scheduler: BackgroundScheduler | None = None
        self.health_server: HealthServer | None = None

    # health ---------------------------------------------------------------------------------------

    def health(self) -> Health:
        """Each job's freshness for each account of the last fan-out (``stops``, ``stops@shop-1``...)."""
        try:
            by_account = last_successes_by_account(self.engine, self.schedules)
        except Exception as exc:  # noqa: BLE001 - the daemon is one of the two places allowed to
            return Health(False, [f"database not readable: {type(exc).__name__}"])
        schedules: dict[str, JobSchedule] = {}
        last: dict[str, datetime | None] = {}
        for name, schedule in self.schedules.items():
            for ref in [PARENT] if name in PARENT_ONLY_JOBS else self._fanned_out:
                schedules[ref.shown(name)] = schedule
                last[ref.shown(name)] = by_account.get((name, ref.label))
        result = with_breaches(evaluate(last, schedules, self.started_at, self.job_clock()), self._open_breaches())
        if self.stopping.is_set():
            return Health(False, ["shutting down", *result.reasons], result.jobs)
        return result

    def _open_breaches(self) -> dict[str, int]:
        """Unacknowledged breaches per account; none when the table is not there yet (not migrated)."""
        try:
            with self.engine.connect() as conn:
                return breaches.open_counts(conn)
        except SQLAlchemyError:
            return {}

    def start_health_server(self, port: int | None = None) -> HealthServer | None:
        port = self.config.daemon.health_port if port is None else port
        if not port:
            return None
        self.health_server = HealthServer(self.config.daemon.health_host, port, self.metrics.exposition, self.health).start()
        log.info("health endpoint on http://%s:%d/healthz and /metrics", self.config.daemon.health_host, self.health_server.port)
        return self.health_server

    # --- push receiver (issue 9, etl/push; docs/push.md) ----------------------------------------
    push_receiver: PushReceiver | None = None

    def start_push_receiver(self) -> PushReceiver | None:
        """Serve the callback endpoints when ``push.enabled`` (off by default)."""
        if not self.config.push.enabled:
            return None
        from etl.push.receiver import PushCounters, PushReceiver

        counters = PushCounters(self.metrics.registry)
        self.push_receiver = PushReceiver(self.config.push, self.engine, counters=counters,
                                          default_region=self.config.api.default_region,
                                          dlr_costs=self.config.statuses.cost_source == "announced").start()
        return self.push_receiver

    def stop_push_receiver(self) -> None:
        if self.push_receiver is not None:
            self.push_receiver.stop()  # stores and applies what was accepted
            self.push_receiver = None
    # --- end of the push receiver hook -----------------------------------------------------------

    # --- web console (issue 19, etl/console; docs/console.md) -----------------------------------
    console_server: ConsoleServer | None = None

    def start_console(self) -> ConsoleServer | None:
        """Serve the console beside the scheduler when ``console.enabled`` (off by default)."""
        if not self.config.console.enabled:
            return None
        from etl.console.server import ConsoleServer

        self.console_server = ConsoleServer(self.config, self.engine).start()
        log.info("console on http://%s:%d/", self.config.console.host, self.console_server.port)
        return self.console_server

    def stop_console(self) -> None:
        if self.console_server is not None:
            self.console_server.stop()
            self.console_server = None

    # scheduling -----------------------------------------------------------------------------------

    @property
    def accounts(self) -> AccountSource:
        if self._accounts is None:
            self._accounts = OneAccount(self.config.api_key())
        return self._accounts

    def fire(self, name: str) -> list[RunReport]:
        """``name`` for each followed account, one after the other (tests and manual runs; the
        scheduler fires each account on its own entry, `fire_account`).

        One account's failure (a revoked key, an outage of its runs) is its run's outcome; the next
        account runs all the same.
        """
        reports: list[RunReport] = []
        try:
            followed = self._follow()
            for account in followed[:1] if name in PARENT_ONLY_JOBS else followed:
                if self.stopping.is_set():
                    break
                report = self._fire_tracked(name, account)
                if report is not None:
                    reports.append(report)
        except Exception:  # noqa: BLE001 - never let one run kill the scheduler thread
            log.exception("job %s: unexpected error around the runs", name)
        return reports

    def fire_account(self, name: str, account_id: int) -> RunReport | None:
        """One scheduled run of ``name`` for one account: its own entry, offset, lock and run row."""
        account = self._following.get(account_id)
        if account is None or self.stopping.is_set():
            return None  # lost since its entry was made: the next reconcile removes the entry
        report = self._fire_tracked(name, account)
        if name in PARENT_ONLY_JOBS and not self.stopping.is_set():
            self.reconcile()  # the accounts job found or lost sub-accounts: their entries now, not in a minute
        return report

    def _follow(self) -> list[Followed]:
        followed = self.accounts.followed()
        self._following = {account.ref.id: account for account in followed}
        self._fanned_out = [account.ref for account in followed]
        return followed

    def _fire_tracked(self, name: str, account: Followed) -> RunReport | None:
        if self.stopping.is_set():
            return None
        shown = account.ref.shown(name)
        with self._active_lock:
            self._active[shown] = time.monotonic()
        try:
            return self._fire_one(name, account)
        finally:
            with self._active_lock:
                self._active.pop(shown, None)

    def _fire_one(self, name: str, account: Followed) -> RunReport | None:
        client = None
        try:
            client = self.client_factory(account.key)
            schedule = self.schedules[name]
            return run_job(
                name,
                config=self.config,
                client=client,
                engine=self.engine,
                now=self.job_clock,
                should_stop=self.stopping.is_set,
                owner=self.owner,
                metrics=self.metrics,
                fresh_within=period_seconds(schedule, self.wall_clock()) / 2.0,
                wall_clock=self.wall_clock,
                account=account.ref,
                learn_keys=self.accounts.learn,
            )
        except Exception:  # noqa: BLE001 - one account's surprise must not skip the others
            log.exception("job %s: unexpected error around the run", account.ref.shown(name))
            return None
        finally:
            if client is not None:
                client.close()

    def build_scheduler(self) -> BackgroundScheduler:
        cfg = self.config.daemon
        scheduler = BackgroundScheduler(
            jobstores={"default": MemoryJobStore()},
            executors={"default": ThreadPoolExecutor(max_workers=max(1, len(self.schedules)))},
            job_defaults={
                "coalesce": True,
                "max_instances": 1,
                "misfire_grace_time": int(cfg.misfire_grace) or None,
            },
            timezone=timezone.utc,
        )
        scheduler.add_listener(self._on_max_instances, EVENT_JOB_MAX_INSTANCES)
        self.scheduler = scheduler
        self.reconcile()
        scheduler.add_job(self.reconcile, IntervalTrigger(seconds=RECONCILE_SECONDS, timezone=timezone.utc),
                          id=RECONCILE_ENTRY, name=RECONCILE_ENTRY, replace_existing=True)
        return scheduler

    def reconcile(self) -> None:
        """One scheduler entry per (job, followed account): add the new accounts', remove the lost ones'."""
        try:
            followed = self._follow()
        except Exception:  # noqa: BLE001 - DB or API down: the entries stand until the next reconcile
            log.exception("accounts: cannot read the followed accounts; the schedule stays as it is")
            return
        scheduler = self.scheduler
        if scheduler is None:
            return
        wanted = {
            entry_id(name, account.ref.id): (name, account.ref)
            for name in self.schedules
            for account in (followed[:1] if name in PARENT_ONLY_JOBS else followed)
        }
        with self._entries_lock:
            for gone in sorted(self._entries.keys() - wanted.keys()):
                name, ref = self._entries.pop(gone)
                scheduler.remove_job(gone)
                log.info("unscheduled job %s: account no longer followed", ref.shown(name))
            self._add_entries(scheduler, [wanted[e] for e in sorted(wanted.keys() - self._entries.keys())])

    def _add_entries(self, scheduler: BackgroundScheduler, entries: list[tuple[str, AccountRef]]) -> None:
        if not entries:
            return
        cfg = self.config.daemon
        now = self.job_clock()
        # Catch-up is decided in job time (the run log's); APScheduler fires in wall time.
        to_wall = self.wall_clock() - now
        try:
            last = last_successes_by_account(self.engine, self.schedules)
        except Exception as exc:  # noqa: BLE001 - DB down at start: run everything once it answers
            log.warning("cannot read the run log (%s); every job runs at once", type(exc).__name__)
            last = {}
        for name, ref in entries:
            schedule = self.schedules[name]
            offset = account_offset(name, ref.id, period_seconds(schedule, now), cfg.account_spread)
            trigger = OffsetTrigger(build_trigger(schedule, cfg.jitter), offset)
            first = first_run_at(schedule, last.get((name, ref.label)), now, cfg.misfire_grace)
            options: dict[str, Any] = {}
            if first is not None:
                # Due now: at the account's offset. Due later: last success + period keeps its phase.
                first += timedelta(seconds=offset if first <= now else 0.0)
                options["next_run_time"] = first + to_wall + timedelta(seconds=random.uniform(0, capped_jitter(schedule, cfg.jitter)))
            scheduler.add_job(self.fire_account, trigger, args=[name, ref.id], id=entry_id(name, ref.id),
                              name=ref.shown(name), replace_existing=True, **options)
            self._entries[entry_id(name, ref.id)] = (name, ref)
            log.info(
                "scheduled job %s: %s, offset %.1fs; first run %s",
                ref.shown(name),
                f"cron '{schedule.cron}' UTC" if schedule.cron else f"every {schedule.every:g}s",
                offset,
                options["next_run_time"].isoformat(timespec="seconds") if options else "at its next fire time",
            )

    def _on_max_instances(self, event: JobSubmissionEvent) -> None:
        # The previous run of this job for this account (in this process) is still going: APScheduler skips the fire.
        name, ref = self._entries.get(str(event.job_id), (str(event.job_id), PARENT))
        self.metrics.record_skip(name, "running", ref.label)

    # lifecycle ------------------------------------------------------------------------------------

    def request_stop(self, signum: int | None = None, _frame: FrameType | None = None) -> None:
        self._signals += 1
        if self._signals > 1:
            log.warning("second signal: exiting at once")
            logging.shutdown()
            os._exit(1)
        log.info("stop requested%s: finishing the current batch", f" (signal {signal.Signals(signum).name})" if signum else "")
        self.stopping.set()

    def install_signal_handlers(self) -> None:
        signal.signal(signal.SIGTERM, self.request_stop)
        signal.signal(signal.SIGINT, self.request_stop)

    def active_jobs(self) -> list[str]:
        with self._active_lock:
            return sorted(self._active)

    def run(self, *, health_port: int | None = None) -> int:
        """Run until a signal; returns the exit status (0 clean, 1 a run outlived the timeout)."""
        if not self.schedules:
            log.error("no job to schedule: every job is disabled or none is installed")
            return 1
        self.install_signal_handlers()
        self.start_health_server(health_port)
        self.start_push_receiver()
        self.start_console()
        scheduler = self.build_scheduler()
        scheduler.start()
        log.info("daemon started (owner %s, %d job(s))", self.owner, len(self.schedules))
        while not self.stopping.wait(1.0):
            pass
        return self.shutdown()

    def shutdown(self) -> int:
        self.stopping.set()
        if self.scheduler is not None and self.scheduler.running:
            self.scheduler.shutdown(wait=False)
        deadline = time.monotonic() + self.config.daemon.shutdown_timeout
        while self.active_jobs() and time.monotonic() < deadline:
            time.sleep(0.05)
        still = self.active_jobs()
        self.stop_push_receiver()
        self.stop_console()
        if self.health_server is not None:
            self.health_server.stop()
        if still:
            log.error("run(s) of %s still going after %gs; exiting without them (their transactions roll back)",
                      ", ".join(still), self.config.daemon.shutdown_timeout)
            give_back_leases(self.engine, self.owner)
            return 1
        log.info("daemon stopped cleanly")
        return 0
