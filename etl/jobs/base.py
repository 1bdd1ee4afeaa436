"""What every job is: a function ``run(ctx) -> RunResult``, with no scheduling and no argv.

The runner (`etl.runner`) takes the job's lock, opens its `sync_runs` row, calls the job and
records the outcome; `smspartner-etl sync --once` and the daemon share that one code path.
A job commits its own data, and finishes its run row with `etl.runlog.finish_run` *inside* the
transaction that commits the data, so the log never claims work the database does not hold.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Protocol

from sqlalchemy import Engine

from etl.config import Config

if TYPE_CHECKING:
    from etl.api.client import SmsPartnerClient


@dataclass(frozen=True)
class RunResult:
    """Counts a job reports; ``outcome`` is ``success`` unless the job says otherwise."""

    added: int = 0
    changed: int = 0
    removed: int = 0
    outcome: str = "success"
    detail: str | None = None
    #: Extra figures for the log line and metrics (e.g. API calls per endpoint).
    figures: dict[str, int | float] = field(default_factory=dict)


@dataclass(frozen=True)
class JobContext:
    config: Config
    client: "SmsPartnerClient"
    engine: Engine
    #: The clock, aware UTC. Jobs read time only through this (tests pass a simulated clock).
    now: Callable[[], datetime]
    run_id: int
    force: bool = False
    #: Set by the daemon on SIGTERM: a job checks it between batches and stops early.
    should_stop: Callable[[], bool] = lambda: False
    #: Texts never to store (the API key): masked in what a job quarantines (`etl.quarantine`).
    secrets: tuple[str, ...] = ()


class JobFunction(Protocol):
    def __call__(self, ctx: JobContext) -> RunResult: ...
