"""Prometheus metrics of one process, and the figures read from the database at scrape time.

Counters live in a `CollectorRegistry` of their own (not prometheus_client's global one), so tests
and two daemons in one interpreter never clash. Two sources:

- this process's events: runs by outcome, failures, skipped runs, rows written, run duration, and
  every API attempt through the client's ``observer`` callback (endpoint, outcome). The job figures carry
  an ``instance`` label (``daemon.instance``, else ``host:pid``): with N instances on one database, which one
  ran, skipped or failed (docs/operations.md, "Several instances");
- the database, read at each scrape by `DatabaseCollector` with count queries: last success per job
  (from ``sync_runs``, so it counts runs done by *any* instance), the open stop-list size and the
  messages still waiting for a final status. A missing table (a job not shipped yet, a database not
  migrated) just leaves its gauge out; a database outage sets ``smspartner_etl_database_up 0``.
"""

from __future__ import annotations

import logging
import os
import socket
from collections.abc import Callable, Iterable, Iterator, Sequence
from datetime import datetime, timezone
from typing import Protocol, TypeVar

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily, Metric
from prometheus_client.registry import Collector
from sqlalchemy import Connection, Engine, func, select, text
from sqlalchemy.exc import SQLAlchemyError

from etl import backlog, budget
from etl.accounts import PARENT, PARENT_ID, AccountRef
from etl.compliance import breaches, propagation
from etl.db.schema import accounts, rejected_items, sync_runs
from etl.outcome import SYNCED, Outcome, RunResult

log = logging.getLogger(__name__)

PREFIX = "smspartner_etl"

#: Gauges read from the database: (name, help, SQL). Each is skipped when its query fails
#: (table or column absent, e.g. a database not migrated to the statuses revision).
DB_GAUGES: tuple[tuple[str, str, str], ...] = (
    (
        f"{PREFIX}_stop_list_size",
        "Numbers currently on the STOP list (open stop periods).",
        "SELECT COUNT(*) FROM stop_periods WHERE removed_at IS NULL",
    ),
    (
        f"{PREFIX}_pending_messages",
        "Message recipients still waiting for a final delivery status.",
        # recipients.next_poll_at is NULL exactly when the recipient is final or expired.
        "SELECT COUNT(*) FROM recipients WHERE next_poll_at IS NOT NULL",
    ),
)


_T = TypeVar("_T")

class RunLike(Protocol):
    """What `Metrics.record_run` needs of a `etl.runner.RunReport`."""

    @property
    def job(self) -> str: ...

    @property
    def account(self) -> AccountRef: ...

    @property
    def outcome(self) -> Outcome: ...

    @property
    def seconds(self) -> float: ...

    @property
    def result(self) -> RunResult | None: ...


def default_instance() -> str:
    """``host:pid``: this process among the instances on one database, when ``daemon.instance`` is not set."""
    return f"{socket.gethostname()}:{os.getpid()}"


