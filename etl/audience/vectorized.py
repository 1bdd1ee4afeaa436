"""The audience filter's per-row work on a whole chunk at once, with numpy: same answers as the row loop.

Why: the row-by-row loop (split, parse, lookups, copy) costs a few times the CPU budget of a
row (docs/benchmarks.md, "Design figures elsewhere in etl/", A1). Here each step is one numpy
operation over all the lines of a chunk (~50,000): find the lines and the phone field, read the common shapes of the
number into ints, decide validity from `etl.phones.IntParserTables` (the same prefix tables the
row parser reads), test the stop bitmaps, find first occurrences. What a table does not decide
(other shapes, other country codes, `_ASK` cells, quoted fields other than a plain ``"…"`` phone
field) goes, row by row, to the very ``parse`` the row loop uses, so each number is exactly what
`etl.phones.e164_int_parser` says (``tests/audience/test_vectorized.py`` checks it value by value).

numpy is optional: without it `etl.audience.chunked` declines and the file is filtered in one
stream by the row loop.
"""

from __future__ import annotations

import csv
import functools
from collections.abc import Callable
from typing import NamedTuple

import numpy as np

from etl.audience.injection import MAX_PLAIN, PLAIN, TRIGGERS
from etl.audience.numbers import NumberSet
from etl.phones import IntParserTables

_POW10 = np.array([10**i for i in range(19)], dtype=np.int64)
#: Byte classes for the shape test: 0 other, 1 digit, 2 separator dropped by parse, 3 '+'.
_KIND = np.zeros(256, dtype=np.uint8)
_KIND[list(b"0123456789")] = 1
_KIND[list(b" .-()")] = 2
_KIND[ord("+")] = 3

#: Cells starting with these are formulas; what may follow a plain leading '+'/'-' (`etl.audience.injection`).
_TRIGGER = np.zeros(256, dtype=bool)
_TRIGGER[list(TRIGGERS.encode())] = True
_PLAIN = np.zeros(256, dtype=bool)
_PLAIN[list("".join(sorted(PLAIN)).encode())] = True

#: Answers of the row parser for values the tables did not decide, per parser (bounded).
_CACHES: dict[Callable[[str], int], dict[str, int]] = {}
_CACHE_SIZE = 100_000

# Reason codes per line.
CODES = range(7)
ALLOWED, INVALID, STOP_LIST, RENTAL_STOP, CONTACT_STOP, DUPLICATE, BLANK = CODES
REASON_NAMES = {INVALID: "invalid", STOP_LIST: "stop_list", RENTAL_STOP: "rental_stop", CONTACT_STOP: "contact_stop",
                DUPLICATE: "duplicate"}


class NeedsRows(Exception):
    """A shape this module leaves to the row loop (a quoted field spanning lines)."""


class _FieldDigits:
    """The fields' bytes laid end to end, read once: their shape and their digits (one entry per field).

    ``shaped``: passes the `_FAST_SHAPE` test; ``value``: the digits as an int; ``ndigits``: how many.
    """

    __slots__ = ("digit_starts", "leading_plus", "ndigits", "padded", "shaped", "value")

    def __init__(self, raw: np.ndarray, field_starts: np.ndarray, field_lengths: np.ndarray) -> None:
        ends = np.cumsum(field_lengths)
        offsets = ends - field_lengths
        chars = raw[np.arange(int(ends[-1])) + np.repeat(field_starts - offsets, field_lengths)]
        kind = _KIND[chars]
        digit = kind == 1

        def per_field(flags: np.ndarray) -> np.ndarray:
            running = np.cumsum(flags)
            counts: np.ndarray = running[ends - 1] - running[offsets] + flags[offsets]
            return counts

        ndigits = per_field(digit)
        leading_plus = chars[offsets] == 43
        # The `_FAST_SHAPE` test without the regex: only digits, separators and one leading '+';
        # first character a digit (or '+' then a digit), last character a digit.
        self.shaped: np.ndarray = (
            (per_field(kind == 0) == 0)
            & (per_field(kind == 3) == leading_plus)
            & np.where(leading_plus, digit[offsets + 1], digit[offsets])
            & digit[ends - 1]
            & (ndigits <= 18)
        )
        # Each field's digits as an int, and its first digits (-1 past its end).
        values = chars[digit].astype(np.int64) - 48
        digit_starts = np.cumsum(ndigits) - ndigits
        owner_end = np.repeat(digit_starts + ndigits, ndigits)
        exponent = np.minimum(owner_end - 1 - np.arange(len(values)), 18)
        contributions = np.append(values * _POW10[exponent], 0)
        self.value: np.ndarray = np.add.reduceat(contributions, digit_starts)
        self.padded = np.append(values, np.full(8, -1, dtype=np.int64))
        self.digit_starts = digit_starts
        self.ndigits: np.ndarray = ndigits
        self.leading_plus: np.ndarray = leading_plus

    def nth(self, position: int) -> np.ndarray:
        """Each field's digit at ``position`` (-1 past its end)."""
        return np.where(self.ndigits > position, self.padded[self.digit_starts + position], -1)

    def starts_with(self, code: str, offset: int) -> np.ndarray:
        """Shaped fields whose digits from ``offset`` on begin with ``code``."""
        match: np.ndarray = self.shaped.copy()
        for position, char in enumerate(code):
            match &= self.nth(offset + position) == int(char)
        return match


