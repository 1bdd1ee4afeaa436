"""`smspartner-etl evidence NUMBER`: everything the database knows about one number (docs/compliance.md)."""

from __future__ import annotations

from pathlib import Path

import click

from etl.cli._actions_output import region
from etl.cli._context import get_config, get_engine


@click.command("evidence")
@click.argument("number")
@click.option("--format", "fmt", type=click.Choice(["text", "json", "html"]), default="text", show_default=True)
@click.option("--out", type=click.Path(dir_okay=False, path_type=Path), default=None, help="Write the report here instead of stdout.")
@click.pass_context
def command(ctx: click.Context, number: str, fmt: str, out: Path | None) -> None:
    """The report for NUMBER (any common format): opt-outs, removals, replies, sends, breaches, rental and contact flags,
    with the SHA-256 digest of its content and the time range the database covers."""
    from etl import phones
    from etl.compliance import evidence, evidence_render
    from etl.compliance.hashing import optional_hasher

    config = get_config(ctx)
    e164 = phones.normalize(number, region(config))
    hasher = optional_hasher(config.compliance)  # without a key the report says what it could not check
    with get_engine(ctx).connect() as conn:
        report = evidence.gather(conn, e164, hasher)
    rendered = evidence_render.RENDERERS[fmt](report)
    if out is None:
        click.echo(rendered, nl=False)
    else:
        out.write_text(rendered, encoding="utf-8")
        click.echo(f"evidence for {e164} written to {out} (sha256 {report['digest']})")