class Metrics:
    """This process's counters. ``observe_api`` is the API client's ``observer``; ``instance`` labels the job figures."""

    def __init__(self, registry: CollectorRegistry | None = None, *, instance: str | None = None) -> None:
        self.registry = registry if registry is not None else CollectorRegistry(auto_describe=True)
        self.instance = instance or default_instance()
        r = self.registry
        # Every job figure carries the account's label (``main``: the parent; docs/accounts.md) and this instance's.
        self.runs = Counter(f"{PREFIX}_runs", "Job runs that ended, by outcome.", ["job", "outcome", "account", "instance"], registry=r)
        self.failures = Counter(
            f"{PREFIX}_job_failures", "Job runs that failed or were refused.", ["job", "account", "instance"], registry=r
        )
        self.skipped = Counter(
            f"{PREFIX}_runs_skipped",
            "Scheduled runs not done: lock held elsewhere, or fresh already.",
            ["job", "reason", "account", "instance"],
            registry=r,
        )
        self.rows = Counter(
            f"{PREFIX}_rows", "Rows written by jobs, by kind of change.", ["job", "change", "account", "instance"], registry=r
        )
        self.duration = Histogram(
            f"{PREFIX}_run_duration_seconds",
            "Wall time of job runs.",
            ["job", "account", "instance"],
            buckets=(0.1, 0.5, 1, 5, 15, 60, 300, 900, 3600),
            registry=r,
        )
        self.api_calls = Counter(
            f"{PREFIX}_api_calls", "API attempts by endpoint and outcome (ok, retry, or the error class).", ["endpoint", "outcome"], registry=r
        )
        self.api_retries = Counter(f"{PREFIX}_api_retries", "API attempts that failed and were retried.", ["endpoint"], registry=r)
        # Claimed work (etl/db/claims.py): this instance's share of each account's polls and cost reads.
        self.claimed = Counter(
            f"{PREFIX}_claimed_pairs", "Pairs this instance claimed, by kind of work (poll, cost).", ["work", "account", "instance"],
            registry=r,
        )
        self.polled = Counter(
            f"{PREFIX}_polled_pairs", "Pairs this instance asked the API the status of.", ["account", "instance"], registry=r
        )
        self.cost_reads = Counter(
            f"{PREFIX}_cost_reads", "Cost reads (/message-status) this instance made.", ["account", "instance"], registry=r
        )
        self.claims_taken_over = Counter(
            f"{PREFIX}_claims_taken_over", "Claimed pairs taken over from an instance that died or stalled past its lease.",
            ["account", "instance"], registry=r,
        )
        self.last_run_end = Gauge(
            f"{PREFIX}_last_run_timestamp_seconds",
            "When this process last finished a run of the job.",
            ["job", "outcome", "account", "instance"],
            registry=r,
        )

    def observe_api(self, endpoint: str, outcome: str, attempt: int) -> None:
        self.api_calls.labels(endpoint=endpoint, outcome=outcome).inc()
        if outcome == "retry":
            self.api_retries.labels(endpoint=endpoint).inc()

    def record_run(self, report: RunLike) -> None:
        job, account, instance = report.job, report.account.label, self.instance
        self.runs.labels(job=job, outcome=report.outcome, account=account, instance=instance).inc()
        self.duration.labels(job=job, account=account, instance=instance).observe(report.seconds)
        self.last_run_end.labels(job=job, outcome=report.outcome, account=account, instance=instance).set_to_current_time()
        if report.outcome.failed:
            self.failures.labels(job=job, account=account, instance=instance).inc()
        result = report.result
        if result is not None:
            for change in ("added", "changed", "removed"):
                self.rows.labels(job=job, change=change, account=account, instance=instance).inc(getattr(result, change))
            figures = result.figures
            for work, figure in (("poll", "claimed"), ("cost", "cost_claimed")):
                if figures.get(figure):
                    self.claimed.labels(work=work, account=account, instance=instance).inc(figures[figure])
            for counter, figure in ((self.polled, "polled"), (self.cost_reads, "cost_reads"), (self.claims_taken_over, "claims_taken_over")):
                if figures.get(figure):
                    counter.labels(account=account, instance=instance).inc(figures[figure])

    def record_skip(self, job: str, reason: str, account: str = PARENT.label) -> None:
        self.skipped.labels(job=job, reason=reason, account=account, instance=self.instance).inc()

    def watch_database(self, engine: Engine, jobs: Sequence[str], *, now: Callable[[], datetime] | None = None) -> None:
        """Export the database figures at every scrape (``now``: the clock of time windows, UTC by default)."""
        self.registry.register(DatabaseCollector(engine, jobs, now=now))

    def exposition(self) -> bytes:
        return generate_latest(self.registry)


def last_successes(
    engine: Engine, jobs: Iterable[str], *, started: bool = False, account_id: int = PARENT_ID
) -> dict[str, datetime | None]:
    """When each job last finished (or with ``started``, began) a successful run for ``account_id``, by any instance (None: never)."""
    names = list(jobs)
    found: dict[str, datetime | None] = {name: None for name in names}
    column = sync_runs.c.started_at if started else sync_runs.c.finished_at
    with engine.connect() as conn:
        rows = conn.execute(
            select(sync_runs.c.job, func.max(column))
            .where(sync_runs.c.account_id == account_id, sync_runs.c.outcome.in_(sorted(SYNCED)), sync_runs.c.job.in_(names))
            .group_by(sync_runs.c.job)
        ).all()
        conn.rollback()
    for job, finished in rows:
        if finished is not None:
            found[job] = finished  # func.max keeps the column's UtcDateTime: aware UTC
    return found


def last_successes_by_account(engine: Engine, jobs: Iterable[str]) -> dict[tuple[str, str], datetime]:
    """When each job last finished a successful run, per (job, account label), by any instance."""
    r, a = sync_runs.c, accounts.c
    with engine.connect() as conn:
        rows = conn.execute(
            select(r.job, a.label, func.max(r.finished_at))
            .select_from(sync_runs.join(accounts, a.id == r.account_id))
            .where(r.outcome.in_(sorted(SYNCED)), r.job.in_(list(jobs)))
            .group_by(r.job, a.label)
        ).all()
        conn.rollback()
    return {(job, label): finished for job, label, finished in rows if finished is not None}


