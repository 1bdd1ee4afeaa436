"""The `smspartner-etl` group finds every command module and imports only the one asked for."""

from __future__ import annotations

import ast
import subprocess
import sys

import click
from click.testing import CliRunner

from etl.cli import cli


def test_every_command_module_gives_the_command_named_after_it() -> None:
    ctx = click.Context(cli)
    names = cli.list_commands(ctx)
    assert {"db", "doctor", "filter-audience", "messages", "receive", "rentals", "run", "simulator", "stops", "sync", "track"} <= set(names)
    for name in names:
        command = cli.get_command(ctx, name)
        assert command is not None and command.name == name


def test_help_lists_every_command_with_its_summary() -> None:
    result = CliRunner().invoke(cli, ["--help"])
    assert result.exit_code == 0
    assert "filter-audience  Check INPUT against the synced stop list" in result.output


def test_an_unknown_command_is_a_usage_error() -> None:
    result = CliRunner().invoke(cli, ["no-such-command"])
    assert result.exit_code == 2 and "No such command 'no-such-command'" in result.output


def test_a_command_imports_only_its_own_module() -> None:
    probe = (
        "import sys\n"
        "from etl.cli import cli\n"
        "try:\n"
        "    cli(['sync', '--help'], prog_name='smspartner-etl')\n"
        "except SystemExit:\n"
        "    pass\n"
        "print(sorted(m for m in sys.modules if m.startswith('etl.cli.') or m in ('aiohttp', 'numpy')))\n"
    )
    loaded = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True).stdout.splitlines()[-1]
    commands = {name for name in ast.literal_eval(loaded) if not name.startswith("etl.cli._")}
    assert commands == {"etl.cli.sync", "etl.cli.run"}  # sync reuses run's job list; nothing else, no aiohttp, no numpy
