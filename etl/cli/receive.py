"""``smspartner-etl receive``: run the push callback receiver alone, until SIGTERM or Ctrl-C.

The daemon (``run``) starts the same receiver itself when ``push.enabled``; this command is for
running it as its own service (e.g. on a host reachable by SMS Partner, the daemon elsewhere).
"""

from __future__ import annotations

import dataclasses
import logging
import signal
import threading
from types import FrameType

import click

from etl.cli._context import get_config, get_engine
from etl.cli._listen import BIND_ERRNOS, bind_error

log = logging.getLogger(__name__)


@click.command("receive")
@click.option("--host", default=None, help="Override push.host.")
@click.option("--port", type=int, default=None, help="Override push.port (0 = any free port).")
@click.option("--resolve-every", default=60.0, show_default=True, help="Seconds between passes over reports waiting for their message.")
@click.pass_context
def command(ctx: click.Context, host: str | None, port: int | None, resolve_every: float) -> None:
    """Receive SMS Partner callbacks (replies, STOP, delivery reports) into the database."""
    from etl.push.receiver import PushReceiver

    config = get_config(ctx)
    push = config.push
    if host is not None:
        push = dataclasses.replace(push, host=host)
    if port is not None:
        push = dataclasses.replace(push, port=port)
    try:
        receiver = PushReceiver(
            push, get_engine(ctx), default_region=config.api.default_region, resolve_every=resolve_every,
            dlr_costs=config.statuses.cost_source == "announced",
        )
    except OSError as exc:  # it binds at construction
        if exc.errno not in BIND_ERRNOS:
            raise
        raise bind_error("--port" if port is not None else "push.port", f"{push.host}:{push.port}", exc) from None
    stop = threading.Event()

    def on_signal(signum: int, _frame: FrameType | None) -> None:
        log.info("stop requested (signal %s): storing and applying what was accepted", signal.Signals(signum).name)
        stop.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    receiver.start()
    click.echo(f"push receiver listening on {push.host}:{receiver.port} (POST /<push.path_token>/stop and /<push.path_token>/dlr)")
    stop.wait()
    receiver.stop()
