"""The audience filter over byte ranges of the file, on every core: same rows out as `rowloop.run_rows`.

Why: one Python process tops out around 300,000-500,000 rows/s on this filter (parse, stop test,
row copy); issue 8 asks ≥ 500,000 rows/s on a 2-core machine. The file is cut into chunks of
``chunk_bytes`` at line boundaries; each chunk is filtered on its own (in a ``fork``-ed worker, which
shares the stop bitmap copy-on-write: nothing is pickled but the chunk's results), and the parent
writes the chunks' outputs *in input order*.

Duplicates across chunks: a worker only knows its own chunk, so it allows the first occurrence of
each number *in the chunk* and sends back the allowed numbers in order. The parent checks them, in
order, against every number allowed by earlier chunks; a number seen before is a duplicate, and
the parent moves that row from the chunk's allowed output to its blocked output at its input
position (`_move_duplicates`). The result is exactly the sequential filter's.

When the byte-range cut could change the meaning of a row, the chunked path declines
(`NeedsSequential`) and `filter_audience` streams the file in one process:

- a line with an odd number of ``"``: a quoted field holding a line break (a record spanning lines
  always has one), so a cut or a line split could fall inside it;
- a ``\\r`` that is not part of ``\\r\\n`` (the text reader treats a lone ``\\r`` as a line end);
- an encoding where ``\\n`` is not the byte 0x0A of each line end (UTF-16), or ``\\r`` line ends.
"""

from __future__ import annotations

import multiprocessing
import os
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from itertools import islice
from pathlib import Path
from typing import TYPE_CHECKING

from etl.audience.csvfile import undecodable
from etl.audience.numbers import NumberSet
from etl.errors import InputError
from etl.phones import IntParserTables

if TYPE_CHECKING:
    from multiprocessing.pool import AsyncResult

    import numpy as np

#: Encodings where each line ends with the byte 0x0A and a chunk decodes on its own.
ASCII_COMPATIBLE = {"utf-8", "utf-8-sig", "utf8", "cp1252", "windows-1252", "latin-1", "iso-8859-1", "ascii"}
DEFAULT_CHUNK_BYTES = 4 << 20


class NeedsSequential(Exception):
    """The file has a shape the byte-range cut cannot honour; filter it in one stream instead."""


@dataclass
class Plan:
    """What a chunk needs to know; module-level so that ``fork``-ed workers inherit it."""

    path: str
    encoding: str
    delimiter: str
    index: int
    newline: str
    parse: Callable[[str], int]
    stops: NumberSet
    rental: NumberSet
    contact: NumberSet
    #: The parser's tables for the vectorised fast path (`etl.phones.int_parser_tables`), if any.
    tables: IntParserTables | None = None


@dataclass
class ChunkResult:
    allowed: bytes
    blocked: bytes
    #: Numbers of the allowed rows, in order (for duplicates across chunks).
    numbers: np.ndarray  # int64
    #: Where each allowed row starts in ``allowed``, and its end (one more entry than rows).
    allowed_offsets: np.ndarray
    #: Where each blocked row starts in ``blocked``, and its end (one more entry than rows).
    blocked_offsets: np.ndarray
    #: For each allowed row, how many blocked rows come before it in the chunk.
    blocked_before: np.ndarray
    rows: int
    blank: int
    invalid: int
    stop_list: int
    rental_stop: int
    contact_stop: int
    duplicate: int
    #: Numbers blocked for an opt-out reason (stop_list, rental_stop, contact_stop), and their codes (filter runs).
    opted_out: np.ndarray  # int64
    opted_out_reasons: np.ndarray  # uint8


_PLAN: Plan | None = None


def chunk_bounds(path: str, start: int, size: int, chunk_bytes: int) -> list[tuple[int, int]]:
    """``[start, size)`` cut into ranges of about ``chunk_bytes`` that end just after a ``\\n``."""
    bounds = []
    with open(path, "rb") as handle:
        position = start
        while position < size:
            cut = position + chunk_bytes
            if cut >= size:
                bounds.append((position, size))
                break
            handle.seek(cut)
            tail = handle.readline()
            end = cut + len(tail)
            bounds.append((position, end))
            position = end
    return bounds


