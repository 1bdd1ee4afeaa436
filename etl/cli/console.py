"""`smspartner-etl console [--host --port]`: serve the web console alone, until SIGTERM or Ctrl-C.

The daemon (``run``) serves the same console itself when ``[console] enabled`` (docs/console.md).
"""

from __future__ import annotations

import click

from etl.cli._context import get_config, get_engine
from etl.cli._listen import check_free


@click.command("console")
@click.option("--host", default=None, help="Override console.host.")
@click.option("--port", type=int, default=None, help="Override console.port.")
@click.pass_context
def command(ctx: click.Context, host: str | None, port: int | None) -> None:
    """Serve the web console (overview, runs, number lookup) on console.host:console.port."""
    import uvicorn

    from etl.console import users
    from etl.console.server import uvicorn_config

    config = get_config(ctx)
    engine = get_engine(ctx)
    if not users.list_users(engine):  # also names an unmigrated database, in one sentence (etl.cli)
        click.echo("no console user yet: add one with `smspartner-etl users add NAME --role admin`", err=True)
    host = host or config.console.host
    port = config.console.port if port is None else port
    check_free("--port" if port != config.console.port else "console.port", host, port)
    click.echo(f"console on http://{host}:{port}/ (sign in with a user from `smspartner-etl users add`)")
    uvicorn.Server(uvicorn_config(config, engine, host=host, port=port)).run()  # wall-clock time: sessions expire in real time
