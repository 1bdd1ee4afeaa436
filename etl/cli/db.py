"""`smspartner-etl db upgrade|current`: run and inspect the Alembic migrations."""

from __future__ import annotations

import click

from etl.cli._context import get_config


@click.group("db")
def command() -> None:
    """Database migrations."""


@command.command("upgrade")
@click.option("--revision", default="heads", show_default=True)
@click.pass_context
def upgrade_cmd(ctx: click.Context, revision: str) -> None:
    """Create or upgrade the schema to the latest revision."""
    from etl.db.engine import safe_url
    from etl.db.migrate import upgrade

    url = get_config(ctx).database.url
    ctx.find_root().obj["upgrading"] = True  # a schema behind the code is what this command fixes, not an error to name
    upgrade(url, revision)
    click.echo(f"database {safe_url(url)} is at {revision}")


@command.command("current")
@click.pass_context
def current_cmd(ctx: click.Context) -> None:
    """Show the database's revision and the code's."""
    from etl.db.engine import make_engine
    from etl.db.migrate import current_heads, database_revisions

    engine = make_engine(get_config(ctx).database.url, pool=False)
    have = database_revisions(engine)
    want = current_heads()
    click.echo(f"database: {', '.join(sorted(have)) or 'not migrated'}")
    click.echo(f"code:     {', '.join(sorted(want))}")
    if have != want:
        raise SystemExit(1)
