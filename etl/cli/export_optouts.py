"""`smspartner-etl export-optouts [--hashed] [--account LABEL] OUT`: current opt-outs as CSV (docs/compliance.md)."""

from __future__ import annotations

from pathlib import Path

import click

from etl.cli._context import get_config, get_engine
from etl.errors import EtlError


@click.command("export-optouts")
@click.argument("out", metavar="OUT", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--hashed", is_flag=True, help="Keyed hashes (HMAC-SHA256 of E.164) instead of numbers.")
@click.option("--account", "account", default=None, help="Only this account's opt-outs (its label).")
@click.option("--force", is_flag=True, help="Replace OUT if it exists.")
@click.pass_context
def command(ctx: click.Context, out: Path, hashed: bool, account: str | None, force: bool) -> None:
    """Write the current opt-outs (stop list and contact stop flags) to OUT, whole or not at all."""
    from sqlalchemy.exc import SQLAlchemyError

    from etl.compliance.export import export_optouts
    from etl.compliance.hashing import load_hasher

    if out.exists() and not force:
        raise click.UsageError(f"{out} exists; pass --force to replace it")
    config = get_config(ctx)
    hasher = load_hasher(config.compliance, purpose="export-optouts --hashed") if hashed else None
    try:
        count = export_optouts(get_engine(ctx), out, hasher=hasher, account=account)
    except SQLAlchemyError as exc:
        raise EtlError(f"reading the opt-outs failed ({type(exc).__name__}); is the database migrated?") from None
    except OSError as exc:
        raise EtlError(f"cannot write {out}: {exc.strerror or exc}; nothing was written") from None
    click.echo(f"{count} opt-outs written to {out}{' as keyed hashes' if hashed else ''}", err=True)
