"""What every job is: a function ``run(ctx) -> RunResult``, with no scheduling and no argv.

The runner (`etl.runner`) takes the job's lock, opens its `sync_runs` row, calls the job and
records the outcome; `smspartner-etl sync --once` and the daemon share that one code path.
A job commits its own data, and finishes its run row with `etl.runlog.finish_run` *inside* the
transaction that commits the data, so the log never claims work the database does not hold.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from sqlalchemy import Engine

from etl.accounts import PARENT, AccountRef
from etl.api.protocol import ApiClient
from etl.config import Config, Secret
from etl.outcome import Outcome, RunResult

KeyLearner = Callable[[Iterable[tuple[str, Secret]]], None]
"""Takes (sub-account token, key) pairs the accounts job read (`etl.account_directory`)."""


def ignore_keys(_keys: Iterable[tuple[str, Secret]]) -> None:
    """The `KeyLearner` of a run outside a directory (a test, a one-account command)."""


@dataclass(frozen=True)
class JobContext:
    config: Config
    client: ApiClient
    engine: Engine
    #: The clock, aware UTC. Jobs read time only through this (tests pass a simulated clock).
    now: Callable[[], datetime]
    run_id: int
    force: bool = False
    #: Set by the daemon on SIGTERM: a job checks it between batches and stops early.
    should_stop: Callable[[], bool] = lambda: False
    #: Texts never to store (the API key): masked in what a job quarantines (`etl.quarantine`).
    secrets: tuple[str, ...] = ()
    #: The account this run is for: every row the job writes carries its id (docs/accounts.md).
    account: AccountRef = PARENT
    #: Where the accounts job hands the sub-account keys it read (token, key): memory only.
    learn_keys: KeyLearner = ignore_keys
    #: This run holds the job's lock. False: another instance holds it, and a job whose work instances
    #: share (`etl.jobs.SPLIT_JOBS`) does only its claimed work (docs/operations.md, "Several instances").
    exclusive: bool = True
    #: Who this instance is (``host:pid:random``, `etl.locking.default_owner`): claims are stamped with it.
    owner: str = ""


class JobFunction(Protocol):
    def __call__(self, ctx: JobContext) -> RunResult: ...


__all__ = ["JobContext", "JobFunction", "KeyLearner", "ignore_keys", "Outcome", "RunResult"]