class DatabaseCollector(Collector):
    """Gauges computed from the database at scrape time."""

    def __init__(self, engine: Engine, jobs: Sequence[str], *, now: Callable[[], datetime] | None = None) -> None:
        self.engine = engine
        self.jobs = list(jobs)
        self.now = now or (lambda: datetime.now(timezone.utc))

    def describe(self) -> list[Metric]:
        return []  # unchecked collector: its families vary with the schema present

    def collect(self) -> Iterator[Metric]:
        up = GaugeMetricFamily(f"{PREFIX}_database_up", "1 when the last scrape could read the database.")
        try:
            successes = last_successes_by_account(self.engine, self.jobs)
        except SQLAlchemyError as exc:
            log.warning("metrics: database not readable: %s", type(exc).__name__)
            up.add_metric([], 0)
            yield up
            return
        up.add_metric([], 1)
        yield up
        last = GaugeMetricFamily(
            f"{PREFIX}_last_success_timestamp_seconds",
            "Unix time the job last finished successfully for the account, by any instance (from sync_runs).",
            labels=["job", "account"],
        )
        for (job, account), when in sorted(successes.items()):
            last.add_metric([job, account], when.timestamp())
        yield last
        for name, help_text, sql in DB_GAUGES:
            try:
                with self.engine.connect() as conn:
                    value = conn.execute(text(sql)).scalar()
                    conn.rollback()
            except SQLAlchemyError:
                continue
            gauge = GaugeMetricFamily(name, help_text)
            gauge.add_metric([], float(value or 0))
            yield gauge
        yield from self._rejected()
        yield from self._propagation()
        yield from self._breaches()
        yield from self._budget()
        yield from self._cost_backlog()

    def _read(self, read: Callable[[Connection], _T]) -> _T | None:
        """``read`` on a short read-only connection; None while the tables it needs are not migrated yet."""
        try:
            with self.engine.connect() as conn:
                result = read(conn)
                conn.rollback()
                return result
        except SQLAlchemyError:
            return None

    def _breaches(self) -> Iterator[Metric]:
        """Unacknowledged breaches per account (docs/compliance.md, "Breaches"); every known account gets a value."""
        read = self._read(
            lambda conn: ([label for (label,) in conn.execute(select(accounts.c.label).order_by(accounts.c.label))], breaches.open_counts(conn))
        )
        if read is None:
            return  # not migrated to 0016 yet
        labels, counts = read
        family = GaugeMetricFamily(
            f"{PREFIX}_breaches_unacknowledged",
            "Sends to numbers on the account's stop list (past the grace) no one has acknowledged yet.",
            labels=["account"],
        )
        for label in labels:
            family.add_metric([label], float(counts.get(label, 0)))
        yield family

    def _budget(self) -> Iterator[Metric]:
        """The shared API budget per account and endpoint class (etl/budget.py): slots, and those spent or held now."""
        use = self._read(lambda conn: budget.use_by_account(conn, self.now()))
        if not use:
            return  # not migrated to 0019 yet, or no instance has run with api.max_calls_per_minute
        used = GaugeMetricFamily(
            f"{PREFIX}_api_budget_used",
            "Calls of the shared API budget spent in the current window (or held after a 429), by account and endpoint class.",
            labels=["account", "endpoint_class"],
        )
        size = GaugeMetricFamily(
            f"{PREFIX}_api_budget_calls", "Calls the shared API budget allows per window, by account and endpoint class.",
            labels=["account", "endpoint_class"],
        )
        for row in use:
            used.add_metric([row.account, row.endpoint_class], float(row.used))
            size.add_metric([row.account, row.endpoint_class], float(row.slots))
        yield used
        yield size

    def _cost_backlog(self) -> Iterator[Metric]:
        """Cost reads due per account, and how late the oldest is (etl/backlog.py: one grouped read, partial index)."""
        rows = self._read(lambda conn: backlog.cost_backlog(conn, self.now()))
        if rows is None:
            return  # not migrated to the statuses revision yet
        due = GaugeMetricFamily(
            f"{PREFIX}_cost_backlog", "Recipients whose cost read is due (next_cost_at passed), by account.", labels=["account"]
        )
        age = GaugeMetricFamily(
            f"{PREFIX}_cost_backlog_age_seconds",
            "Seconds since the oldest due cost read of the account fell due (0: none due).",
            labels=["account"],
        )
        for row in rows:
            due.add_metric([row.account], float(row.due))
            age.add_metric([row.account], row.oldest_seconds)
        yield due
        yield age

    def _rejected(self) -> Iterator[Metric]:
        """Items quarantined, by endpoint: ``times_seen`` summed, so a repeat counts (etl/quarantine.py)."""
        rows = self._read(
            lambda conn: conn.execute(
                select(rejected_items.c.endpoint, func.sum(rejected_items.c.times_seen)).group_by(rejected_items.c.endpoint)
            ).all()
        )
        if rows is None:
            return  # not migrated to 0006 yet
        family = CounterMetricFamily(
            f"{PREFIX}_rejected_items", "API items and push bodies quarantined as unreadable, by endpoint.", labels=["endpoint"]
        )
        for endpoint, seen in rows:
            family.add_metric([endpoint], float(seen or 0))
        yield family

    def _propagation(self) -> Iterator[Metric]:
        """Seconds from each STOP to its stop being effective here, per account, over the last 30 days
        (etl/compliance/propagation.py; docs/compliance.md, "Attribution and propagation")."""
        delays = self._read(lambda conn: propagation.delays_by_account(conn, self.now()))
        if delays is None:
            return  # not migrated to 0014 yet
        family = HistogramMetricFamily(
            f"{PREFIX}_optout_propagation_seconds",
            "Seconds from a STOP (callback receipt or the list's createdAt) to its stop being effective here, opt-outs of the last 30 days.",
            labels=["account"],
        )
        for account, values in sorted(delays.items()):
            buckets, total = propagation.histogram(values)
            family.add_metric([account], buckets, total)
        yield family