class _Decisions:
    """The numbers decided so far, per field (0: invalid), and which fields are decided."""

    __slots__ = ("done", "result")

    def __init__(self, count: int) -> None:
        self.result = np.zeros(count, dtype=np.int64)
        self.done = np.zeros(count, dtype=bool)

    def decide(self, mask: np.ndarray, size: np.ndarray, table_of: dict[int, tuple[int, bytes, int]],
               index_value: np.ndarray, number: np.ndarray, national: bool) -> None:
        """Look ``mask``'s fields up in the prefix table for their ``size``; keep the sure answers."""
        for length, (div, cells, third) in table_of.items():
            where = np.flatnonzero(mask & (size == length))
            if len(where) == 0:
                continue
            table = np.frombuffer(cells, dtype=np.uint8)
            cell = index_value[where] // div
            verdict = table[cell if national else cell - third]
            sure = verdict != 2
            where = where[sure]
            self.result[where] = np.where(verdict[sure] == 1, number[where] + (third if national else 0), 0)
            self.done[where] = True


def _decide_shapes(fields: _FieldDigits, tables: IntParserTables) -> _Decisions:
    """The branches of ``int_parser_for`` that the prefix tables decide, over all fields at once."""
    decisions = _Decisions(len(fields.value))
    decide, nth, value, ndigits, leading_plus = (
        decisions.decide, fields.nth, fields.value, fields.ndigits, fields.leading_plus)
    shaped, d0, d1 = fields.shaped, nth(0), nth(1)
    code = tables.own_code_str
    clen = len(code)
    # 0<nsn>: not '+', first digit 0, second digit not 0; the number is own code * 10**len(nsn) + nsn.
    decide(shaped & ~leading_plus & (d0 == 0) & (d1 > 0), ndigits, tables.national, value, value, True)
    # +<own code><nsn>, nsn not starting with 0: the number is the digits.
    plus_own = leading_plus & (ndigits >= 3) & fields.starts_with(code, 0)
    after = nth(clen)
    decide(plus_own & (after > 0), ndigits - clen, tables.own, value, value, False)
    if tables.plus_own_national:
        # +<own code>0<nsn>: the national case on 0<nsn>.
        nsn = value - tables.own_code * _POW10[np.clip(ndigits - clen, 0, 18)]
        decide(plus_own & (after == 0) & (nth(clen + 1) > 0), ndigits - clen, tables.national, nsn, nsn, True)
    if tables.idd_00:
        # 00<own code><nsn> reads as +<own code><nsn>.
        idd = ~leading_plus & (d0 == 0) & (d1 == 0) & (ndigits >= 5) & fields.starts_with(code, 2)
        decide(idd & (nth(2 + clen) > 0), ndigits - 2 - clen, tables.own, value, value, False)
    if tables.bare_own_min_digits:
        # <own code><nsn>, too long to be a national number: read as +<own code><nsn>.
        bare = ~leading_plus & (d0 > 0) & fields.starts_with(code, 0) & (nth(clen) > 0)
        bare &= (ndigits >= tables.bare_own_min_digits) & ~np.isin(ndigits, tables.bare_own_excluded)
        decide(bare, ndigits - clen, tables.own, value, value, False)
    return decisions


