"""Filter an audience CSV against the stop set: streaming, fail closed, every input column kept.

Each data row ends in exactly one place:

- ``allowed``: the row *as it was in the input* (same quoting, same columns), written only when its
  number is valid (`etl.phones`, identical to ``phonenumbers``), not stopped, not rental-stopped,
  not flagged ``stopSms`` in a contact group and not seen before in this file;
- ``blocked``: the row plus a ``reason`` column, the first of ``invalid`` (no number, unparseable or
  not a valid number: never "allowed"), ``stop_list``, ``rental_stop``, ``contact_stop``, ``duplicate`` (the same
  E.164 number already allowed higher up).

Memory is bounded by the stop set and the numbering plan, not by the input: rows are read line by
line, and the "seen" numbers live in a `NumberSet` bitmap (see ``numbers.py``).

Speed (issue 8 asks ≥ 500,000 rows/s): rows without a quote character, almost all of them, are
split with ``str.split`` and copied verbatim; only rows with quotes go through the ``csv`` module
(and may span several physical lines). Membership tests are inlined.
"""

from __future__ import annotations

import codecs
import functools
import io
import logging
import sys
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ParamSpec, TextIO

from etl.audience.chunked import (
    ASCII_COMPATIBLE,
    DEFAULT_CHUNK_BYTES,
    NeedsSequential,
    Plan,
    check_across_chunks,
    chunk_bounds,
    move_duplicates,
    run_chunks,
    usable_workers,
)
from etl.audience.csvfile import CsvLayout, open_text, sniff, undecodable
from etl.audience.freshness import Freshness
from etl.audience.injection import neutralise
from etl.audience.numbers import NumberSet
from etl.audience.outputs import atomic_outputs, clash
from etl.audience.rowloop import REASON_COLUMN, OptedOutSink, Progress, run_rows
from etl.audience.stops import StopSet
from etl.errors import EtlError, InputError
from etl.phones import e164_int_parser, int_parser_tables

REASONS = ("invalid", "stop_list", "rental_stop", "contact_stop", "duplicate")
log = logging.getLogger(__name__)
P = ParamSpec("P")


@dataclass
class Summary:
    """What one run did; `as_report` is the JSON the CLI writes."""

    input: str = ""
    allowed_path: str = ""
    blocked_path: str = ""
    rows: int = 0
    allowed: int = 0
    blocked: dict[str, int] = field(default_factory=lambda: dict.fromkeys(REASONS, 0))
    blank_lines: int = 0
    encoding: str = ""
    delimiter: str = ""
    has_header: bool = False
    phone_column: str = ""
    default_region: str = "FR"
    stop_list_size: int = 0
    rental_stop_size: int = 0
    rental_source: str = "none"
    contact_stop_size: int = 0
    contact_source: str = "none"
    freshness: Freshness | None = None
    seconds: float = 0.0

    @property
    def blocked_total(self) -> int:
        return sum(self.blocked.values())

    def as_report(self) -> dict[str, Any]:
        fresh = self.freshness
        return {
            "input": self.input,
            "outputs": {"allowed": self.allowed_path, "blocked": self.blocked_path},
            "rows": self.rows,
            "allowed": self.allowed,
            "blocked": self.blocked_total,
            "blocked_by_reason": dict(self.blocked),
            "blank_lines_skipped": self.blank_lines,
            "csv": {
                "encoding": self.encoding,
                "delimiter": self.delimiter,
                "header": self.has_header,
                "phone_column": self.phone_column,
            },
            "default_region": self.default_region,
            "stop_list": {
                "numbers": self.stop_list_size,
                "rental_stop_numbers": self.rental_stop_size,
                "rental_stop_source": self.rental_source,
                "contact_stop_numbers": self.contact_stop_size,
                "contact_stop_source": self.contact_source,
                "last_successful_sync_at": (
                    fresh.last_success_at.isoformat() if fresh and fresh.last_success_at else None
                ),
                "age_seconds": round(fresh.age_seconds, 1) if fresh and fresh.age_seconds is not None else None,
                "max_age_seconds": fresh.max_age_seconds if fresh else None,
                "stale": fresh.stale if fresh else None,
                "allow_stale_used": bool(fresh and fresh.allow_stale),
            },
            "seconds": round(self.seconds, 3),
            "rows_per_second": round(self.rows / self.seconds) if self.seconds > 0 else None,
        }


