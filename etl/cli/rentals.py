"""`smspartner-etl rentals add TOKEN --label ... | list | remove TOKEN`: the rental files to follow.

Tokens come from the config file (``[[rentals.tokens]]``) and from this command (the `rentals`
table). The `rentals` job syncs both. Removing a token stops following it; its numbers and
history are kept, and the views ignore them.
"""

from __future__ import annotations

import click

from etl.cli._context import get_clock, get_config, get_engine


@click.group("rentals")
def command() -> None:
    """Rental files (rented contact lists) followed by the rentals job."""


@command.command("add")
@click.argument("token")
@click.option("--label", default="", help="A name for people (shown in logs instead of the token).")
@click.option("--actor", default=None, help="Who adds it (default: the OS user).")
@click.pass_context
def add_cmd(ctx: click.Context, token: str, label: str, actor: str | None) -> None:
    """Follow the rental TOKEN from the next sync on."""
    from sqlalchemy import insert, select, update

    from etl.db import dialect
    from etl.db.engine import writer
    from etl.db.schema import rentals
    from etl.errors import InputError
    from etl.jobs.actions import default_actor

    token = token.strip()
    if not token or len(token) > 128 or any(ch.isspace() for ch in token):
        raise InputError("a rental token is 1 to 128 characters without spaces")
    now = get_clock(ctx)()
    with writer(get_engine(ctx)).begin() as conn:
        row = conn.execute(select(rentals.c.id, rentals.c.active).where(rentals.c.token == token)).first()
        if row is not None and row.active:
            raise InputError(f"this token is already followed (rental #{row.id})")
        if row is not None:
            conn.execute(
                update(rentals).where(rentals.c.id == row.id).values(active=True, removed_at=None, label=label or rentals.c.label)
            )
            click.echo(f"rental #{row.id} followed again{f' ({label})' if label else ''}; its earlier numbers are kept")
            return
        rid = dialect.inserted_id(conn.execute(
            insert(rentals).values(
                token=token, label=label, source="cli", added_at=now, added_by=(actor or default_actor())[:128], active=True
            )
        ))
    click.echo(f"rental #{rid} added{f' ({label})' if label else ''}; the next rentals sync downloads its file")


@command.command("list")
@click.option("--all", "show_all", is_flag=True, help="Also show removed rentals.")
@click.pass_context
def list_cmd(ctx: click.Context, show_all: bool) -> None:
    """Followed rentals, where each comes from, its last status and its numbers."""
    from sqlalchemy import case, func, select

    from etl.db.schema import rental_numbers, rentals

    config = get_config(ctx)
    r, n = rentals.c, rental_numbers.c
    counts = (
        select(
            n.rental_id,
            func.count().label("in_file"),
            func.sum(case((n.stop == True, 1), else_=0)).label("stopped")  # noqa: E712,
        )
        .where(n.in_file == True)  # noqa: E712
        .group_by(n.rental_id)
        .subquery()
    )
    query = select(rentals, counts.c.in_file, counts.c.stopped).outerjoin(counts, counts.c.rental_id == r.id).order_by(r.id)
    if not show_all:
        query = query.where(r.active == True)  # noqa: E712
    with get_engine(ctx).connect() as conn:
        rows = conn.execute(query).all()
        conn.rollback()
    stored = {row.token for row in rows}
    pending = [t for t in config.rentals.tokens if t.token not in stored]
    if not rows and not pending:
        click.echo("no rentals followed (add one with `smspartner-etl rentals add TOKEN --label ...`)")
        return
    click.echo(f"{'id':>4}  {'token':<24} {'label':<20} {'source':<6} {'status':<16} {'numbers':>8} {'stop':>7}  checked (UTC)")
    for row in rows:
        status = (row.last_status or "never synced") + (f"({row.last_status_code})" if row.last_status_code is not None else "")
        if not row.active:
            status = "removed"
        checked = row.last_checked_at.strftime("%Y-%m-%d %H:%M") if row.last_checked_at else "-"
        click.echo(
            f"{row.id:>4}  {row.token:<24} {row.label[:20]:<20} {row.source:<6} {status[:16]:<16} "
            f"{row.in_file or 0:>8} {int(row.stopped or 0):>7}  {checked}"
        )
        if row.last_status_text and row.last_status not in ("loaded", None):
            click.echo(f"      {row.last_status_text}")
    for token in pending:
        click.echo(f"{'-':>4}  {token.token:<24} {token.label[:20]:<20} {'config':<6} {'never synced':<16} {0:>8} {0:>7}  -")


@command.command("remove")
@click.argument("token")
@click.pass_context
def remove_cmd(ctx: click.Context, token: str) -> None:
    """Stop following TOKEN (its numbers and history stay; the views ignore them)."""
    from sqlalchemy import select, update

    from etl.db.engine import writer
    from etl.db.schema import rentals
    from etl.errors import InputError

    token = token.strip()
    if any(t.token == token for t in get_config(ctx).rentals.tokens):
        raise InputError("this token is listed in the config file ([[rentals.tokens]]): remove it there")
    with writer(get_engine(ctx)).begin() as conn:
        row = conn.execute(select(rentals.c.id, rentals.c.active).where(rentals.c.token == token)).first()
        if row is None or not row.active:
            raise InputError("no followed rental has this token (see `smspartner-etl rentals list`)")
        conn.execute(
            update(rentals).where(rentals.c.id == row.id).values(active=False, removed_at=get_clock(ctx)())
        )
    click.echo(f"rental #{row.id} removed: no longer synced; its numbers are kept but no longer offered as textable")
