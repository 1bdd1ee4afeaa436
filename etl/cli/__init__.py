"""The `smspartner-etl` command: one click group, one small module per command.

Every module in this package whose name does not start with ``_`` defines a module-level
``command`` (a click command or group) named after the module (``filter_audience`` ->
``filter-audience``); it is found automatically, so adding a command never touches this file.
Modules are imported only when their command is asked for: importing all of them (aiohttp for
``receive``, numpy for ``filter-audience``, ...) delayed every command, which a ``sync`` from cron
or a systemd timer paid each time (docs/benchmarks.md, "Design figures elsewhere in etl/", C1). Each `EtlError` becomes a one-line message
and an exit code; so does a database error that escapes a command, once `_database.explain` has
named it (unreachable, not migrated). Nothing else is caught here.
"""

from __future__ import annotations

import functools
import importlib
import logging
import pkgutil
import sys
from typing import Any, NoReturn

import click

from etl.errors import (
    ConfigError,
    DatabaseUnavailable,
    EtlError,
    InputError,
    LockHeld,
    NotMigrated,
    StaleData,
    SyncRefused,
)
from etl.outcome import ExitCode

#: The nearest class in an error's MRO gives its exit code; any other `EtlError` exits 1.
EXIT_CODES: dict[type[EtlError], ExitCode] = {
    ConfigError: ExitCode.CONFIG,
    InputError: ExitCode.DATAERR,
    SyncRefused: ExitCode.REFUSED,
    StaleData: ExitCode.STALE,
    LockHeld: ExitCode.TEMPFAIL,
    DatabaseUnavailable: ExitCode.UNAVAILABLE,
    NotMigrated: ExitCode.CONFIG,  # the installation is not finished
}


def exit_code_for(error: EtlError) -> ExitCode:
    for cls in type(error).__mro__:
        if cls in EXIT_CODES:
            return EXIT_CODES[cls]
    return ExitCode.FAILED


class EtlGroup(click.Group):
    """The top group: commands loaded on demand from this package's modules, errors as exit codes."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(set(super().list_commands(ctx)) | set(_command_modules()))

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        known = super().get_command(ctx, cmd_name)
        if known is not None or cmd_name not in _command_modules():
            return known
        module = importlib.import_module(f"{__name__}.{_command_modules()[cmd_name]}")
        command = getattr(module, "command", None)
        if not isinstance(command, click.Command) or command.name != cmd_name:
            raise RuntimeError(f"{module.__name__} must define a click command named {cmd_name!r}")
        self.add_command(command)
        return command

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except EtlError as error:
            _fail(error)
        except Exception as error:  # noqa: BLE001 - only a database error we can name is caught, the rest re-raised
            from etl.cli._database import explain

            obj = ctx.obj or {}
            config = obj.get("config")
            named = explain(error, config.database.url if config is not None else None, upgrading=bool(obj.get("upgrading")))
            if named is None:
                raise
            _fail(named)


def _fail(error: EtlError) -> NoReturn:
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


@functools.cache
def _command_modules() -> dict[str, str]:
    """Command name -> module name, for every public module of this package (none imported)."""
    return {info.name.replace("_", "-"): info.name for info in pkgutil.iter_modules(__path__) if not info.name.startswith("_")}


def main() -> None:
    cli(prog_name="smspartner-etl")