class Classifier:
    """``raw phone text -> reason or None (allowed)``, with the run's "seen" set. Not thread-safe."""

    def __init__(self, stops: StopSet, default_region: str = "FR") -> None:
        import phonenumbers

        self.parse = e164_int_parser(default_region)
        self.stops = stops
        self.seen = NumberSet(phonenumbers.country_code_for_region(default_region) or None)

    def __call__(self, raw: str) -> str | None:
        number = self.parse(raw)
        if not number:
            return "invalid"
        if number in self.stops.stops:
            return "stop_list"
        if number in self.stops.rental:
            return "rental_stop"
        if number in self.stops.contact:
            return "contact_stop"
        if not self.seen.add(number):
            return "duplicate"
        return None


def classify_rows(
    rows: Iterable[Sequence[str]], phone_index: int, stops: StopSet, default_region: str = "FR"
) -> Iterator[tuple[Sequence[str], str | None]]:
    """``(row, reason)`` for each row, reason ``None`` for allowed: the filter without files."""
    classify = Classifier(stops, default_region)
    for row in rows:
        raw = row[phone_index] if phone_index < len(row) else ""
        yield row, classify(raw)


def _io_errors_as_sentences(function: Callable[P, Summary]) -> Callable[P, Summary]:
    """A read or write that fails (a full disk, a file too large, a folder gone) becomes one sentence
    (`EtlError`); `atomic_outputs` has already removed the temporary files, so no output was replaced."""

    @functools.wraps(function)
    def guarded(*args: P.args, **kwargs: P.kwargs) -> Summary:
        try:
            return function(*args, **kwargs)
        except OSError as exc:
            where = f" ({exc.filename})" if exc.filename else ""
            raise EtlError(f"filtering failed: {exc.strerror or exc}{where}; no output was replaced") from None

    return guarded


@_io_errors_as_sentences
def filter_audience(
    input_path: str | Path,
    allowed_path: str | Path,
    blocked_path: str | Path,
    stops: StopSet,
    *,
    column: str | None = None,
    default_region: str = "FR",
    delimiter: str | None = None,
    encoding: str | None = None,
    freshness: Freshness | None = None,
    progress: TextIO | None | bool = None,
    workers: int | None = None,
    chunk_bytes: int = DEFAULT_CHUNK_BYTES,
    on_opted_out: OptedOutSink | None = None,
) -> Summary:
    """Split ``input_path`` into allowed and blocked rows; see the module docstring.

    ``progress``: a stream for the progress line, ``None`` for stderr when it is a TTY, ``False``
    for none. Outputs use the input's encoding (a UTF-8 BOM is kept, so Excel still opens them).
    ``workers``: processes for the chunked path (default: the usable cores; 0: stream in this
    process, the reference the chunked path is tested against); files of one chunk,
    or shapes the chunked path declines (`etl.audience.chunked`), are streamed in this process.
    ``on_opted_out``: called with the numbers blocked for each opt-out reason, in batches, for the
    filter-run record (`etl.compliance.filter_runs`); when the chunked path gives way to the row
    loop midway, it is first called with the reason ``""`` and no numbers: forget what came so far.
    """
    source = Path(input_path)
    refused = clash(source, [("allowed", Path(allowed_path)), ("blocked", Path(blocked_path))])
    if refused:
        raise InputError(refused)
    layout = sniff(source, encoding=encoding, delimiter=delimiter, column=column)
    summary = Summary(
        input=str(source),
        allowed_path=str(allowed_path),
        blocked_path=str(blocked_path),
        encoding=layout.encoding,
        delimiter=layout.delimiter,
        has_header=layout.has_header,
        phone_column=layout.phone_column,
        default_region=default_region,
        stop_list_size=len(stops.stops),
        rental_stop_size=len(stops.rental),
        rental_source=stops.rental_source,
        contact_stop_size=len(stops.contact),
        contact_source=stops.contact_source,
        freshness=freshness,
    )
    if progress is None:
        stream: TextIO | None = sys.stderr if sys.stderr.isatty() else None
    elif progress is False or progress is True:
        stream = sys.stderr if progress else None
    else:
        stream = progress
    started = time.perf_counter()
    if workers != 0 and layout.encoding.lower() in ASCII_COMPATIBLE and layout.newline != "\r":
        try:
            _run_chunked(source, Path(allowed_path), Path(blocked_path), layout, stops, default_region, summary,
                         Progress(source.stat().st_size, stream), usable_workers(workers), chunk_bytes,
                         on_opted_out)
        except NeedsSequential as exc:
            log.info("%s: %s; filtering in one stream", source, exc)
            _reset_counts(summary)
            if on_opted_out:
                on_opted_out("", ())
        else:
            summary.seconds = time.perf_counter() - started
            return summary
    raw, text = open_text(source, layout.encoding)
    out_encoding = layout.encoding
    try:
        with text, atomic_outputs(allowed_path, blocked_path) as (allowed_raw, blocked_raw):
            allowed_out = io.TextIOWrapper(allowed_raw, encoding=out_encoding, newline="")
            blocked_out = io.TextIOWrapper(blocked_raw, encoding=out_encoding, newline="")
            try:
                run_rows(text, raw, allowed_out, blocked_out, layout, stops, default_region, summary,
                         Progress(source.stat().st_size, stream), on_opted_out)
            except UnicodeDecodeError as exc:
                # The text reader's offsets are within its own read, so name where it was reading.
                raise InputError(undecodable(source, layout.encoding, exc.reason, raw.tell(), near=True)) from None
            allowed_out.detach()  # flushed; atomic_outputs closes the files
            blocked_out.detach()
    finally:
        raw.close()
    summary.seconds = time.perf_counter() - started
    return summary


