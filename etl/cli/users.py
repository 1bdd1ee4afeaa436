"""`smspartner-etl users add|list|remove|passwd`: who may sign in to the web console (docs/console.md).

A password is read from a hidden prompt (asked twice) or, with ``--password-stdin``, from the first line of
standard input (for scripts); never from the command line, where ``ps`` and shell history would show it. Times are wall-clock UTC
(``api.clock`` is the jobs' time; people sign in in real time).
"""

from __future__ import annotations

import sys

import click

from etl.cli._context import get_engine
from etl.clock import utcnow
from etl.db.schema import ROLES

_password_stdin = click.option("--password-stdin", is_flag=True, help="Read the password from the first line of standard input.")


def _read_password(from_stdin: bool) -> str:
    if from_stdin:
        return sys.stdin.readline().rstrip("\r\n")
    return str(click.prompt("Password", hide_input=True, confirmation_prompt=True))


@click.group("users")
def command() -> None:
    """Console users and their roles (viewer, marketing, admin)."""


@command.command("add")
@click.argument("name")
@click.option("--role", type=click.Choice(ROLES), required=True, help="viewer: read; marketing: + audience checks; admin: everything.")
@_password_stdin
@click.pass_context
def add_cmd(ctx: click.Context, name: str, role: str, password_stdin: bool) -> None:
    """Add a user who may sign in to the console."""
    from etl.console import users

    users.check_name(name)  # refused before the prompt
    user = users.add(get_engine(ctx), name, role, _read_password(password_stdin), utcnow())
    click.echo(f"user {user.name} added ({user.role})")


@command.command("list")
@click.pass_context
def list_cmd(ctx: click.Context) -> None:
    """Every user, their role and when they were added."""
    from etl.console import users

    found = users.list_users(get_engine(ctx))
    if not found:
        click.echo("no console users; add one with `smspartner-etl users add NAME --role admin`")
    for user in found:
        click.echo(f"{user.name}\t{user.role}\t{user.created_at.isoformat(timespec='seconds')}")


@command.command("remove")
@click.argument("name")
@click.pass_context
def remove_cmd(ctx: click.Context, name: str) -> None:
    """Remove a user; their sessions end at once."""
    from etl.console import users

    users.remove(get_engine(ctx), name)
    click.echo(f"user {name} removed")


@command.command("passwd")
@click.argument("name")
@_password_stdin
@click.pass_context
def passwd_cmd(ctx: click.Context, name: str, password_stdin: bool) -> None:
    """Set a user's password; their sessions end."""
    from etl.console import users

    if users.find(get_engine(ctx), name) is None:
        from etl.errors import InputError

        raise InputError(f"no user named {name!r}")
    users.set_password(get_engine(ctx), name, _read_password(password_stdin), utcnow())
    click.echo(f"password of {name} changed; their sessions have ended")