def parse_fields(
    raw: np.ndarray, starts: np.ndarray, lengths: np.ndarray, tables: IntParserTables
) -> tuple[np.ndarray, np.ndarray]:
    """``(numbers, decided)`` for the fields ``raw[starts[i]:starts[i] + lengths[i]]``.

    Where ``decided``, ``numbers`` is what ``e164_int_parser`` returns for the field's text (0:
    invalid); elsewhere the caller must ask the parser. Mirrors the branches of
    ``etl.phone_numbers.int_parser.int_parser_for``: the `_FAST_SHAPE` check, ``0<nsn>``, ``+<own code><nsn>``,
    ``+<own code>0<nsn>``, ``00<own code><nsn>``, and ``<own code><nsn>`` when too long to be national.
    All work is on the fields' bytes laid end to end (no per-row Python): `_FieldDigits` reads them,
    `_decide_shapes` looks them up.
    """
    count = len(starts)
    numbers = np.zeros(count, dtype=np.int64)
    decided = np.zeros(count, dtype=bool)
    # parse(): ``raw.isascii() and 2 < len(raw) < 40`` (ASCII: the character classes below).
    rows = np.flatnonzero((lengths > 2) & (lengths < 40))
    if len(rows) == 0:
        return numbers, decided
    decisions = _decide_shapes(_FieldDigits(raw, starts[rows], lengths[rows]), tables)
    numbers[rows] = decisions.result
    decided[rows] = decisions.done
    return numbers, decided


def member(numbers: np.ndarray, candidates: np.ndarray, number_set: NumberSet) -> np.ndarray:
    """``numbers[i] in number_set`` where ``candidates[i]`` (False elsewhere)."""
    return number_set.contains_many(numbers, candidates)


class ChunkVerdicts:
    """Per line of a chunk: where it starts, its reason code, and its number (0: invalid).

    Also where the chunk's delimiters and quotes are (for `formula_cells`).
    """

    __slots__ = ("content_ends", "delims", "line_ends", "numbers", "quotes", "reasons", "starts", "terminated")

    def __init__(self, starts: np.ndarray, line_ends: np.ndarray, content_ends: np.ndarray,
                 terminated: np.ndarray, reasons: np.ndarray, numbers: np.ndarray,
                 delims: np.ndarray, quotes: np.ndarray) -> None:
        self.starts = starts
        self.line_ends = line_ends
        self.content_ends = content_ends
        self.terminated = terminated
        self.reasons = reasons
        self.numbers = numbers
        self.delims = delims
        self.quotes = quotes


@functools.cache
def _cell_kinds(delimiter: int) -> np.ndarray:
    """By a cell's first byte: 1 a trigger that starts a formula unquoted, 2 an opening quote, 0 else.

    An unquoted delimiter there is an empty cell, an unquoted carriage return a line end.
    """
    kinds = _TRIGGER.astype(np.uint8)
    kinds[[delimiter, 13]] = 0
    kinds[34] = 2
    return kinds


def _next_at_or_after(positions: np.ndarray, values: np.ndarray, missing: int) -> np.ndarray:
    """For each value, the first of the sorted ``positions`` at or after it (``missing`` when none)."""
    index = np.searchsorted(positions, values)
    found = index < len(positions)
    result = np.full(len(values), missing, dtype=np.int64)
    result[found] = positions[index[found]]
    return result


def formula_cells(raw: np.ndarray, delimiter: int, verdicts: ChunkVerdicts) -> np.ndarray:
    """Where, in the chunk, to put the ``'`` before a cell a spreadsheet would run (ascending).

    The rule of `etl.audience.injection.formula_starts`, on the whole chunk: cells start at line
    starts and after the delimiters that have an even number of quotes before them (lines have an
    even number each); only cells whose first character is a trigger are looked at further (a few
    per line at most), and the ``+``/``-`` ones are left alone when the rest of their text is plain
    (checked on those cells' bytes laid end to end).
    """
    size = len(raw)
    delims, quotes, starts = verdicts.delims, verdicts.quotes, verdicts.starts
    # Every place a cell may start; which delimiters are inside quotes is asked only of the few
    # cells that start with a trigger (that search over all delimiters was most of the cost).
    cells = np.concatenate((starts, delims + 1))
    if len(delims) and delims[-1] == size - 1:
        cells = cells[cells < size]
    kind = _cell_kinds(delimiter)[raw[cells]]
    opening = np.flatnonzero(kind == 2)
    opening = opening[cells[opening] + 1 < size]
    unquoted = np.flatnonzero(kind == 1)
    quoted_hits = opening[_TRIGGER[raw[cells[opening] + 1]]]
    picked = np.concatenate((unquoted, quoted_hits))
    if not len(picked):
        return np.zeros(0, dtype=np.int64)
    quoted = np.concatenate((np.zeros(len(unquoted), dtype=bool), np.ones(len(quoted_hits), dtype=bool)))
    # After a delimiter, a cell starts only if the delimiter is outside quotes (even count before it).
    after_delim = picked >= len(starts)
    outside = ~after_delim | (np.searchsorted(quotes, cells[picked] - 1) % 2 == 0)
    picked, quoted = picked[outside], quoted[outside]
    first = cells[picked] + quoted
    char = raw[first]
    # The cell's text after its first character ends at the closing quote, or at the next
    # delimiter or the line's end.
    content_end = verdicts.content_ends[np.searchsorted(starts, first, side="right") - 1]
    next_delim = _next_at_or_after(delims, first + 1, size)
    close = _next_at_or_after(quotes, first, size)
    after = raw[np.minimum(close + 1, size - 1)]
    closes = (close < size) & ((close + 1 >= size) | (after == delimiter) | (after == 13) | (after == 10))
    end = np.where(quoted, close, np.minimum(next_delim, content_end))
    length = end - first - 1
    plain = ((char == 43) | (char == 45)) & (length >= 0) & (length <= MAX_PLAIN) & (~quoted | closes)
    check = np.flatnonzero(plain & (length > 0))
    if len(check):
        lengths = length[check]
        offsets = np.cumsum(lengths) - lengths
        index = np.repeat(first[check] + 1 - offsets, lengths) + np.arange(int(lengths.sum()))
        bad = np.add.reduceat((~_PLAIN[raw[index]]).astype(np.int64), offsets)
        plain[check] = bad == 0
    marks: np.ndarray = np.sort(first[~plain])
    return marks


