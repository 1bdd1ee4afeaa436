"""`smspartner-etl breaches list|scan|ack`: sends to numbers on their account's stop list (docs/compliance.md)."""

from __future__ import annotations

import click

from etl.cli._context import get_clock, get_config, get_engine


@click.group("breaches")
def command() -> None:
    """Sends that reached a number while it was on its account's stop list, past [compliance] breach_grace."""


@command.command("list")
@click.option("--all", "include_acknowledged", is_flag=True, help="Acknowledged breaches too.")
@click.pass_context
def list_cmd(ctx: click.Context, include_acknowledged: bool) -> None:
    """One line per breach, in send order (exit 0 with none)."""
    from etl.compliance import breaches

    with get_engine(ctx).connect() as conn:
        found = breaches.list_breaches(conn, include_acknowledged=include_acknowledged)
    if not found:
        click.echo("no breaches" if include_acknowledged else "no unacknowledged breaches")
    for row in found:
        cost = f"{row.cost} {row.currency}" if row.cost is not None else "cost unknown"
        ack = (
            f" acknowledged {row.acknowledged_at:%Y-%m-%d %H:%M} by {row.acknowledged_by}: {row.ack_note}"
            if row.acknowledged_at is not None else ""
        )
        click.echo(
            f"{row.id} {row.account_label} {row.phone_e164} message {row.message_id} tag {row.tag or '-'} "
            f"sent {row.sent_at:%Y-%m-%d %H:%M:%S} UTC, opted out {row.opted_out_at:%Y-%m-%d %H:%M:%S} UTC "
            f"({row.stop_source}), status {row.status or 'unknown'}, {cost}{ack}"
        )


@command.command("scan")
@click.pass_context
def scan_cmd(ctx: click.Context) -> None:
    """Record the breaches of every account now (the daemon does it after each stops and statuses run)."""
    from etl.compliance import breaches

    config = get_config(ctx)
    with get_engine(ctx).begin() as conn:
        added = breaches.detect(conn, grace_seconds=config.compliance.breach_grace, now=get_clock(ctx)())
    click.echo(f"{added} new breach(es)")


@command.command("ack")
@click.argument("breach_id", metavar="ID", type=int)
@click.option("--reason", required=True, help="Why: what was done about it (kept with the breach).")
@click.option("--actor", default=None, help="Who acknowledges (default: the OS user).")
@click.pass_context
def ack_cmd(ctx: click.Context, breach_id: int, reason: str, actor: str | None) -> None:
    """Acknowledge breach ID: it leaves breaches_open, the metric and /healthz's degraded list."""
    from etl.compliance import breaches
    from etl.jobs.actions.audit import default_actor

    with get_engine(ctx).begin() as conn:
        row = breaches.acknowledge(conn, breach_id, actor=actor or default_actor(), reason=reason, now=get_clock(ctx)())
    click.echo(f"breach {row.id} ({row.phone_e164}, message {row.message_id}) acknowledged by {row.acknowledged_by}")
