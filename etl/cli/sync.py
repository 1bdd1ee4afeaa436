"""`smspartner-etl sync [JOB...] --once`: run jobs once in the foreground, through the daemon's code path.

For cron users and debugging. Each job runs under its database lock, exactly as in the daemon.
Exit status (`etl.outcome.exit_code_of`): 0 all good, a ``partial`` run included (its data was
applied; the line says how many items were quarantined); 1 a job failed, or a signal cut the runs
short; 3 a guard refused a sync (``--force`` to override); 75 (EX_TEMPFAIL) a job was skipped
because another instance holds its lock.
"""

from __future__ import annotations

import signal
import sys
import threading
from types import FrameType
from typing import TYPE_CHECKING

import click

from etl.cli._context import get_clock, get_config, get_engine
from etl.cli.run import verbosity_level
from etl.outcome import ExitCode, Outcome, exit_code_of

if TYPE_CHECKING:
    from etl.runner import RunReport


@click.command("sync")
@click.argument("jobs", nargs=-1)
@click.option("--once", is_flag=True, default=True, help="Run once and exit (the only mode; `run` is the daemon).")
@click.option("--force", is_flag=True, help="Apply a sync a safety guard would refuse.")
@click.pass_context
def command(ctx: click.Context, jobs: tuple[str, ...], once: bool, force: bool) -> None:
    """Run JOBs (default: every enabled job) once, in order, and report each."""
    from etl.account_directory import wire
    from etl.daemon import scheduled_jobs
    from etl.jobs import PARENT_ONLY_JOBS
    from etl.logging_setup import configure_logging
    from etl.runner import run_job

    config = get_config(ctx)
    names = list(scheduled_jobs(config, jobs))
    key = config.api_key()
    mask = configure_logging(config.daemon.log_format, level=verbosity_level(ctx), secrets=[key.reveal()])
    engine = get_engine(ctx)
    stop = threading.Event()

    def on_signal(signum: int, _frame: FrameType | None) -> None:
        if stop.is_set():
            sys.exit(ExitCode.FAILED)  # a second signal: stop now
        stop.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    accounts, factory = wire(config, engine, on_secret=mask.add)
    outcomes: list[Outcome] = []
    for name in names:
        for account in accounts.followed()[:1] if name in PARENT_ONLY_JOBS else accounts.followed():
            if stop.is_set():
                break
            client = factory(account.key)
            try:
                report = run_job(
                    name, config=config, client=client, engine=engine, now=get_clock(ctx), force=force,
                    should_stop=stop.is_set, account=account.ref, learn_keys=accounts.learn,
                )
            finally:
                client.close()
            outcomes.append(report.outcome)
            click.echo(_line(name, report))
    engine.dispose()
    code = ExitCode.FAILED if stop.is_set() else exit_code_of(outcomes)
    if code != ExitCode.OK:
        sys.exit(code)


def _line(name: str, report: RunReport) -> str:
    """``stops@shop: success run #12 (added 3, changed 0, removed 1) in <seconds>``."""
    if report.result is not None:
        r = report.result
        figures = f"added {r.added}, changed {r.changed}, removed {r.removed}"
    else:
        figures = report.error or ""
    run = f" run #{report.run_id}" if report.run_id else ""
    return f"{report.account.shown(name)}: {report.outcome}{run} ({figures}) in {report.seconds:.2f}s"
