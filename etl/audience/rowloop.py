"""The audience filter on one process: records read line by line, classified and copied in one loop.

The same rows out as `etl.audience.chunked` gives on every core; `filter.filter_audience` picks
one or the other. Rows without a quote character, almost all of them, are split with
``str.split`` and copied verbatim; only rows with quotes go through the ``csv`` module.
"""

from __future__ import annotations

import csv
import time
from collections.abc import Callable, Iterator, Sequence
from typing import TYPE_CHECKING, BinaryIO, TextIO

from etl.audience import injection
from etl.audience.csvfile import CsvLayout
from etl.audience.injection import neutralise
from etl.audience.numbers import NumberSet
from etl.audience.stops import StopSet
from etl.phones import e164_int_parser

if TYPE_CHECKING:
    from etl.audience.filter import Summary

REASON_COLUMN = "reason"
#: Receives the E.164 numbers (as integers, without "+") blocked for one opt-out reason (`etl.compliance.filter_runs`).
OptedOutSink = Callable[[str, Sequence[int]], None]
_FLUSH_ROWS = 8192


class Progress:
    """One self-rewriting stderr line, only on a TTY and only for runs longer than a second."""

    def __init__(self, total: int, stream: TextIO | None) -> None:
        self.total = max(total, 1)
        self.stream = stream
        self.started = time.monotonic()
        self.shown = False

    def update(self, done: int, rows: int) -> None:
        if self.stream is None:
            return
        elapsed = time.monotonic() - self.started
        if elapsed < 1.0:
            return
        share = min(done / self.total, 1.0)
        width = 30
        bar = "#" * int(share * width) + "-" * (width - int(share * width))
        eta = elapsed / share - elapsed if share > 0 else 0.0
        self.stream.write(f"\r[{bar}] {share:6.1%} {rows:,} rows {rows / elapsed:,.0f}/s eta {eta:4.0f}s")
        self.stream.flush()
        self.shown = True

    def close(self) -> None:
        if self.stream is not None and self.shown:
            self.stream.write("\n")
            self.stream.flush()


def _records(text: TextIO, quote: str) -> Iterator[str]:
    """Physical lines joined into CSV records (a quoted field may hold line breaks)."""
    pending = ""
    for line in text:
        if pending:
            pending += line
            if pending.count(quote) % 2 == 0:
                yield pending
                pending = ""
        elif quote in line and line.count(quote) % 2:
            pending = line
        else:
            yield line
    if pending:
        yield pending  # unbalanced quote at end of file: csv decides what it means


