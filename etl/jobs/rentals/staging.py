"""A spool file into a staging table, once per number and in key order: what the diff reads.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from itertools import islice
from pathlib import Path

from sqlalchemy import (
    Boolean,
    Column,
    Connection,
    String,
    Table,
    case,
    func,
    insert,
    select,
)

from etl.db import dialect
from etl.errors import EtlError
from etl.jobs.rentals.spool import _unescape

#: PostgreSQL ``work_mem`` for sorting one file (server memory, not this process's).
SORT_MEMORY_MB = 128


STAGE_COLS = ["phone_key", "api_id", "phone_e164", "phone_raw", "stop"]


def _staging_table(name: str) -> Table:
    """The file's rows; the key first, as in the spool's lines (`_spool_line`)."""
    return dialect.temp_table(
        name,
        Column("phone_key", String(80), nullable=False),
        Column("api_id", String(32)),
        Column("phone_e164", String(16)),
        Column("phone_raw", String(64), nullable=False),
        Column("stop", Boolean, nullable=False),
    )


def _field_runs(path: Path, lines: Iterable[str]) -> Iterator[Sequence[str | None]]:
    """Version 3 spool lines as flat runs of staging values, `dialect.VALUES_ROWS` lines at a time.

    One ``split`` per run instead of one per line; only a run with a backslash in it is unescaped
    field by field.
    """
    width = len(STAGE_COLS)
    lines = iter(lines)
    while run := list(islice(lines, dialect.VALUES_ROWS)):
        block = "".join(run)
        if not block.endswith("\n"):
            raise EtlError(f"{path}: truncated spool file")
        fields = block[:-1].replace("\n", "\t").split("\t")
        if len(fields) != width * len(run):
            raise EtlError(f"{path}: a spool line without {width} fields")
        yield [_unescape(f) for f in fields] if "\\" in block else fields


def _sorted_stage(conn: Connection, loaded: Table, duplicates: bool | None) -> Table:
    """The loaded rows once per number, written **in ``phone_key`` order**.

    The same number twice in one file: one row, flagged stop if any copy is (fail closed).

    Why sorted: every later statement walks the file in key order, so the inserts into
    `rental_numbers` and `rental_number_events` (whose indexes lead with the number) append to
    their B-trees instead of touching a random page per row, and the re-sync's lookups of stored
    numbers move forward through the index. In file order, with the indexes far larger than the
    cache, the first load was several times slower (docs/benchmarks.md, "Design figures", R5). One sort
    does both jobs: the grouping that removes duplicates and the order.
    """
    s = loaded.c
    stage = _staging_table("stage_rental")
    dialect.create_temp(conn, stage)
    if duplicates is False:
        # The spool's writer saw no number twice: sorting is enough (half the work of grouping).
        rows = select(s.phone_key, s.api_id, s.phone_e164, s.phone_raw, s.stop).order_by(s.phone_key)
    else:
        any_stop = func.max(case((s.stop == True, 1), else_=0)) == 1  # noqa: E712 - SQL, not Python truthiness
        rows = (
            select(s.phone_key, func.min(s.api_id), func.max(s.phone_e164), func.min(s.phone_raw), any_stop)
            .group_by(s.phone_key)
            .order_by(s.phone_key)
        )
    conn.execute(insert(stage).from_select(STAGE_COLS, rows))
    dialect.drop_temp(conn, loaded)
    return stage


def _file_figures(conn: Connection, stage: Table) -> tuple[int, int, int]:
    """Numbers, stop-flagged numbers and unparseable numbers of a staged file (once per number)."""
    s = stage.c
    numbers, stopped, unparseable = conn.execute(
        select(
            func.count(),
            func.coalesce(func.sum(case((s.stop == True, 1), else_=0)), 0),  # noqa: E712
            func.coalesce(func.sum(case((s.phone_e164.is_(None), 1), else_=0)), 0),
        ).select_from(stage)
    ).one()
    return int(numbers), int(stopped), int(unparseable)
