"""`smspartner-etl accounts ...`: the parent's sub-accounts.

Audited writes (each a `write_actions` row, made with the parent's key; docs/rentals-and-actions.md,
"Sub-account writes"): ``accounts credit add|remove SUB AMOUNT``, ``accounts create``, ``accounts remove SUB``.
SUB is a label or token from the ``accounts`` table. ``remove`` and the credit moves ask first unless ``--yes``.

Read: ``accounts list [--all]`` (the table, with each account's last stop sync, latest balance and the push
callback paths SMS Partner must call for it, the token shown as ``<path_token>``: docs/push.md).
"""

from __future__ import annotations

import click

from etl.cli._actions_output import report
from etl.cli._context import get_client, get_clock, get_engine

_actor = click.option("--actor", default=None, help="Who asks (default: the OS user).")
_reason = click.option("--reason", required=True, help="Why, for the audit trail (required).")
_dry_run = click.option("--dry-run", is_flag=True, help="Show what would be done: no API call, no audit row.")
_yes = click.option("--yes", is_flag=True, help="Do not ask for confirmation.")


@click.group("accounts")
def command() -> None:
    """The parent account's sub-accounts (writes are audited in write_actions)."""


# ---------------------------------------------------------------------------------------------- reads


@command.command("list")
@click.option("--all", "show_all", is_flag=True, help="Also show sub-accounts gone from subaccount/list.")
@click.pass_context
def list_cmd(ctx: click.Context, show_all: bool) -> None:
    """The accounts this database mirrors: the parent and each sub-account, its last stop sync, balance and
    push callback paths (the token shown as <path_token>)."""
    from sqlalchemy import func, select

    from etl.accounts import PARENT_ID
    from etl.db.schema import account_snapshots, accounts, sync_runs
    from etl.outcome import SYNCED
    from etl.push.routes import path_of

    a, r, b = accounts.c, sync_runs.c, account_snapshots.c
    synced = (
        select(r.account_id, func.max(r.started_at).label("at"))
        .where(r.job == "stops", r.outcome.in_(sorted(SYNCED)))
        .group_by(r.account_id)
        .subquery()
    )
    latest = select(b.account_id, func.max(b.id).label("id")).group_by(b.account_id).subquery()
    query = (
        select(a.id, a.label, a.type, a.email, a.gone_since, synced.c.at, b.balance, b.currency)
        .outerjoin(synced, synced.c.account_id == a.id)
        .outerjoin(latest, latest.c.account_id == a.id)
        .outerjoin(account_snapshots, b.id == latest.c.id)
        .order_by(a.id)
    )
    if not show_all:
        query = query.where(a.gone_since.is_(None))
    with get_engine(ctx).connect() as conn:
        rows = conn.execute(query).all()
        conn.rollback()
    click.echo(f"{'id':>4}  {'label':<24} {'type':<8} {'email':<28} {'stops synced (UTC)':<18} {'balance':>12}  push paths")
    for row in rows:
        synced_at = row.at.strftime("%Y-%m-%d %H:%M") if row.at else "never"
        balance = f"{row.balance:.3f} {row.currency or ''}".strip() if row.balance is not None else "-"
        gone = f"  gone since {row.gone_since:%Y-%m-%d %H:%M}" if row.gone_since else ""
        push = path_of(None if row.id == PARENT_ID else row.label, "stop|dlr")
        click.echo(f"{row.id:>4}  {row.label[:24]:<24} {row.type:<8} {(row.email or '-')[:28]:<28} {synced_at:<18} "
                   f"{balance:>12}  {push}{gone}")


# ---------------------------------------------------------------------------------------------- writes
@command.group("credit")
def credit() -> None:
    """Move euros between the parent and a sub-account."""


