"""`smspartner-etl stops add NUMBER` / `stops remove NUMBER|--id ID --consent-evidence TEXT [--override]`: audited
writes to the account's stop list."""

from __future__ import annotations

import click

from etl.cli._actions_output import account_option, region, report
from etl.cli._context import get_account_client, get_clock, get_config, get_engine

_actor = click.option("--actor", default=None, help="Who asks (default: the OS user).")
_reason = click.option("--reason", default=None, help="Why, for the audit trail.")
_dry_run = click.option("--dry-run", is_flag=True, help="Show what would be done: no API call, no audit row.")


@click.group("stops")
def command() -> None:
    """Add or remove numbers in an account's STOP list (each write is audited in write_actions)."""


@command.command("add")
@click.argument("number")
@_actor
@_reason
@_dry_run
@click.option("--force", is_flag=True, help="Send even when the synced stop list already has NUMBER (the API would hold two stops).")
@account_option
@click.pass_context
def add_cmd(
    ctx: click.Context, number: str, actor: str | None, reason: str | None, dry_run: bool, force: bool, account_label: str
) -> None:
    """Add NUMBER (any common format; national numbers are read in api.default_region).

    A number already open in the synced stop list is refused (exit 65), nothing sent; --force sends anyway."""
    from etl import phones
    from etl.jobs import actions

    e164 = phones.normalize(number, region(get_config(ctx)))  # refused here, before any call or row
    account, client = get_account_client(ctx, account_label, dry_run=dry_run)
    report(
        actions.add_stop(
            client, get_engine(ctx), e164, actor=actor, reason=reason, dry_run=dry_run, force=force, now=get_clock(ctx),
            account=account,
        )
    )


@command.command("remove")
@click.argument("number", required=False)
@click.option("--id", "stop_id", type=int, default=None, help="The stop list's id instead of a number.")
@click.option("--consent-evidence", "consent_evidence", default=None, metavar="TEXT",
              help="Required: how the number opted back in (a form reference, a URL, a date); kept on the audit row.")
@click.option("--override", is_flag=True,
              help="Remove a stop from a STOP reply within [compliance] stop_reply_cooloff anyway (needs --reason; audited).")
@_actor
@_reason
@_dry_run
@account_option
@click.pass_context
def remove_cmd(
    ctx: click.Context, number: str | None, stop_id: int | None, consent_evidence: str | None, override: bool,
    actor: str | None, reason: str | None, dry_run: bool, account_label: str,
) -> None:
    """Remove NUMBER (or --id ID) from the stop list; its stop period is closed as removed by this tool.

    Refused (exit 65) without --consent-evidence, and within the cool-off after a STOP reply without --override
    (docs/compliance.md, "Removing an opt-out")."""
    from etl import phones
    from etl.errors import InputError
    from etl.jobs import actions
    from etl.jobs.actions.consent import evidence_of

    if (number is None) == (stop_id is None):
        raise InputError("give a NUMBER or --id ID (one of them)")
    if stop_id is not None:
        stop_id = actions.parse_stop_id(str(stop_id), "--id")
    evidence_of(consent_evidence or "")  # refused here, before the database and the account's key are reached
    config = get_config(ctx)
    e164 = phones.normalize(number, region(config)) if number is not None else None
    account, client = get_account_client(ctx, account_label, dry_run=dry_run)
    report(
        actions.remove_stop(
            client, get_engine(ctx), e164, stop_id=stop_id, consent_evidence=consent_evidence or "", override=override,
            cooloff=config.compliance.stop_reply_cooloff, actor=actor, reason=reason, dry_run=dry_run, now=get_clock(ctx),
            account=account,
        )
    )
