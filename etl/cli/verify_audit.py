"""`smspartner-etl verify-audit [--format text|json]`: recompute the audit chain and check every audited row.

Exit 0 when intact, 5 (`ExitCode.TAMPERED`) when anything was changed behind the tool's back; one line per
finding. The head hash is printed (and logged) so it can be kept elsewhere (docs/compliance.md).
"""

from __future__ import annotations

import json
import logging
import sys
import time

import click

from etl.cli._context import get_engine

log = logging.getLogger(__name__)


@click.command("verify-audit")
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text", show_default=True)
@click.pass_context
def command(ctx: click.Context, fmt: str) -> None:
    """Recompute the audit chain and compare each audited row with it; exit 5 if anything was tampered with."""
    from etl.compliance.verify import verify
    from etl.outcome import ExitCode

    started = time.monotonic()
    with get_engine(ctx).connect() as conn:
        report = verify(conn)
        conn.rollback()
    seconds = time.monotonic() - started
    log.info("verify-audit: %d entries, %d rows, %d findings, head %d %s", report.entries, report.rows_checked,
             len(report.findings), report.head_seq, report.head_hash)
    if fmt == "json":
        click.echo(json.dumps({
            "intact": report.intact, "entries": report.entries, "rows_checked": report.rows_checked,
            "head_seq": report.head_seq, "head_hash": report.head_hash, "seconds": round(seconds, 3),
            "findings": [{"kind": f.kind, "message": f.message} for f in report.findings],
        }, indent=2))
    else:
        for finding in report.findings:
            click.echo(f"TAMPERED  {finding.message}")
        state = "intact" if report.intact else f"NOT intact: {len(report.findings)} findings"
        click.echo(f"audit chain {state}: {report.entries} entries, {report.rows_checked} rows checked; "
                   f"head {report.head_seq} {report.head_hash}")
    sys.exit(ExitCode.OK if report.intact else ExitCode.TAMPERED)
