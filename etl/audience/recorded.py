"""One audience check as `filter-audience` and the console's audience page both make it: the stop list
read and its freshness checked (fail closed), the run recorded in ``filter_runs`` with its actor, the file
filtered, the record completed (docs/audience.md, "Filter runs are recorded").

A stale-list refusal is a recorded run too; a database that cannot be reached is not (there is nowhere
to record it). Outputs appear only when the run succeeded (`etl.audience.outputs`).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, TextIO

from etl.audience.filter import Summary, filter_audience
from etl.audience.freshness import ALLOW_STALE_HINT, Freshness
from etl.audience.stops import read_stop_list
from etl.clock import Clock
from etl.errors import StaleData

if TYPE_CHECKING:
    from sqlalchemy import Engine

    from etl.config import Config

__all__ = ["AudienceCheck", "run_check"]


@dataclass(frozen=True)
class AudienceCheck:
    """What to check and who asks; ``input_name`` is what the record calls the input (default: its name)."""

    input_path: Path
    allowed_path: Path
    blocked_path: Path
    actor: str
    region: str
    allow_stale: bool = False
    column: str | None = None
    delimiter: str | None = None
    encoding: str | None = None
    input_name: str | None = None
    workers: int | None = None
    progress: TextIO | None | bool = None
    stale_hint: str = ALLOW_STALE_HINT


def run_check(
    engine: Engine, config: Config, clock: Clock, check: AudienceCheck, *, reads: Engine | None = None
) -> tuple[Summary, int]:
    """Filter ``check.input_path``, recorded; the summary and the ``filter_runs`` id. Raises what the
    filter raises (`StaleData`, `InputError`, ...) after recording the failure.

    ``reads``: where the stop list and its freshness come from (``database.read_url``, a replica), on one
    connection, so a replica that lags is judged by its own run log: fail closed. The record is the primary's."""
    from etl.compliance.filter_runs import FileDigest, FilterRunRecorder, filter_run_hasher

    recorder = FilterRunRecorder(engine, filter_run_hasher(config.compliance), clock)

    def start(freshness: Freshness | None) -> None:
        recorder.start(actor=check.actor, input_path=check.input_path, allow_stale=check.allow_stale,
                       freshness=freshness, input_name=check.input_name)

    try:
        freshness, stops = read_stop_list(reads or engine, now=clock(), max_age=config.audience.max_stop_age,
                                          allow_stale=check.allow_stale, default_region=check.region,
                                          stale_hint=check.stale_hint)
    except StaleData as exc:
        start(None)
        recorder.fail(exc)
        raise
    start(freshness)
    digest = FileDigest(check.input_path)
    try:
        summary = filter_audience(
            check.input_path, check.allowed_path, check.blocked_path, stops, column=check.column,
            default_region=check.region, delimiter=check.delimiter, encoding=check.encoding, freshness=freshness,
            progress=check.progress, workers=check.workers, on_opted_out=recorder.add,
        )
        recorder.finish(summary, digest)
    except BaseException as exc:
        recorder.fail(exc, digest)
        raise
    return summary, recorder.run_id
