"""`smspartner-etl run [JOB...]`: the daemon (scheduler, health endpoint, clean stop on SIGTERM)."""

from __future__ import annotations

import logging
import os
import sys

import click

from etl.cli._context import get_clock, get_config, get_engine, get_read_engine
from etl.cli._listen import BIND_ERRNOS, bind_error, check_free
from etl.config import Config


def verbosity_level(ctx: click.Context) -> int:
    verbose = int(ctx.find_root().params.get("verbose") or 0)
    return logging.DEBUG if verbose >= 2 else logging.INFO


def _listeners(config: Config, health_port: int | None) -> list[tuple[str, str, int]]:
    """(config key, host, port) of each port the daemon will listen on."""
    port = config.daemon.health_port if health_port is None else health_port
    out = [("daemon.health_port", config.daemon.health_host, port)] if port else []
    if config.push.enabled:
        out.append(("push.port", config.push.host, config.push.port))
    if config.console.enabled:
        out.append(("console.port", config.console.host, config.console.port))
    return out


@click.command("run")
@click.argument("jobs", nargs=-1)
@click.option("--health-port", type=int, default=None, help="Override daemon.health_port (0 = off).")
@click.pass_context
def command(ctx: click.Context, jobs: tuple[str, ...], health_port: int | None) -> None:
    """Run the scheduler until SIGTERM: every enabled job (or the JOBs named) on its schedule."""
    from etl.account_directory import wire
    from etl.daemon import Daemon
    from etl.logging_setup import configure_logging
    from etl.metrics import Metrics

    config = get_config(ctx)
    key = config.api_key()  # a missing key is a config error now, not at the first run
    mask = configure_logging(config.daemon.log_format, level=verbosity_level(ctx), secrets=[key.reveal()])
    metrics = Metrics(instance=config.daemon.instance or None)
    engine = get_engine(ctx)
    accounts, factory = wire(config, engine, on_secret=mask.add, observer=metrics.observe_api)
    daemon = Daemon(
        config, engine, client_factory=factory, accounts=accounts, metrics=metrics, jobs=jobs, job_clock=get_clock(ctx)
    )
    metrics.watch_database(get_read_engine(ctx), list(daemon.schedules))  # a replica when database.read_url is set
    listeners = _listeners(config, health_port)
    for setting, host, port in listeners:
        check_free(setting, host, port)
    try:
        code = daemon.run(health_port=health_port)
    except OSError as exc:
        if exc.errno not in BIND_ERRNOS or not listeners:
            raise
        daemon.shutdown()  # taken between the check and the start: stop what did start
        settings = " or ".join(setting for setting, _, _ in listeners)
        raise bind_error(settings, " or ".join(f"{host}:{port}" for _, host, port in listeners), exc) from None
    logging.shutdown()
    if code != 0:
        # A run still holds a worker thread; the interpreter would wait for it at exit.
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)
    engine.dispose()
    sys.exit(0)
