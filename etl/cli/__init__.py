"""The `smspartner-etl` command: one click group, one small module per command.

Every module in this package that defines a module-level ``command`` (a click command or group)
is registered automatically, so adding a command never touches this file. Each `EtlError`
becomes a one-line message and an exit code; nothing else is caught here.
"""

from __future__ import annotations

import importlib
import logging
import pkgutil
import sys
from typing import Any

import click

from etl.errors import ConfigError, EtlError, InputError, LockHeld, StaleData, SyncRefused

EXIT_CODES: dict[type[EtlError], int] = {
    ConfigError: 78,  # EX_CONFIG
    InputError: 65,  # EX_DATAERR
    SyncRefused: 3,
    StaleData: 4,
    LockHeld: 75,  # EX_TEMPFAIL
}


def exit_code_for(error: EtlError) -> int:
    for cls in type(error).__mro__:
        if cls in EXIT_CODES:
            return EXIT_CODES[cls]
    return 1


class EtlGroup(click.Group):
    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except EtlError as error:
            click.echo(f"error: {error}", err=True)
            sys.exit(exit_code_for(error))


@click.group(cls=EtlGroup)
@click.option("--config", "config_path", type=click.Path(dir_okay=False), default=None, help="TOML config file.")
@click.option("-v", "--verbose", count=True, help="More logging (-v info, -vv debug).")
@click.pass_context
def cli(ctx: click.Context, config_path: str | None, verbose: int) -> None:
    """Mirror an SMS Partner account into SQLite, PostgreSQL or MariaDB."""
    ctx.ensure_object(dict)
    ctx.obj["config_path"] = config_path
    if not logging.getLogger().handlers:
        level = logging.WARNING - 10 * min(verbose, 2) if verbose else logging.INFO
        logging.basicConfig(level=level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
        if verbose < 2:
            logging.getLogger("alembic").setLevel(logging.WARNING)


def _register() -> None:
    for info in pkgutil.iter_modules(__path__):
        if info.name.startswith("_"):
            continue
        module = importlib.import_module(f"{__name__}.{info.name}")
        command = getattr(module, "command", None)
        if isinstance(command, click.Command):
            cli.add_command(command)


_register()


def main() -> None:
    cli(prog_name="smspartner-etl")