def filter_chunk(bounds: tuple[int, int]) -> ChunkResult:
    """Filter one byte range (whole lines) of the input; see the module docstring."""
    import numpy as np

    from etl.audience import vectorized as vec

    plan = _PLAN
    assert plan is not None
    start, end = bounds
    with open(plan.path, "rb") as handle:
        handle.seek(start)
        data = handle.read(end - start)
    if b"\r" in data and data.count(b"\r") != data.count(b"\r\n"):
        raise NeedsSequential("a carriage return that is not a line end")
    encoding = "utf-8" if plan.encoding == "utf-8-sig" else plan.encoding
    if not data.isascii():
        try:
            data.decode(encoding)  # the row loop's decoding error, if any
        except UnicodeDecodeError as exc:
            raise InputError(undecodable(Path(plan.path), plan.encoding, exc.reason, start + exc.start)) from None
    delimiter = plan.delimiter.encode(encoding)
    try:
        verdicts = vec.classify_chunk(
            data, delimiter=delimiter[0], index=plan.index, encoding=encoding, tables=plan.tables,
            parse=plan.parse, stops=plan.stops, rental=plan.rental, contact=plan.contact,
        )
    except vec.NeedsRows as exc:
        raise NeedsSequential(str(exc)) from None
    raw = np.frombuffer(data, dtype=np.uint8)
    starts, reasons = verdicts.starts, verdicts.reasons
    line_ends, content_ends = verdicts.line_ends, verdicts.content_ends
    # CSV injection (`etl.audience.injection`): the outputs get a ' before each formula cell; the
    # rows were classified on the input as it is. Line bounds move by the quotes put before them.
    marks = vec.formula_cells(raw, delimiter[0], verdicts)
    if len(marks):
        raw = np.insert(raw, marks, 39)
        data = raw.tobytes()
        starts = starts + np.searchsorted(marks, starts)
        line_ends = line_ends + np.searchsorted(marks, line_ends)
        content_ends = content_ends + np.searchsorted(marks, content_ends)
    lengths = np.diff(np.append(starts, len(data)))
    allowed_mask = reasons == vec.ALLOWED
    allowed_rows = np.flatnonzero(allowed_mask)
    allowed = raw[np.repeat(allowed_mask, lengths)].tobytes()
    allowed_offsets = np.concatenate(([0], np.cumsum(lengths[allowed_rows])))
    # Blocked: the line without its line end, the reason, the line end (the plan's for an
    # unterminated last line); tails[reason * 3 + kind], kind 0 "\\r\\n", 1 "\\n", 2 none.
    tails = [b""] * (3 * len(vec.CODES))
    for code, name in vec.REASON_NAMES.items():
        for ending_kind, ending in enumerate((b"\r\n", b"\n", plan.newline.encode(encoding))):
            tails[code * 3 + ending_kind] = delimiter + name.encode(encoding) + ending
    tail_lengths = np.array([len(tail) for tail in tails], dtype=np.int64)
    blocked_mask = (reasons >= vec.INVALID) & (reasons <= vec.DUPLICATE)
    blocked_rows = np.flatnonzero(blocked_mask)
    kind = np.where(content_ends < line_ends, 0, np.where(verdicts.terminated, 1, 2))
    keys = (reasons.astype(np.int64) * 3 + kind)[blocked_rows]
    body_starts = starts[blocked_rows]
    body_ends = content_ends[blocked_rows]
    blocked = b"".join([
        data[s:e] + tails[k] for s, e, k in zip(body_starts.tolist(), body_ends.tolist(), keys.tolist())
    ])
    blocked_offsets = np.concatenate(([0], np.cumsum(body_ends - body_starts + tail_lengths[keys])))
    blocked_before = np.cumsum(blocked_mask)[allowed_rows]
    counts = np.bincount(reasons, minlength=len(vec.CODES))
    opted_out = (reasons >= vec.STOP_LIST) & (reasons <= vec.CONTACT_STOP)
    return ChunkResult(
        allowed,
        blocked,
        verdicts.numbers[allowed_rows],
        allowed_offsets,
        blocked_offsets,
        blocked_before,
        int(len(reasons) - counts[vec.BLANK]),
        int(counts[vec.BLANK]),
        int(counts[vec.INVALID]),
        int(counts[vec.STOP_LIST]),
        int(counts[vec.RENTAL_STOP]),
        int(counts[vec.CONTACT_STOP]),
        int(counts[vec.DUPLICATE]),
        verdicts.numbers[opted_out],
        reasons[opted_out],
    )