def classify_chunk(
    data: bytes, *, delimiter: int, index: int, encoding: str, tables: IntParserTables | None,
    parse: Callable[[str], int], stops: NumberSet, rental: NumberSet, contact: NumberSet | None = None,
) -> ChunkVerdicts:
    """The verdict of every line of ``data`` (whole lines; ``\\r`` only before ``\\n``), as the row loop gives.

    Lines: split at ``\\n``; a line's phone field is the text between its ``index``-th and
    ``index + 1``-th ``delimiter`` (a trailing ``\\r`` dropped), as ``str.split`` gives it. Lines with
    quotes go through ``csv``, except a plain ``"…"`` phone field (its only two quotes), read as its
    inside. A line with an odd number of quotes raises `NeedsRows`. Blank lines (no field at that
    index, nothing but a line end) are `BLANK`; a missing field is an empty value: `INVALID`.
    """
    raw = np.frombuffer(data, dtype=np.uint8)
    lines = _lines(raw)
    field = _phone_fields(raw, lines, delimiter, index)
    numbers, blank = _numbers(data, raw, lines, field, delimiter=delimiter, index=index, encoding=encoding,
                              tables=tables, parse=parse)
    reasons = _verdicts(numbers, blank, stops, (rental, RENTAL_STOP), (contact or NumberSet(), CONTACT_STOP))
    return ChunkVerdicts(lines.starts, lines.ends, lines.content_ends, lines.terminated, reasons, numbers, field.delims,
                         lines.quotes)


class _Lines(NamedTuple):
    starts: np.ndarray
    ends: np.ndarray
    content_ends: np.ndarray
    terminated: np.ndarray
    quotes: np.ndarray
    quote_count: np.ndarray


class _Fields(NamedTuple):
    starts: np.ndarray
    lengths: np.ndarray
    present: np.ndarray
    blank: np.ndarray
    quoted: np.ndarray
    delims: np.ndarray


def _lines(raw: np.ndarray) -> _Lines:
    """Line bounds (split at ``\n``, a ``\r`` before it dropped from the content) and quotes per line."""
    size = len(raw)
    newlines = np.flatnonzero(raw == 10)
    starts = np.concatenate((np.zeros(1, dtype=np.int64), newlines + 1))
    if starts[-1] == size:
        starts = starts[:-1]
    count = len(starts)
    line_ends = np.append(newlines, size)[:count]
    terminated = np.arange(count) < len(newlines)
    has_cr = np.zeros(count, dtype=bool)
    nonempty = line_ends > starts
    has_cr[nonempty] = raw[line_ends[nonempty] - 1] == 13
    content_ends = line_ends - has_cr
    # Quotes per line.
    quotes = np.flatnonzero(raw == 34)
    quote_count = np.searchsorted(quotes, line_ends) - np.searchsorted(quotes, starts)
    if (quote_count % 2).any():
        raise NeedsRows("a quoted field spanning lines")
    return _Lines(starts, line_ends, content_ends, terminated, quotes, quote_count)


