"""`smspartner-etl filter-audience`: split a campaign CSV into allowed and blocked rows (issue 8)."""

from __future__ import annotations

import json
from pathlib import Path

import click

from etl.cli._context import get_clock, get_config, get_engine, get_read_engine
from etl.errors import EtlError


@click.command("filter-audience")
@click.argument("input_path", metavar="INPUT", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--column", default=None, help="Phone column: header name, or 1-based position. Default: guessed.")
@click.option("--default-region", default=None, help="Region for national numbers (default: api.default_region).")
@click.option("--allowed", "allowed_path", required=True, type=click.Path(dir_okay=False, path_type=Path),
              help="Where to write the rows that may be messaged.")
@click.option("--blocked", "blocked_path", required=True, type=click.Path(dir_okay=False, path_type=Path),
              help="Where to write the other rows, with a 'reason' column.")
@click.option("--report", "report_path", default=None, type=click.Path(dir_okay=False, path_type=Path),
              help="Write the summary as JSON here.")
@click.option("--allow-stale", is_flag=True,
              help="Filter even if the stop list is older than audience.max_stop_age (recorded in the report).")
@click.option("--delimiter", default=None, help="Field separator (default: sniffed; 'tab' for a tab).")
@click.option("--encoding", default=None, help="Input encoding (default: sniffed; BOMs honoured).")
@click.option("--actor", default=None, help="Who runs it, recorded in filter_runs (default: the OS user).")
@click.pass_context
def command(
    ctx: click.Context,
    input_path: Path,
    column: str | None,
    default_region: str | None,
    allowed_path: Path,
    blocked_path: Path,
    report_path: Path | None,
    allow_stale: bool,
    delimiter: str | None,
    encoding: str | None,
    actor: str | None,
) -> None:
    """Check INPUT against the synced stop list: fail closed, every column kept.

    Exit status 2 for an output that is the input or another output (or whose folder is missing),
    4 when the stop list is stale or dated in the future (see --allow-stale), 65 for an unreadable
    CSV, 78 when the database cannot be reached or is not migrated. Outputs appear only when the
    run succeeded. Every run is recorded in ``filter_runs`` (docs/audience.md, "Filter runs are recorded").
    """
    from etl.audience.outputs import clash, write_whole
    from etl.audience.recorded import AudienceCheck, run_check
    from etl.compliance.filter_runs import default_actor

    # Before anything is read or written: an output onto the input (or onto the other output)
    # would destroy it (issue 16).
    outputs = [("--allowed", allowed_path), ("--blocked", blocked_path)]
    refused = clash(input_path, outputs + ([("--report", report_path)] if report_path is not None else []))
    if refused:
        raise click.UsageError(refused)
    config = get_config(ctx)
    check = AudienceCheck(input_path, allowed_path, blocked_path, actor=actor or default_actor(),
                          region=(default_region or config.api.default_region).upper(), allow_stale=allow_stale,
                          column=column, delimiter=delimiter, encoding=encoding)
    summary, _run_id = run_check(get_engine(ctx), config, get_clock(ctx), check, reads=get_read_engine(ctx))
    freshness = summary.freshness
    report = summary.as_report()
    if report_path is not None:
        try:
            write_whole(report_path, (json.dumps(report, indent=2) + "\n").encode("utf-8"))
        except OSError as exc:
            raise EtlError(f"the outputs are written, but not the report {report_path}: {exc.strerror or exc}") from None
    reasons = ", ".join(f"{name} {count}" for name, count in summary.blocked.items() if count)
    stale_note = " (stale stop list allowed)" if freshness and freshness.stale else ""
    click.echo(
        f"{summary.rows} rows: {summary.allowed} allowed, {summary.blocked_total} blocked"
        f"{' (' + reasons + ')' if reasons else ''}{stale_note}",
        err=True,
    )