def _confirm(question: str, yes: bool, dry_run: bool) -> None:
    """Ask unless ``--yes`` or a dry run; "no" (or no terminal to answer on) stops with exit 1, nothing sent."""
    if yes or dry_run:
        return
    try:
        confirmed = click.confirm(question, default=False, err=True)
    except click.Abort:  # end of input: nobody said yes
        confirmed = False
    if not confirmed:
        click.echo("not confirmed: nothing sent (--yes skips the question)", err=True)
        raise SystemExit(1)


def _move(ctx: click.Context, sub: str, amount: str, *, to_sub: bool, actor: str | None, reason: str, dry_run: bool, yes: bool) -> None:
    from etl.accounts import PARENT
    from etl.jobs import actions
    from etl.jobs.actions.subaccounts import find_subaccount

    euros = actions.parse_amount(amount)  # refused here, before the question, any call or row
    label = find_subaccount(get_engine(ctx), sub).label
    way = f"from {PARENT.label} to {label}" if to_sub else f"from {label} to {PARENT.label}"
    _confirm(f"Move {euros} EUR {way}?", yes, dry_run)
    client = None if dry_run else get_client(ctx)
    move = actions.credit_add if to_sub else actions.credit_remove
    report(move(client, get_engine(ctx), sub, euros, actor=actor, reason=reason, dry_run=dry_run, now=get_clock(ctx)))


@credit.command("add")
@click.argument("sub")
@click.argument("amount")
@_actor
@_reason
@_dry_run
@_yes
@click.pass_context
def credit_add_cmd(ctx: click.Context, sub: str, amount: str, actor: str | None, reason: str, dry_run: bool, yes: bool) -> None:
    """Move AMOUNT euros (at most 3 decimals) from the parent to the sub-account SUB (label or token)."""
    _move(ctx, sub, amount, to_sub=True, actor=actor, reason=reason, dry_run=dry_run, yes=yes)


@credit.command("remove")
@click.argument("sub")
@click.argument("amount")
@_actor
@_reason
@_dry_run
@_yes
@click.pass_context
def credit_remove_cmd(ctx: click.Context, sub: str, amount: str, actor: str | None, reason: str, dry_run: bool, yes: bool) -> None:
    """Move AMOUNT euros (at most 3 decimals) from the sub-account SUB (label or token) back to the parent."""
    _move(ctx, sub, amount, to_sub=False, actor=actor, reason=reason, dry_run=dry_run, yes=yes)


@command.command("create")
@click.option("--email", required=True, help="The sub-account's e-mail (an advanced one gets a sign-up mail).")
@click.option("--type", "kind", type=click.Choice(["simple", "advanced"]), required=True, help="Permanent.")
@click.option("--credit", default=None, help="Euros the parent gives it at creation.")
@_actor
@_reason
@_dry_run
@click.pass_context
def create_cmd(
    ctx: click.Context, email: str, kind: str, credit: str | None, actor: str | None, reason: str, dry_run: bool
) -> None:
    """Create a sub-account; once subaccount/list shows it, it gets its row in the accounts table."""
    from etl.jobs import actions

    client = None if dry_run else get_client(ctx)
    report(
        actions.create_subaccount(
            client, get_engine(ctx), email, kind, credit=credit, actor=actor, reason=reason, dry_run=dry_run, now=get_clock(ctx)
        )
    )


@command.command("remove")
@click.argument("sub")
@_actor
@_reason
@_dry_run
@_yes
@click.pass_context
def remove_cmd(ctx: click.Context, sub: str, actor: str | None, reason: str, dry_run: bool, yes: bool) -> None:
    """Remove the sub-account SUB (label or token): its key stops working; its rows here are kept."""
    from etl.jobs import actions
    from etl.jobs.actions.subaccounts import find_subaccount

    found = find_subaccount(get_engine(ctx), sub)
    _confirm(f"Remove the sub-account {found.label}{f' ({found.email})' if found.email else ''}? Its key stops working.", yes, dry_run)
    client = None if dry_run else get_client(ctx)
    report(actions.remove_subaccount(client, get_engine(ctx), sub, actor=actor, reason=reason, dry_run=dry_run, now=get_clock(ctx)))
