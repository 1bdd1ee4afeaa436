"""Run one job once: run-log row, the job, outcome. Shared by `sync --once` and the daemon."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timezone

from sqlalchemy import Engine

from etl import runlog
from etl.config import Config
from etl.db.engine import writer
from etl.errors import EtlError, SyncRefused
from etl.jobs import get_job
from etl.jobs.base import JobContext, RunResult

log = logging.getLogger(__name__)


def utcnow() -> datetime:
    return datetime.now(timezone.utc)


@dataclass(frozen=True)
class RunReport:
    job: str
    run_id: int | None
    outcome: str
    result: RunResult | None
    seconds: float
    error: str | None = None


def run_job(
    name: str,
    *,
    config: Config,
    client: object,
    engine: Engine,
    now: Callable[[], datetime] = utcnow,
    force: bool = False,
    should_stop: Callable[[], bool] = lambda: False,
) -> RunReport:
    """Run job ``name`` once and record it in `sync_runs`. Never raises for a job failure.

    Expected failures (`EtlError`) are logged as one line; anything else with its traceback.
    The API key is removed from every text written to the log table.
    """
    job = get_job(name)
    started = time.monotonic()
    run_id = runlog.open_run(engine, name, now())
    runlog.sweep_abandoned(engine, name, run_id, now())
    ctx = JobContext(
        config=config, client=client, engine=writer(engine), now=now, run_id=run_id, force=force, should_stop=should_stop  # type: ignore[arg-type]
    )
    secret = _api_key_text(client)
    try:
        result = job(ctx)
    except SyncRefused as exc:
        detail = runlog.redact(str(exc), secret)
        runlog.fail_run(engine, run_id, "refused", detail, now())
        log.error("job %s run %d refused: %s", name, run_id, detail)
        return RunReport(name, run_id, "refused", None, time.monotonic() - started, detail)
    except EtlError as exc:
        detail = runlog.redact(f"{type(exc).__name__}: {exc}", secret)
        runlog.fail_run(engine, run_id, "failed", detail, now())
        log.error("job %s run %d failed: %s", name, run_id, detail)
        return RunReport(name, run_id, "failed", None, time.monotonic() - started, detail)
    except Exception as exc:  # noqa: BLE001 - the runner is one of the two places allowed to
        detail = runlog.redact(f"{type(exc).__name__}: {exc}", secret)
        runlog.fail_run(engine, run_id, "failed", detail, now())
        log.exception("job %s run %d crashed: %s", name, run_id, detail)
        return RunReport(name, run_id, "failed", None, time.monotonic() - started, detail)
    if not runlog.is_finished(engine, run_id):
        # A job with nothing to commit may leave the row to us.
        with engine.begin() as conn:
            runlog.finish_run(conn, run_id, result, now())
    seconds = time.monotonic() - started
    log.info(
        "job %s run %d %s: added=%d changed=%d removed=%d in %.2fs%s",
        name, run_id, result.outcome, result.added, result.changed, result.removed, seconds,
        "".join(f" {k}={v}" for k, v in result.figures.items()),
    )
    return RunReport(name, run_id, result.outcome, result, seconds)


def _api_key_text(client: object) -> str:
    key = getattr(client, "api_key", None)
    reveal = getattr(key, "reveal", None)
    return reveal() if callable(reveal) else ""
