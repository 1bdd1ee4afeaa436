"""``smspartner-etl track``: what the statuses job follows (docs/statuses.md).

    smspartner-etl track sends.csv            # header: message_id,phone[,sent_at,scheduled_at,tag,nb_sms,cost,currency]
    cat sends.csv | smspartner-etl track -
    smspartner-etl track --message-id 300001  # recipients listed by /bulk-status at the next cycle
    smspartner-etl track --tag promo          # sends found by /bulk-status-by-tag at each cycle

A CSV with any bad line imports nothing and lists every bad line (exit 65). Re-importing is harmless.
"""

from __future__ import annotations

from typing import BinaryIO

import click

from etl import tracking
from etl.cli._context import get_clock, get_config, get_engine


@click.command("track")
@click.argument("csv_file", required=False, type=click.File("rb"))
@click.option("--message-id", "message_ids", multiple=True, help="Track a message by id; recipients are discovered.")
@click.option("--tag", "tags", multiple=True, help="Follow a tag (bulk-status-by-tag).")
@click.pass_context
def command(ctx: click.Context, csv_file: BinaryIO | None, message_ids: tuple[str, ...], tags: tuple[str, ...]) -> None:
    """Track sends from a CSV file (or - for stdin), by message id, or by tag."""
    if csv_file is None and not message_ids and not tags:
        raise click.UsageError("give a CSV file (or -), --message-id or --tag")
    config = get_config(ctx)
    engine = get_engine(ctx)
    now = get_clock(ctx)()
    if csv_file is not None:
        items = tracking.read_csv_bytes(
            csv_file, default_region=config.api.default_region, source_name=getattr(csv_file, "name", "<stdin>")
        )
        report = tracking.track(
            engine, items, now=now, config=config.statuses, source="csv", default_region=config.api.default_region
        )
        click.echo(
            f"{report.recipients_seen} recipient(s) of {len(items)} send(s): "
            f"{report.sends_added} new send(s), {report.recipients_added} new recipient(s)"
        )
    if message_ids:
        report = tracking.track_message_ids(engine, message_ids, now=now, config=config.statuses)
        click.echo(f"{len(message_ids)} message id(s): {report.sends_added} new; recipients are listed at the next cycle")
    if tags:
        added = tracking.follow_tags(engine, tags, now=now)
        click.echo(f"{len(tags)} tag(s): {added} newly followed")