def _init_worker(plan: Plan) -> None:
    global _PLAN
    _PLAN = plan


def run_chunks(plan: Plan, bounds: list[tuple[int, int]], workers: int) -> Iterator[ChunkResult]:
    """The chunks' results in input order; in this process when ``workers`` is 1 or there is one chunk.

    Workers are ``fork``-ed (the stop bitmap and the parser are inherited, not pickled); where
    ``fork`` is not available, one process.
    """
    global _PLAN
    _PLAN = plan
    if workers <= 1 or len(bounds) <= 1 or "fork" not in multiprocessing.get_all_start_methods():
        for item in bounds:
            yield filter_chunk(item)
        return
    context = multiprocessing.get_context("fork")
    pool = context.Pool(workers)
    try:
        # At most two chunks in flight per worker, taken in input order: ``imap`` would queue every
        # finished chunk in this process when it writes slower than the workers filter (882 MB
        # peak on 10 M rows when the machine was busy); this keeps memory at ~16 MB a worker.
        pending: deque[AsyncResult[ChunkResult]] = deque()
        todo = iter(bounds)
        for item in islice(todo, 2 * workers):
            pending.append(pool.apply_async(filter_chunk, (item,)))
        while pending:
            result = pending.popleft().get()
            following = next(todo, None)
            if following is not None:
                pending.append(pool.apply_async(filter_chunk, (following,)))
            yield result
    finally:
        # Not ``with Pool`` (terminate): when the caller stops early (a chunk found a quoted line
        # break), terminate() could block for minutes joining the pool's handler threads (CPython's
        # Pool.terminate hang, seen in CI: docs/benchmarks.md, "Design figures elsewhere in etl/", A3).
        # close() lets the at most two chunks a worker has in flight finish, then the workers exit.
        pool.close()
        pool.join()


def check_across_chunks(result: ChunkResult, seen: NumberSet) -> list[int]:
    """Add the chunk's allowed numbers to ``seen``; the positions of those seen before (in order).

    A chunk's allowed numbers are distinct, so testing them all first and adding them after is
    the same as doing it one by one in order.
    """
    import numpy as np

    numbers = result.numbers
    if len(numbers) == 0:
        return []
    found = seen.contains_many(numbers)
    seen.add_many(numbers[~found], distinct_new=True)
    again: list[int] = np.flatnonzero(found).tolist()
    return again


def move_duplicates(result: ChunkResult, again: list[int], delimiter: bytes, newline: bytes) -> tuple[bytes, bytes]:
    """The chunk's outputs with the allowed rows at ``again`` (ascending) moved to blocked as duplicates.

    Each moved row goes in the blocked output just before the blocked rows that followed it in the
    input (``blocked_before``), as ``row + delimiter + "duplicate" + its line end`` (the plan's
    line end for an unterminated last line).
    """
    allowed = result.allowed
    offsets = result.allowed_offsets
    before = result.blocked_before
    kept: list[bytes] = []
    inserts: list[tuple[int, bytes]] = []
    previous = 0
    for position in again:
        start, end = int(offsets[position]), int(offsets[position + 1])
        kept.append(allowed[previous:start])
        previous = end
        row = allowed[start:end]
        if row.endswith(b"\r\n"):
            record = row[:-2] + delimiter + b"duplicate\r\n"
        elif row.endswith(b"\n"):
            record = row[:-1] + delimiter + b"duplicate\n"
        else:
            record = row + delimiter + b"duplicate" + newline
        inserts.append((int(before[position]), record))
    kept.append(allowed[previous:])
    blocked = result.blocked
    blocked_offsets = result.blocked_offsets
    parts: list[bytes] = []
    previous = 0
    for index, record in inserts:
        cut = int(blocked_offsets[index])
        parts.append(blocked[previous:cut])
        parts.append(record)
        previous = cut
    parts.append(blocked[previous:])
    return b"".join(kept), b"".join(parts)


def read_range(path: str, bounds: tuple[int, int]) -> bytes:
    with open(path, "rb") as handle:
        handle.seek(bounds[0])
        return handle.read(bounds[1] - bounds[0])


def usable_workers(requested: int | None) -> int:
    if requested is not None:
        return max(1, requested)
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # pragma: no cover - not Linux
        return max(1, os.cpu_count() or 1)
