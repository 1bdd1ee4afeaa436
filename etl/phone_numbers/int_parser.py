"""The int fast path for one default region: raw text to the E.164 digits as an ``int`` (0: invalid).

`etl.phones.e164_int_parser` returns `int_parser_for`'s function; the audience filter calls it once
a row. The shapes of a French audience file are inlined over local variables, since an attribute
lookup or a call is a large share of the filter's budget a row (``docs/benchmarks.md``, "Phone
numbers", N5); each is a copy of a decision `fast.make_fast` takes, proven equal to phonenumbers by
``tests/test_phones.py``. The rarer shapes are small closures of their own, and everything else
goes to the string fast path, then to phonenumbers.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from functools import lru_cache
from typing import NamedTuple

from etl.phone_numbers.codes import code_prefixes, national_shapes
from etl.phone_numbers.fast import fast_for
from etl.phone_numbers.metadata import (
    DROP_SEPARATORS_BYTES,
    INVALID,
    IS_POSSIBLE,
    MAX_LENGTH_FOR_NSN,
    MIN_LENGTH_FOR_NSN,
    SLOW,
    TOO_LONG,
    Meta,
    region_meta,
)
from etl.phone_numbers.slow import slow_valid_e164
from etl.phone_numbers.tables import ASK, Check, checker

#: Per length of ``0<nsn>`` (the 0 included): (`Check` of ``<nsn>``, own code * 10**len(nsn)), or
#: ``None``: that length is not inlined.
National = list[tuple[Check, int] | None]
#: ``digits -> E.164 int``, 0 for an invalid number, ``None``: not decided here (ask the next step).
Reader = Callable[[str], int | None]


class _Parts(NamedTuple):
    """What ``parse`` closes over, built once per region by `int_parser_for`."""

    own_code: int
    national: National
    general_fullmatch: Callable[[str], re.Match[str] | None]
    heads: dict[str, tuple[int, int, bool]]
    code_checks: dict[int, list[Check | None]]
    check_for: Callable[[int, int], Check]
    read_national: Reader
    read_idd: Reader | None
    plus_own_national: bool
    rest: Callable[[str], int]


@lru_cache(maxsize=None)
def int_parser_for(region: str) -> Callable[[str], int] | None:
    """`etl.phones.e164_int_parser`'s function, built once per region.

    - ``0<nsn>`` (``0612345678``, ``06 12 34 56 78``, ``06.12…``): `make_fast`'s national case;
    - ``+<code><nsn>`` with a "simple" code and ``<nsn>`` not starting with 0: `make_fast`'s plus case;
    - ``+<own code>0<nsn>`` (``+33 (0)6 12…``) when the own code's main region is the default
      region: ``parse`` extracts the code, then strips the national prefix with the *same*
      metadata as for ``0<nsn>``, so it is the national case (`_national_reader`);
    - ``00<code>…`` when the IDD is exactly ``00`` and a code follows: ``parse`` reads it as
      ``+<code>…`` (an unknown code after ``00`` is invalid, after ``+`` it is retried: those go
      to the slow path) (`_idd_reader`).

    Separators are dropped with one ``bytes.translate`` when the text has the `FAST_SHAPE` (checked
    without the regex: ASCII, only digits and separators, ``+`` only first, first and last
    character digits). Anything else goes to `make_fast`'s function, then to phonenumbers.
    """
    meta = region_meta(region)
    fast = fast_for(region)
    if meta is None or fast is None:
        return None
    zero_national, idd_00, plus_own_national = national_shapes(meta, region)
    national: National = _national_checks(meta) if zero_national else [None] * (MAX_LENGTH_FOR_NSN + 2)
    general_fullmatch = meta.general.fullmatch if meta.general is not None else _no_match
    heads = code_prefixes()
    code_checks, check_for = _lazy_checks()
    read_idd = _idd_reader(heads, code_checks, check_for) if idd_00 else None
    read_national = _national_reader(national, general_fullmatch)
    rest = _rest(fast, region)
    return _parser(
        _Parts(meta.code, national, general_fullmatch, heads, code_checks, check_for, read_national, read_idd, plus_own_national, rest)
    )


def _no_match(_text: str) -> re.Match[str] | None:
    return None


def _national_checks(meta: Meta) -> National:
    """`National` for a region whose national numbers are written ``0<nsn>``."""
    national: National = [None] * (MAX_LENGTH_FOR_NSN + 2)
    for size in range(MIN_LENGTH_FOR_NSN, MAX_LENGTH_FOR_NSN + 1):
        if meta.test_length("1" * size) in (IS_POSSIBLE, TOO_LONG):  # the lengths ``parse`` keeps after stripping
            national[size + 1] = (checker(meta.code, size), meta.code * 10**size)
    return national


def _lazy_checks() -> tuple[dict[int, list[Check | None]], Callable[[int, int], Check]]:
    """`tables.checker` per code and NSN length, built on first use and kept in a list per code.

    (Building a prefix table takes a while, ``docs/benchmarks.md``, "Phone numbers", N6: only the
    codes a file actually holds are built.)
    """
    code_checks: dict[int, list[Check | None]] = {}

    def check_for(code: int, size: int) -> Check:
        table = code_checks.get(code)
        if table is None:
            table = code_checks[code] = [None] * (MAX_LENGTH_FOR_NSN + 1)
        entry = table[size]
        if entry is None:
            entry = table[size] = checker(code, size)
        return entry

    return code_checks, check_for


def _national_reader(national: National, general_fullmatch: Callable[[str], re.Match[str] | None]) -> Reader:
    """``0<nsn>`` (digits only) read as a national number of the default region."""
    longest = MAX_LENGTH_FOR_NSN + 1

    def read(digits: str) -> int | None:
        size = len(digits)
        entry = national[size] if size <= longest else None
        if entry is None or general_fullmatch(digits) is not None:
            return None
        div, cells, full, _ = entry[0]
        n = int(digits)
        verdict: object = cells[n // div]
        if verdict == ASK:
            verdict = full(digits[1:])
        return entry[1] + n if verdict else 0

    return read


def _idd_reader(
    heads: dict[str, tuple[int, int, bool]], code_checks: dict[int, list[Check | None]], check_for: Callable[[int, int], Check]
) -> Reader:
    """The digits after an IDD ``00``, read as ``+<code><nsn>`` when the code is known and simple."""
    blank: list[Check | None] = [None] * (MAX_LENGTH_FOR_NSN + 1)

    def read(rest: str) -> int | None:
        head = heads.get(rest[:3]) if len(rest) >= 3 else None
        if head is None or not head[2]:
            return None
        size = len(rest) - head[1]
        if size < MIN_LENGTH_FOR_NSN or rest[head[1]] == "0":
            return None
        if size > MAX_LENGTH_FOR_NSN:
            return 0
        div, cells, full, off = (code_checks.get(head[0]) or blank)[size] or check_for(head[0], size)
        n = int(rest)
        verdict: object = cells[n // div - off]
        if verdict == ASK:
            verdict = full(rest[head[1] :])
        return n if verdict else 0

    return read


def _rest(fast: Callable[[str], str | bool | None], region: str) -> Callable[[str], int]:
    """Every shape ``parse`` does not inline: the string fast path, then phonenumbers."""
    slow = slow_valid_e164

    def parse_rest(raw: str) -> int:
        result = fast(raw) if raw else SLOW
        if isinstance(result, str):
            return int(result)
        if result is INVALID:
            return 0
        e164 = slow(raw.strip(), region)
        return int(e164[1:]) if e164 is not None else 0

    return parse_rest


def _parser(parts: _Parts) -> Callable[[str], int]:
    """``parse``: the hot shapes over local variables, the rest through `_Parts`' readers."""
    own_code, national, general_fullmatch, heads, code_checks, check_for, read_national, read_idd, plus_own_national, rest = parts
    drop = DROP_SEPARATORS_BYTES
    min_nsn, max_nsn, longest_national = MIN_LENGTH_FOR_NSN, MAX_LENGTH_FOR_NSN, MAX_LENGTH_FOR_NSN + 1
    blank: list[Check | None] = [None] * (max_nsn + 1)

    def parse(raw: str) -> int:
        if raw.isascii() and 2 < len(raw) < 40:
            if raw.isdigit():
                digits = raw
            else:
                # `FAST_SHAPE` without the regex: only digits and separators, '+' only first,
                # first (after '+') and last characters digits.
                digits = raw.encode().translate(None, drop).decode()
                if digits[:1] == "+":
                    if not (digits[1:].isdigit() and raw[1] == digits[1] and raw[-1] == digits[-1]):
                        digits = ""
                elif not (digits.isdigit() and raw[0] == digits[0] and raw[-1] == digits[-1]):
                    digits = ""
            first = digits[:1]
            if first == "0":
                if digits[1:2] == "0":
                    if read_idd is not None:  # 00<code><nsn> reads as +<code><nsn> when the code is known
                        n = read_idd(digits[2:])
                        if n is not None:
                            return n
                elif digits[1:2]:
                    # `_national_reader`, inlined: the commonest shape
                    size = len(digits)
                    entry = national[size] if size <= longest_national else None
                    if entry is not None and general_fullmatch(digits) is None:
                        div, cells, full, _ = entry[0]
                        n = int(digits)
                        verdict: object = cells[n // div]
                        if verdict == 2:  # `tables.ASK`, as a constant in the hot loop
                            verdict = full(digits[1:])
                        return entry[1] + n if verdict else 0
            elif first == "+" and len(digits) >= 4:
                head = heads.get(digits[1:4])
                if head is not None and head[2]:
                    start = 1 + head[1]
                    size = len(digits) - start
                    if size >= min_nsn:
                        if digits[start] != "0":
                            # `_idd_reader`, inlined for '+'
                            if size > max_nsn:
                                return 0
                            div, cells, full, off = (code_checks.get(head[0]) or blank)[size] or check_for(head[0], size)
                            n = int(digits)
                            verdict = cells[n // div - off]
                            if verdict == 2:
                                verdict = full(digits[start:])
                            return n if verdict else 0
                        if plus_own_national and head[0] == own_code and digits[start + 1 : start + 2] not in ("0", ""):
                            # +<own code>0<nsn>: the national case on "0<nsn>"
                            n = read_national(digits[start:])
                            if n is not None:
                                return n
        return rest(raw)

    return parse