def run_rows(
    text: TextIO,
    raw: BinaryIO,
    allowed_out: TextIO,
    blocked_out: TextIO,
    layout: CsvLayout,
    stops: StopSet,
    default_region: str,
    summary: Summary,
    progress: Progress,
    on_opted_out: OptedOutSink | None = None,
) -> None:
    """The one-process filter: every record classified and copied, as `chunked` does on every core.

    One loop with the membership tests inlined and the sets' internals bound to locals, deliberately
    over the 80-line rule: per-row function calls would cost more than the work itself
    (docs/benchmarks.md, "Phone numbers", N5, and "Design figures elsewhere in etl/", A1).
    """
    import phonenumbers

    delimiter = layout.delimiter
    newline = layout.newline
    index = layout.phone_index
    parse: Callable[[str], int] = e164_int_parser(default_region)
    seen = NumberSet(phonenumbers.country_code_for_region(default_region) or None)
    # The "seen" bitmap, as locals too.
    seen_base = seen._base
    seen_span = seen._span
    seen_bits = seen._bits
    seen_others = seen._others
    # The stop bitmap and its overflow set, as locals (the hot loop tests membership inline).
    stop_set = stops.stops
    rental = stops.rental
    base = stop_set._base
    span = stop_set._span
    bits = stop_set._bits
    others = stop_set._others
    contact = stops.contact
    has_rental = len(rental) > 0
    has_contact = len(contact) > 0
    invalid = stop_list = rental_stop = contact_stop = duplicate = 0
    # Opt-out blocks for the filter-run record, by reason; handed over with each flush of the blocked rows.
    opted_out: dict[str, list[int]] = {"stop_list": [], "rental_stop": [], "contact_stop": []}
    keep_stop_list = opted_out["stop_list"].append if on_opted_out else None
    keep_rental = opted_out["rental_stop"].append if on_opted_out else None
    keep_contact = opted_out["contact_stop"].append if on_opted_out else None
    allowed_buf: list[str] = []
    blocked_buf: list[str] = []
    records = _records(text, '"')
    rows = allowed = blank = 0
    csv_delim = delimiter
    maybe_formula = injection.maybe_formula(delimiter).search

    def split_quoted(record: str) -> list[str]:
        return next(csv.reader([record], delimiter=csv_delim), [])

    if layout.has_header:
        _copy_header(records, delimiter, newline, allowed_buf, blocked_buf)
    if index < 0:
        index = 0
    for record in records:
        if '"' in record:
            fields = split_quoted(record)
            value = fields[index] if index < len(fields) else ""
            if not fields:
                blank += 1
                continue
        else:
            fields = record.split(delimiter, index + 1)
            if len(fields) > index:
                value = fields[index]
                if value[-1:] in ("\n", "\r"):
                    value = value.rstrip("\r\n")
            else:
                if not record.strip("\r\n"):
                    blank += 1
                    continue
                value = ""
        rows += 1
        number = parse(value) if value else 0
        if maybe_formula(record):  # CSV injection: outputs only, the number was read above
            record = neutralise(record, delimiter)
        if not number:
            reason = "invalid"
            invalid += 1
        else:
            offset = number - base
            if 0 <= offset < span:
                stopped = bits[offset >> 3] & (1 << (offset & 7))  # type: ignore[index]
            else:
                stopped = number in others
            if stopped:
                reason = "stop_list"
                stop_list += 1
                if keep_stop_list:
                    keep_stop_list(number)
            elif has_rental and number in rental:
                reason = "rental_stop"
                rental_stop += 1
                if keep_rental:
                    keep_rental(number)
            elif has_contact and number in contact:
                reason = "contact_stop"
                contact_stop += 1
                if keep_contact:
                    keep_contact(number)
            else:
                offset = number - seen_base
                if 0 <= offset < seen_span:
                    byte_index = offset >> 3
                    mask = 1 << (offset & 7)
                    byte = seen_bits[byte_index]  # type: ignore[index]
                    first = not byte & mask
                    if first:
                        seen_bits[byte_index] = byte | mask  # type: ignore[index]
                elif number in seen_others:
                    first = False
                else:
                    seen_others.add(number)
                    first = True
                if first:
                    allowed += 1
                    allowed_buf.append(record)
                    if len(allowed_buf) >= _FLUSH_ROWS:
                        allowed_out.write("".join(allowed_buf))
                        allowed_buf.clear()
                        progress.update(raw.tell(), rows)
                    continue
                reason = "duplicate"
                duplicate += 1
        body = record.rstrip("\r\n")
        blocked_buf.append(body + delimiter + reason + (record[len(body):] or newline))
        if len(blocked_buf) >= _FLUSH_ROWS:
            blocked_out.write("".join(blocked_buf))
            blocked_buf.clear()
            if on_opted_out:
                _hand_over(opted_out, on_opted_out)
    allowed_out.write("".join(allowed_buf))
    blocked_out.write("".join(blocked_buf))
    if on_opted_out:
        _hand_over(opted_out, on_opted_out)
    progress.update(raw.tell(), rows)
    progress.close()
    _tally(summary, rows, allowed, blank, invalid=invalid, stop_list=stop_list, rental_stop=rental_stop,
           contact_stop=contact_stop, duplicate=duplicate)
    seen.close()


def _hand_over(opted_out: dict[str, list[int]], sink: OptedOutSink) -> None:
    for reason, numbers in opted_out.items():
        if numbers:
            sink(reason, numbers)
            numbers.clear()


def _copy_header(records: Iterator[str], delimiter: str, newline: str, allowed_buf: list[str], blocked_buf: list[str]) -> None:
    """The first non-blank record is the header: copied to both outputs, ``blocked`` gaining the reason column."""
    for record in records:
        if not record.strip("\r\n"):
            continue
        body = record.rstrip("\r\n")
        ending = record[len(body):] or newline
        body = neutralise(body, delimiter)
        allowed_buf.append(body + ending)
        blocked_buf.append(body + delimiter + REASON_COLUMN + ending)
        return


def _tally(summary: Summary, rows: int, allowed: int, blank: int, **blocked: int) -> None:
    for reason, count in blocked.items():
        summary.blocked[reason] += count
    summary.rows += rows
    summary.allowed += allowed
    summary.blank_lines += blank

