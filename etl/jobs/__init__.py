"""The jobs, by name. Each module exposes ``run(ctx: JobContext) -> RunResult``.

Jobs never import each other; the registry maps a name to its module path so importing the
registry stays cheap (the CLI lists jobs without importing every dependency).
"""

from __future__ import annotations

import importlib

from etl.jobs.base import JobContext, JobFunction, RunResult

#: Order matters for `sync --once` with no names: accounts first (who to run for), then stops (the legal core).
JOB_MODULES: dict[str, str] = {
    "accounts": "etl.jobs.accounts",
    "stops": "etl.jobs.stops",
    "statuses": "etl.jobs.statuses",
    "finance": "etl.jobs.finance",
    "rentals": "etl.jobs.rentals",
    "contacts": "etl.jobs.contacts",
    "actions": "etl.jobs.actions",
    "retention": "etl.jobs.retention",
}

#: Jobs about the whole login, run once per cycle for the parent account (not for each sub-account).
PARENT_ONLY_JOBS: frozenset[str] = frozenset({"accounts"})

#: Jobs whose work instances split where the database claims rows (PostgreSQL, MariaDB; `etl.db.claims`):
#: an instance that cannot get the job's lock still runs, with ``ctx.exclusive`` False, and does only the
#: job's claimed work. Every other job excludes: a second instance skips it as ``locked``.
SPLIT_JOBS: frozenset[str] = frozenset({"statuses"})


def job_names() -> list[str]:
    return list(JOB_MODULES)


def get_job(name: str) -> JobFunction:
    """The ``run`` function of job ``name``; KeyError for an unknown name."""
    module = importlib.import_module(JOB_MODULES[name])
    return module.run  # type: ignore[no-any-return]


__all__ = ["JobContext", "JobFunction", "RunResult", "get_job", "job_names", "JOB_MODULES", "PARENT_ONLY_JOBS", "SPLIT_JOBS"]