def _reset_counts(summary: Summary) -> None:
    summary.rows = summary.allowed = summary.blank_lines = 0
    summary.blocked = dict.fromkeys(REASONS, 0)


def _hand_over_chunk(result: Any, sink: OptedOutSink) -> None:
    from etl.audience import vectorized as vec

    reasons = result.opted_out_reasons
    for code in (vec.STOP_LIST, vec.RENTAL_STOP, vec.CONTACT_STOP):
        name = vec.REASON_NAMES[code]
        numbers = result.opted_out[reasons == code]
        if len(numbers):
            sink(name, numbers.tolist())


def _run_chunked(
    source: Path,
    allowed_path: Path,
    blocked_path: Path,
    layout: CsvLayout,
    stops: StopSet,
    default_region: str,
    summary: Summary,
    progress: Progress,
    workers: int,
    chunk_bytes: int,
    on_opted_out: OptedOutSink | None = None,
) -> None:
    """The filter over byte ranges (`etl.audience.chunked`); raises `NeedsSequential` before or while writing."""
    import phonenumbers

    try:
        import numpy  # noqa: F401 - the chunks are filtered with it (`etl.audience.vectorized`)
    except ImportError:
        raise NeedsSequential("numpy is not installed") from None
    encoding = layout.encoding
    delimiter = layout.delimiter.encode(encoding)
    if len(delimiter) != 1:
        raise NeedsSequential("a delimiter of more than one byte")
    newline = layout.newline.encode(encoding)
    size = source.stat().st_size
    start = 0
    head_allowed = head_blocked = b""
    with source.open("rb") as handle:
        if encoding == "utf-8-sig" and handle.read(3) == codecs.BOM_UTF8:
            start = 3
            head_allowed = head_blocked = codecs.BOM_UTF8
        handle.seek(start)
        if layout.has_header:
            for line in handle:
                start += len(line)
                body = line.rstrip(b"\r\n")
                if not body:
                    continue
                if line.count(b'"') % 2 or b"\r" in body:
                    raise NeedsSequential("the header holds a quoted line break or a carriage return")
                ending = line[len(body):] or newline
                body = neutralise(body.decode(encoding), layout.delimiter).encode(encoding)
                head_allowed += body + ending
                head_blocked += body + delimiter + REASON_COLUMN.encode(encoding) + ending
                break
    plan = Plan(
        path=str(source), encoding=encoding, delimiter=layout.delimiter, index=max(layout.phone_index, 0),
        newline=layout.newline, parse=e164_int_parser(default_region), stops=stops.stops, rental=stops.rental,
        contact=stops.contact,
        tables=int_parser_tables(default_region),
    )
    bounds = chunk_bounds(str(source), start, size, chunk_bytes)
    seen = NumberSet(phonenumbers.country_code_for_region(default_region) or None)
    counts = summary.blocked
    try:
        with atomic_outputs(allowed_path, blocked_path) as (allowed_out, blocked_out):
            allowed_out.write(head_allowed)
            blocked_out.write(head_blocked)
            for item, result in zip(bounds, run_chunks(plan, bounds, workers)):
                again = check_across_chunks(result, seen)
                allowed, blocked = result.allowed, result.blocked
                if again:
                    allowed, blocked = move_duplicates(result, again, delimiter, newline)
                allowed_out.write(allowed)
                blocked_out.write(blocked)
                summary.rows += result.rows
                summary.allowed += len(result.numbers) - len(again)
                summary.blank_lines += result.blank
                counts["invalid"] += result.invalid
                counts["stop_list"] += result.stop_list
                counts["rental_stop"] += result.rental_stop
                counts["contact_stop"] += result.contact_stop
                counts["duplicate"] += result.duplicate + len(again)
                if on_opted_out and len(result.opted_out):
                    _hand_over_chunk(result, on_opted_out)
                progress.update(item[1], summary.rows)
    finally:
        seen.close()
    progress.close()
