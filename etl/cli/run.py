"""`smspartner-etl run [JOB...]`: the daemon (scheduler, health endpoint, clean stop on SIGTERM)."""

from __future__ import annotations

import logging
import os
import sys

import click

from etl.cli._context import get_clock, get_config, get_engine


def verbosity_level(ctx: click.Context) -> int:
    verbose = int(ctx.find_root().params.get("verbose") or 0)
    return logging.DEBUG if verbose >= 2 else logging.INFO


@click.command("run")
@click.argument("jobs", nargs=-1)
@click.option("--health-port", type=int, default=None, help="Override daemon.health_port (0 = off).")
@click.pass_context
def command(ctx: click.Context, jobs: tuple[str, ...], health_port: int | None) -> None:
    """Run the scheduler until SIGTERM: every enabled job (or the JOBs named) on its schedule."""
    from etl.daemon import Daemon, make_client_factory
    from etl.logging_setup import configure_logging
    from etl.metrics import Metrics

    config = get_config(ctx)
    key = config.api_key()  # a missing key is a config error now, not at the first run
    configure_logging(config.daemon.log_format, level=verbosity_level(ctx), secrets=[key.reveal()])
    metrics = Metrics()
    engine = get_engine(ctx)
    daemon = Daemon(
        config, engine, client_factory=make_client_factory(config, metrics), metrics=metrics, jobs=jobs, job_clock=get_clock(ctx)
    )
    metrics.watch_database(engine, list(daemon.schedules))
    code = daemon.run(health_port=health_port)
    logging.shutdown()
    if code != 0:
        # A run still holds a worker thread; the interpreter would wait for it at exit.
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)
    engine.dispose()
    sys.exit(0)
