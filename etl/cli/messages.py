"""`smspartner-etl messages cancel MESSAGE_ID`: cancel a scheduled send, audited."""

from __future__ import annotations

import click

from etl.cli._actions_output import account_option, report
from etl.cli._context import get_account_client, get_clock, get_engine


@click.group("messages")
def command() -> None:
    """Act on sent messages (each write is audited in write_actions)."""


@command.command("cancel")
@click.argument("message_id")
@click.option("--actor", default=None, help="Who asks (default: the OS user).")
@click.option("--reason", default=None, help="Why, for the audit trail.")
@click.option("--dry-run", is_flag=True, help="Show what would be done: no API call, no audit row.")
@account_option
@click.pass_context
def cancel_cmd(ctx: click.Context, message_id: str, actor: str | None, reason: str | None, dry_run: bool, account_label: str) -> None:
    """Cancel the scheduled send MESSAGE_ID (impossible less than 5 minutes before its time: API code 6)."""
    from etl.jobs import actions

    account, client = get_account_client(ctx, account_label, dry_run=dry_run)
    report(
        actions.cancel_message(
            client, get_engine(ctx), message_id, actor=actor, reason=reason, dry_run=dry_run, now=get_clock(ctx), account=account
        )
    )
