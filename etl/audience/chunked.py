"""The audience filter over byte ranges of the file, on every core: same rows out as `filter._run`.

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

import csv
import multiprocessing
import os
from array import array
from collections import deque
from itertools import islice
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from etl.audience.numbers import NumberSet

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


@dataclass
class ChunkResult:
    allowed: bytes
    blocked: bytes
    #: Numbers of the allowed rows, in order (for duplicates across chunks).
    numbers: array  # type: ignore[type-arg]
    rows: int
    blank: int
    invalid: int
    stop_list: int
    rental_stop: int
    duplicate: int


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
    plan = _PLAN
    assert plan is not None
    start, end = bounds
    with open(plan.path, "rb") as handle:
        handle.seek(start)
        data = handle.read(end - start)
    if data.count(b"\r") != data.count(b"\r\n"):
        raise NeedsSequential("a carriage return that is not a line end")
    encoding = "utf-8" if plan.encoding == "utf-8-sig" else plan.encoding
    text = data.decode(encoding)
    lines = text.split("\n")
    last = lines.pop()  # "" when the range ends with a line end, else the file's unterminated last line
    delimiter = plan.delimiter
    index = plan.index
    split_at = index + 1
    parse = plan.parse
    stops = plan.stops
    base, span, bits, others = stops._base, stops._span, stops._bits, stops._others
    rental = plan.rental
    has_rental = len(rental) > 0
    seen: set[int] = set()
    seen_add = seen.add
    allowed: list[str] = []
    blocked: list[str] = []
    allow = allowed.append
    block = blocked.append
    numbers = array("q")
    keep = numbers.append
    rows = blank = invalid = stop_list = rental_stop = duplicate = 0
    suffix_invalid = delimiter + "invalid"
    suffix_stop = delimiter + "stop_list"
    suffix_rental = delimiter + "rental_stop"
    suffix_duplicate = delimiter + "duplicate"
    reader = csv.reader
    count = len(lines)
    if last:
        lines.append(last)
    for position, line in enumerate(lines):
        if '"' in line:
            if line.count('"') % 2:
                raise NeedsSequential("a quoted field spanning lines")
            fields = next(reader([line], delimiter=delimiter), [])
            if not fields:
                blank += 1
                continue
            value = fields[index] if index < len(fields) else ""
        else:
            fields = line.split(delimiter, split_at)
            if len(fields) > index:
                value = fields[index]
                if value[-1:] == "\r":
                    value = value[:-1]
            else:
                if not line or line == "\r":
                    blank += 1
                    continue
                value = ""
        rows += 1
        number = parse(value) if value else 0
        if not number:
            invalid += 1
            suffix = suffix_invalid
        else:
            offset = number - base
            if 0 <= offset < span:
                stopped = bits[offset >> 3] & (1 << (offset & 7))  # type: ignore[index]
            else:
                stopped = number in others
            if stopped:
                stop_list += 1
                suffix = suffix_stop
            elif has_rental and number in rental:
                rental_stop += 1
                suffix = suffix_rental
            elif number in seen:
                duplicate += 1
                suffix = suffix_duplicate
            else:
                seen_add(number)
                keep(number)
                allow(line + "\n" if position < count else line)
                continue
        if line[-1:] == "\r":
            block(line[:-1] + suffix + "\r\n")
        else:
            block(line + suffix + ("\n" if position < count else plan.newline))
    return ChunkResult(
        "".join(allowed).encode(encoding),
        "".join(blocked).encode(encoding),
        numbers,
        rows,
        blank,
        invalid,
        stop_list,
        rental_stop,
        duplicate,
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
    with context.Pool(workers) as pool:
        # At most two chunks in flight per worker, taken in input order: ``imap`` would queue every
        # finished chunk in this process when it writes slower than the workers filter (882 MB
        # peak on 10 M rows when the machine was busy); this keeps memory at ~16 MB a worker.
        pending: deque[Any] = deque()
        todo = iter(bounds)
        for item in islice(todo, 2 * workers):
            pending.append(pool.apply_async(filter_chunk, (item,)))
        while pending:
            result = pending.popleft().get()
            item = next(todo, None)
            if item is not None:
                pending.append(pool.apply_async(filter_chunk, (item,)))
            yield result


def check_across_chunks(result: ChunkResult, seen: NumberSet) -> list[int]:
    """Add the chunk's allowed numbers to ``seen`` in order; the positions of those seen before."""
    base, span, bits, others = seen._base, seen._span, seen._bits, seen._others
    again = []
    added = 0
    for position, number in enumerate(result.numbers):
        offset = number - base
        if 0 <= offset < span:
            index = offset >> 3
            mask = 1 << (offset & 7)
            byte = bits[index]  # type: ignore[index]
            if byte & mask:
                again.append(position)
                continue
            bits[index] = byte | mask  # type: ignore[index]
        elif number in others:
            again.append(position)
            continue
        else:
            others.add(number)
        added += 1
    seen._count += added
    return again


def move_duplicates(
    result: ChunkResult, again: list[int], data: bytes, delimiter: bytes, newline: bytes
) -> tuple[bytes, bytes]:
    """The chunk's outputs with the allowed rows at ``again`` moved to blocked as duplicates.

    ``data`` is the chunk's input. Its non-blank lines are, in order, the allowed and blocked rows;
    walking them in step with the allowed rows tells how many blocked rows precede each allowed
    one. (Two identical lines always get the same verdict up to "duplicate", and the first one is
    never the duplicate, so matching each allowed row to the first equal line left is exact.)
    """
    allowed = result.allowed.split(b"\n")
    allowed_last_terminated = allowed[-1] == b""
    if allowed_last_terminated:
        allowed.pop()
    blocked = result.blocked.split(b"\n")
    if blocked[-1] == b"":
        blocked.pop()
    before = []
    pointer = 0
    behind = 0
    for line in data.split(b"\n"):
        if pointer == len(allowed):
            break
        if line == b"" or line == b"\r":
            continue
        if line == allowed[pointer]:
            before.append(behind)
            pointer += 1
        else:
            behind += 1
    if pointer != len(allowed):  # pragma: no cover - would be a bug: keep the file closed
        raise RuntimeError("could not place cross-chunk duplicates")
    moved = set(again)
    inserts: dict[int, list[bytes]] = {}
    for position in again:
        row = allowed[position]
        last = position == len(allowed) - 1 and not allowed_last_terminated
        if row.endswith(b"\r"):
            record = row[:-1] + delimiter + b"duplicate\r"
        else:
            record = row + delimiter + b"duplicate" + (newline.rstrip(b"\n") if last else b"")
        inserts.setdefault(before[position], []).append(record)
    out_allowed = [row for position, row in enumerate(allowed) if position not in moved]
    new_allowed = b"\n".join(out_allowed)
    if out_allowed and (allowed_last_terminated or (len(allowed) - 1) in moved):
        new_allowed += b"\n"
    out_blocked: list[bytes] = []
    for position in range(len(blocked) + 1):
        out_blocked.extend(inserts.get(position, ()))
        if position < len(blocked):
            out_blocked.append(blocked[position])
    new_blocked = b"\n".join(out_blocked) + b"\n" if out_blocked else b""
    return new_allowed, new_blocked


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


def plan_args(**kwargs: Any) -> Plan:
    return Plan(**kwargs)