def _phone_fields(raw: np.ndarray, lines: _Lines, delimiter: int, index: int) -> _Fields:
    """Each line's phone field: between its ``index``-th and next delimiter; a plain ``"…"`` field read inside."""
    size = len(raw)
    starts, line_ends, content_ends, quote_count = lines.starts, lines.ends, lines.content_ends, lines.quote_count
    count = len(starts)
    delims = np.flatnonzero(raw == delimiter)
    padded = np.concatenate((delims, np.full(index + 2, size + 1, dtype=np.int64)))
    first = np.searchsorted(delims, starts)
    if index == 0:
        field_starts = starts.copy()
        present = np.ones(count, dtype=bool)
    else:
        before = padded[first + index - 1]
        present = before < line_ends
        field_starts = before + 1
    after = padded[first + index]
    field_ends = np.where(after < line_ends, after, content_ends)
    field_ends = np.maximum(field_ends, field_starts)
    lengths = np.where(present, field_ends - field_starts, 0)
    blank = ~present & (content_ends == starts)
    quoted = quote_count > 0
    # A plain quoted phone field: the line's two quotes open and close it.
    if quoted.any():
        two = quoted & present & (quote_count == 2) & (lengths >= 2)
        two &= raw[np.minimum(field_starts, size - 1)] == 34
        two &= raw[np.maximum(field_ends - 1, 0)] == 34
        field_starts = np.where(two, field_starts + 1, field_starts)
        lengths = np.where(two, lengths - 2, lengths)
        quoted &= ~two
    return _Fields(field_starts, lengths, present, blank, quoted, delims)


def _numbers(
    data: bytes, raw: np.ndarray, lines: _Lines, field: _Fields, *, delimiter: int, index: int, encoding: str,
    tables: IntParserTables | None, parse: Callable[[str], int],
) -> tuple[np.ndarray, np.ndarray]:
    """``(numbers, blank)``: each field parsed vectorised where `parse_fields` is sure, else by ``parse``."""
    starts, line_ends = lines.starts, lines.ends
    field_starts, lengths, present, quoted = field.starts, field.lengths, field.present, field.quoted
    blank = field.blank.copy()
    count = len(starts)
    numbers = np.zeros(count, dtype=np.int64)
    decided = ~present | (lengths == 0)
    todo = ~decided & ~quoted
    if tables is not None:
        rows = np.flatnonzero(todo)
        parsed, sure = parse_fields(raw, field_starts[rows], lengths[rows], tables)
        numbers[rows] = parsed
        decided[rows] = sure
        todo[rows[sure]] = False
    # The rest, row by row, through the same parser as the row loop. Its answers are remembered:
    # what it gets is mostly junk that repeats ("n/a", "-", "0000000000"), slow in phonenumbers
    # (docs/benchmarks.md, "Design figures elsewhere in etl/", A2).
    cache = _CACHES.get(parse)
    if cache is None or len(cache) > _CACHE_SIZE:
        cache = _CACHES[parse] = {}
    for position in np.flatnonzero(todo).tolist():
        start = int(field_starts[position])
        value = data[start : start + int(lengths[position])].decode(encoding)
        number = cache.get(value)
        if number is None:
            number = cache[value] = parse(value)
        numbers[position] = number
    if quoted.any():
        text_delimiter = bytes([delimiter]).decode(encoding)
        for position in np.flatnonzero(quoted).tolist():
            line = data[int(starts[position]) : int(line_ends[position])].decode(encoding)
            fields = next(csv.reader([line], delimiter=text_delimiter), [])
            if not fields:
                blank[position] = True
                continue
            value = fields[index] if index < len(fields) else ""
            if value:
                number = cache.get(value)
                if number is None:
                    number = cache[value] = parse(value)
                numbers[position] = number
    return numbers, blank


def _verdicts(numbers: np.ndarray, blank: np.ndarray, stops: NumberSet, *flags: tuple[NumberSet, int]) -> np.ndarray:
    """The reason of every line, in the row loop's order: invalid, stop list, each of ``flags`` (a set
    and its reason: rental stop, contact stop), duplicate, allowed."""
    reasons = np.full(len(numbers), INVALID, dtype=np.uint8)
    valid = (numbers != 0) & ~blank
    stopped = member(numbers, valid, stops)
    reasons[stopped] = STOP_LIST
    rest = valid & ~stopped
    for flagged_set, reason in flags:
        flagged = member(numbers, rest, flagged_set)
        reasons[flagged] = reason
        rest &= ~flagged
    candidates = np.flatnonzero(rest)
    reasons[candidates] = DUPLICATE
    _, first_seen = np.unique(numbers[candidates], return_index=True)
    reasons[candidates[first_seen]] = ALLOWED
    reasons[blank] = BLANK
    return reasons
