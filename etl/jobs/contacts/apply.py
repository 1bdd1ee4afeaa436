"""One account's read, staged and applied in one transaction with its run row and its quarantine."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any, NamedTuple

from sqlalchemy import Connection, Table

from etl import quarantine, runlog
from etl.db import dialect
from etl.jobs.base import JobContext, Outcome, RunResult
from etl.jobs.contacts.diff import Diff, contact_stage, group_stage
from etl.jobs.contacts.read import COMPLETE, Reading


class Changes(NamedTuple):
    appeared: int
    returned: int
    stop_flips: int
    corrected: int
    gone: int
    groups_gone: int
    gone_with_groups: int


def apply(ctx: JobContext, conn: Connection, reading: Reading, followed: set[str] | None, now: datetime) -> RunResult:
    """Stage ``reading``, apply the diff for ``ctx.account``, quarantine what was unreadable, finish the run row."""
    groups, stage = group_stage(), contact_stage()
    dialect.create_temp(conn, groups)
    dialect.create_temp(conn, stage)
    reads = {read.group_id: read.status for read in reading.reads}
    _load(conn, groups, (
        (g.group_id, g.name[:255], g.api_created_at, g.is_special_file, g.is_location_file,
         followed is None or g.group_id in followed, reads.get(g.group_id))
        for g in reading.groups.rows
    ))
    _load(conn, stage, (
        (read.group_id, row.contact_id, row.phone_raw, row.phone_e164, row.stop_sms, row.api_created_at,
         read.status == COMPLETE)
        for read in reading.reads for row in read.rows
    ))
    dialect.index_temp(conn, stage, "group_id", "contact_id", unique=True)
    # Statistics for the planner: a staging table without them is planned as if empty (docs/benchmarks.md, S6).
    dialect.analyze(conn, stage)
    dialect.analyze(conn, groups)
    diff = Diff(conn, ctx.account.id, now, ctx.run_id)
    groups_gone, gone_with_groups = diff.groups(groups, list_complete=not reading.groups.rejections)
    changes = Changes(diff.appeared(stage), diff.returned(stage), diff.flips(stage), diff.corrections(stage),
                      diff.gone(stage, groups), groups_gone, gone_with_groups)
    diff.seen_partially(stage)
    diff.listed_groups(groups)
    rejections = reading.rejections
    if rejections:
        quarantine.record(conn, rejections, now, run_id=ctx.run_id, secrets=ctx.secrets)
    dialect.drop_temp(conn, stage)
    dialect.drop_temp(conn, groups)
    result = _result(reading, changes, len(rejections))
    runlog.finish_run(conn, ctx.run_id, result, ctx.now())
    return result


def _load(conn: Connection, table: Table, rows: Iterable[Sequence[Any]]) -> int:
    value = dialect.driver_value
    return dialect.bulk_load(conn, table, ([value(conn, v) for v in row] for row in rows))


def _result(reading: Reading, changes: Changes, rejected: int) -> RunResult:
    """Counts, the groups whose flags stand, and the figures, as the run row and the log say them."""
    kept = reading.kept()
    contacts_read = sum(len(read.rows) for read in reading.reads)
    detail = f"groups={len(reading.groups.rows)} followed={len(reading.reads)} contacts={contacts_read}"
    if changes.groups_gone:
        detail += f" groups_gone={changes.groups_gone}"
    if reading.groups.rejections:
        detail += " (group list partial: no group marked gone)"
    if kept:
        shown = ", ".join(f"{read.group_id} ({read.status})" for read in kept[:20])
        more = f" and {len(kept) - 20} more" if len(kept) > 20 else ""
        detail += f"; flags kept for {shown}{more}"
    if rejected:
        detail = f"{quarantine.summary(rejected)}; {detail}"
    return RunResult(
        added=changes.appeared + changes.returned,
        changed=changes.stop_flips + changes.corrected,
        removed=changes.gone + changes.gone_with_groups,
        outcome=Outcome.PARTIAL if rejected or kept else Outcome.SUCCESS,
        detail=detail,
        figures={
            "groups": len(reading.groups.rows), "groups_followed": len(reading.reads), "groups_kept": len(kept),
            "groups_gone": changes.groups_gone, "contacts_read": contacts_read, "stop_flips": changes.stop_flips,
            "calls": reading.calls, "paced_seconds": round(reading.waited, 3), "quarantined": rejected,
        },
    )
