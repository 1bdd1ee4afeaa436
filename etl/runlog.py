"""The `sync_runs` table: open a run, finish it with the data, fail it, sweep abandoned runs."""

from __future__ import annotations

import os
import re
import socket
from collections.abc import Callable
from datetime import datetime
from typing import cast

from sqlalchemy import ColumnElement, Connection, Engine, func, select, update

from etl.accounts import PARENT_ID
from etl.db import dialect
from etl.db.schema import sync_runs
from etl.outcome import SYNCED, Outcome, RunResult

_SECRET_LIKE = re.compile(r"(?i)(apikey|api_key|password|passwd)=([^&\s]+)")
MAX_DETAIL = 4000


def redact(text: str, *secrets: str) -> str:
    """Remove every given secret and anything that looks like ``apiKey=...`` from ``text``."""
    for secret in secrets:
        if secret:
            text = text.replace(secret, "********")
    text = _SECRET_LIKE.sub(lambda m: f"{m.group(1)}=********", text)
    return text[:MAX_DETAIL]


def open_run(engine: Engine, job: str, now: datetime, account_id: int = PARENT_ID, owner: str | None = None) -> int:
    """Insert a ``running`` row for ``account_id`` and commit it, so a crash mid-run stays visible."""
    with engine.begin() as conn:
        result = conn.execute(
            sync_runs.insert().values(
                account_id=account_id,
                job=job,
                started_at=now,
                outcome=Outcome.RUNNING.value,
                rows_added=0,
                rows_changed=0,
                rows_removed=0,
                host=socket.gethostname()[:255],
                pid=os.getpid(),
                owner=owner,
            )
        )
        return dialect.inserted_id(result)


def finish_run(conn: Connection, run_id: int, result: RunResult, now: datetime) -> None:
    """Record the outcome; call inside the transaction that commits the job's data."""
    conn.execute(
        update(sync_runs)
        .where(sync_runs.c.id == run_id)
        .values(
            finished_at=now,
            outcome=Outcome(result.outcome).value,
            rows_added=result.added,
            rows_changed=result.changed,
            rows_removed=result.removed,
            detail=result.detail[:MAX_DETAIL] if result.detail else None,
        )
    )


def is_finished(engine: Engine, run_id: int) -> bool:
    with engine.connect() as conn:
        outcome = conn.execute(select(sync_runs.c.outcome).where(sync_runs.c.id == run_id)).scalar_one()
        conn.rollback()
    return bool(outcome != Outcome.RUNNING)


def fail_run(engine: Engine, run_id: int, outcome: Outcome, detail: str, now: datetime) -> None:
    """Mark a run failed/refused in its own transaction (the job's own was rolled back)."""
    with engine.begin() as conn:
        conn.execute(
            update(sync_runs)
            .where(sync_runs.c.id == run_id)
            .values(finished_at=now, outcome=outcome.value, detail=detail[:MAX_DETAIL])
        )


def sweep_abandoned(
    engine: Engine,
    job: str,
    current_run_id: int,
    now: datetime,
    account_id: int = PARENT_ID,
    *,
    gone: Callable[[str | None], bool] | None = None,
) -> int:
    """Mark other ``running`` rows of ``job`` for ``account_id`` as abandoned.

    Called while holding the job's lock for that account: no other instance can be running it, so
    any other ``running`` row of it belongs to a process that died (SIGKILL, power loss) mid-run.
    ``gone``: for runs that go on beside the lock holder (a split job's claimed work), only the rows
    whose instance it says is gone, by their ``owner``.
    """
    r = sync_runs.c
    others = (r.account_id == account_id, r.job == job, r.outcome == Outcome.RUNNING.value, r.id != current_run_id)
    with engine.begin() as conn:
        where: tuple[ColumnElement[bool], ...] = others
        if gone is not None:
            dead = [run_id for run_id, owner in conn.execute(select(r.id, r.owner).where(*others)) if gone(owner)]
            if not dead:
                return 0
            where = (*others, r.id.in_(dead))
        result = conn.execute(
            update(sync_runs)
            .where(*where)
            .values(outcome=Outcome.ABANDONED.value, finished_at=now, detail="the process died before finishing this run")
        )
        return int(result.rowcount or 0)


def last_success(conn: Connection, job: str, account_id: int = PARENT_ID) -> datetime | None:
    """Start time of the job's last run for ``account_id`` that synced (success or partial: `Outcome.synced`)."""
    r = sync_runs.c
    value = conn.execute(
        select(func.max(r.started_at)).where(r.account_id == account_id, r.job == job, r.outcome.in_(sorted(SYNCED)))
    ).scalar()
    return cast("datetime | None", value)
