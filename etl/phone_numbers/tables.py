"""Exact prefix tables: validity decided by the first digits of a number, without a regex call.

A regular expression call costs more than the rest of a row (``docs/benchmarks.md``, "Phone
numbers", N3). For most (code, length) pairs the first few digits of the national significant
number decide validity (French mobiles: ``6[0-24-8]``, ``63[0-8]``, ``7[3-9]``…), so `prefix_table`
reads the metadata's patterns with Python's own regex parser, expands each into the sequences of
digit sets it accepts, and works out for every prefix of ``depth`` digits whether *all*, *none* or
only *some* numbers of that length starting with it are valid. Only "some" prefixes (and patterns
with constructs it does not expand) still run the regular expression. Exact by construction;
``tests/phone_numbers/test_tables.py`` also compares it with the regular expression number by number.

`IntParserTables` is the same tables as the int parser reads them, for a caller that applies them
to many numbers at once with numpy (``etl.audience.vectorized``).
"""

from __future__ import annotations

from functools import lru_cache

from phonenumbers import PhoneMetadata

from etl.phone_numbers.codes import code_prefixes, national_shapes
from etl.phone_numbers.metadata import (
    IS_POSSIBLE,
    MAX_LENGTH_FOR_NSN,
    MIN_LENGTH_FOR_NSN,
    TOO_LONG,
    TYPE_FIELDS,
    Meta,
    desc_accepts_length,
    region_meta,
)
from etl.phone_numbers.validity import Validator, never, regions_for_code, validator

_DIGITS = frozenset("0123456789")
_EXPANSION_CAP = 20_000
TABLE_DEPTH = 4


class _Unsupported(Exception):
    """A pattern construct `_expand` does not model: keep the regular expression."""


def _expand_items(items: object) -> list[tuple[frozenset[str], ...]]:
    import re._constants as c  # noqa: PLC0415 - CPython's own regex parser, read-only

    result: list[tuple[frozenset[str], ...]] = [()]
    options: list[tuple[frozenset[str], ...]]
    for op, av in items:  # type: ignore[attr-defined]
        if op is c.LITERAL:
            options = [(frozenset(chr(av)),)]
        elif op is c.IN:
            chars: set[str] = set()
            for kind, value in av:
                if kind is c.LITERAL:
                    chars.add(chr(value))
                elif kind is c.RANGE:
                    chars.update(chr(x) for x in range(value[0], value[1] + 1))
                elif kind is c.CATEGORY and value is c.CATEGORY_DIGIT:
                    chars.update(_DIGITS)  # only ASCII digit strings are ever tested
                else:
                    raise _Unsupported(kind)
            options = [(frozenset(chars & _DIGITS),)]
        elif op is c.SUBPATTERN:
            options = _expand_items(av[3])
        elif op is c.BRANCH:
            options = [seq for branch in av[1] for seq in _expand_items(branch)]
        elif op in (c.MAX_REPEAT, c.MIN_REPEAT):
            low, high, sub = av
            if high is c.MAXREPEAT or high > 20:
                raise _Unsupported(op)
            inner = _expand_items(sub)
            options = []
            power: list[tuple[frozenset[str], ...]] = [()]
            for count in range(high + 1):
                if count >= low:
                    options.extend(power)
                if count < high:
                    power = [a + b for a in power for b in inner]
                    if len(power) > _EXPANSION_CAP:
                        raise _Unsupported("too many alternatives")
        else:
            raise _Unsupported(op)
        result = [a + b for a in result for b in options]
        if len(result) > _EXPANSION_CAP:
            raise _Unsupported("too many alternatives")
    return result


def sequences(pattern: str, length: int) -> list[tuple[frozenset[str], ...]]:
    """The digit-set sequences of ``length`` whose product is what ``fullmatch(pattern)`` accepts."""
    import re._parser as parser  # noqa: PLC0415

    seqs = _expand_items(parser.parse(pattern))
    return list({seq for seq in seqs if len(seq) == length and all(seq)})


def prefix_table(region: str, length: int, depth: int = TABLE_DEPTH) -> dict[str, bool] | None:
    """``prefix of depth digits -> valid`` where the prefix decides, for NSNs of ``length`` digits.

    Mirrors `type_pattern` (general pattern and one of the types accepting the length). Prefixes
    where only some numbers are valid are absent. ``None`` when a pattern cannot be expanded.
    """
    metadata = PhoneMetadata.metadata_for_region(region)
    if metadata is None or length < depth:
        return None
    general = metadata.general_desc
    if general is None or not general.national_number_pattern or not desc_accepts_length(general, length):
        return {}  # `type_pattern` is None: nothing of this length is valid (all prefixes "none")
    try:
        gen = sequences(general.national_number_pattern, length)
        types: list[tuple[frozenset[str], ...]] = []
        for field in TYPE_FIELDS:
            desc = getattr(metadata, field)
            if desc is not None and desc.national_number_pattern and desc_accepts_length(desc, length):
                types.extend(sequences(desc.national_number_pattern, length))
    except (_Unsupported, RecursionError, ValueError):
        return None
    types = list(set(types))
    memo: dict[tuple[int, frozenset[int], frozenset[int]], int] = {}
    budget = [200_000]
    ALL, NONE, SOME = 1, 0, 2

    def step(d: int, g: frozenset[int], t: frozenset[int], digit: str) -> tuple[frozenset[int], frozenset[int]]:
        return (frozenset(i for i in g if digit in gen[i][d]), frozenset(i for i in t if digit in types[i][d]))

    def verdict(d: int, g: frozenset[int], t: frozenset[int]) -> int:
        if not g or not t:
            return NONE
        if d == length:
            return ALL
        key = (d, g, t)
        known = memo.get(key)
        if known is not None:
            return known
        budget[0] -= 1
        if budget[0] < 0:
            raise _Unsupported("state space too large")
        seen = set()
        for digit in "0123456789":
            seen.add(verdict(d + 1, *step(d, g, t, digit)))
            if SOME in seen or len(seen) > 1:
                result = SOME
                break
        else:
            result = seen.pop()
        memo[key] = result
        return result

    table: dict[str, bool] = {}

    def fill(prefix: str, g: frozenset[int], t: frozenset[int]) -> None:
        d = len(prefix)
        answer = verdict(d, g, t)
        if answer != SOME or d == depth:
            if answer == SOME:
                return
            width = depth - d
            for tail in range(10**width):
                table[prefix + (f"{tail:0{width}d}" if width else "")] = answer == ALL
            return
        for digit in "0123456789":
            fill(prefix + digit, *step(d, g, t, digit))

    try:
        fill("", frozenset(range(len(gen))), frozenset(range(len(types))))
    except (_Unsupported, RecursionError):
        return None
    return table


#: Verdicts in a `checker` table.
NO, YES, ASK = 0, 1, 2


#: `checker`'s answer: ``(div, cells, full, off)``.
Check = tuple[int, bytes, Validator, int]


@lru_cache(maxsize=None)
def checker(code: int, length: int) -> Check:
    """Validity of NSNs of one length without a regex call for most of them: ``(div, table, full, off)``.

    With ``n`` the int of ``<nsn>`` (or ``off = code * 10**length // div`` subtracted for the int of
    ``<code><nsn>``), ``table[n // div]`` is `NO`, `YES`, or `ASK`: then ``full(nsn)`` (truthy iff
    valid). Same answer as `validator`; ints because slicing and hashing a string cost more.
    """
    full = validator(code, length)
    regions = regions_for_code(code)
    table = None
    if full is not never and regions is not None and len(regions) == 1 and length >= TABLE_DEPTH:
        table = prefix_table(regions[0][0], length)
    if table is None:
        div = 10**length  # n // div is 0 (national) or the code: one entry, "ask"
        return (div, bytes([NO if full is never else ASK]), full, code)
    div = 10 ** (length - TABLE_DEPTH)
    cells = bytearray([ASK]) * 10**TABLE_DEPTH
    for prefix, valid in table.items():
        cells[int(prefix)] = YES if valid else NO
    if not table:
        cells = bytearray([NO]) * 10**TABLE_DEPTH
    return (div, bytes(cells), full, code * 10**TABLE_DEPTH)


class IntParserTables:
    """The decisions `int_parser_for`'s ``parse`` takes from tables, for a vectorised caller.

    Each field is one inlined branch of ``parse``, restricted to what a table decides; a caller
    (``etl.audience.vectorized``) applies them to many numbers at once and sends every other value,
    and every `ASK` cell, to ``parse`` itself. ``tests/audience/test_vectorized.py`` checks the
    result equals ``parse`` value by value.

    - ``national[size]``: for ``0<nsn>`` of ``size`` digits (the 0 included), where ``parse`` takes
      its national branch and the general pattern can never match a string starting with 0 (so
      ``general_fullmatch(digits) is None`` always holds): ``(div, cells, base)``: the verdict is
      ``cells[int(digits) // div]`` and the number ``base + int(digits)``.
    - ``own[size]``: for ``+<own code><nsn>`` (and ``00<own code><nsn>`` when ``idd_00``), ``<nsn>``
      of ``size`` digits not starting with 0: ``(div, cells, off)``, verdict
      ``cells[n // div - off]`` with ``n`` the int of ``<own code><nsn>``, the number ``n``. Present
      only when every 3-digit head starting with the own code maps to it and it is "simple".
    - ``plus_own_national``: ``+<own code>0<nsn>`` is the national case on ``0<nsn>``.
    - ``bare_own_min_digits``: ``<own code><nsn>`` (no ``+``, ``<nsn>`` not starting with 0) of at
      least this many digits, and not of a length in ``bare_own_excluded``, is read as
      ``+<own code><nsn>`` (0: never). That is `extract`'s "starts with the default country code"
      rule when the whole string is `TOO_LONG` for a national number, the national prefix a
      plain 0 (nothing to strip before a non-zero digit) and the code's main region the default.
    """

    __slots__ = ("bare_own_excluded", "bare_own_min_digits", "idd_00", "national", "own", "own_code",
                 "own_code_str", "plus_own_national")

    def __init__(self, own_code: int, own_code_str: str, national: dict[int, tuple[int, bytes, int]],
                 own: dict[int, tuple[int, bytes, int]], idd_00: bool, plus_own_national: bool,
                 bare_own_min_digits: int, bare_own_excluded: tuple[int, ...]) -> None:
        self.own_code = own_code
        self.own_code_str = own_code_str
        self.national = national
        self.own = own
        self.idd_00 = idd_00
        self.plus_own_national = plus_own_national
        self.bare_own_min_digits = bare_own_min_digits
        self.bare_own_excluded = bare_own_excluded


def general_never_matches_leading_zero(meta: Meta, size: int) -> bool:
    """True when no string of ``size`` digits starting with 0 fully matches the general pattern."""
    if meta.general is None:
        return True
    try:
        found = sequences(meta.general.pattern, size)
    except (_Unsupported, RecursionError, ValueError):
        return False
    return all("0" not in seq[0] for seq in found)


@lru_cache(maxsize=None)
def int_parser_tables(region: str) -> IntParserTables | None:
    """`IntParserTables` for ``e164_int_parser(region)``; ``None`` when the region has none."""
    meta = region_meta(region)
    if meta is None:
        return None
    max_nsn = MAX_LENGTH_FOR_NSN
    own_code = meta.code
    zero_national, idd_00, plus_own_national = national_shapes(meta, region)
    keeps = (IS_POSSIBLE, TOO_LONG)
    national: dict[int, tuple[int, bytes, int]] = {}
    if zero_national:
        for size in range(MIN_LENGTH_FOR_NSN, max_nsn + 1):
            if meta.test_length("1" * size) in keeps and general_never_matches_leading_zero(meta, size + 1):
                div, cells, _full, _off = checker(own_code, size)
                if len(cells) == 10**TABLE_DEPTH:
                    national[size + 1] = (div, cells, own_code * 10**size)
    own: dict[int, tuple[int, bytes, int]] = {}
    code_str = meta.code_str
    heads = code_prefixes()
    tails = [f"{t:0{3 - len(code_str)}d}" if len(code_str) < 3 else "" for t in range(10 ** (3 - len(code_str)))]
    if all((heads.get(code_str + tail) or (0, 0, False))[:3:2] == (own_code, True) for tail in tails):
        for size in range(max(MIN_LENGTH_FOR_NSN, TABLE_DEPTH), max_nsn + 1):
            div, cells, _full, off = checker(own_code, size)
            if len(cells) == 10**TABLE_DEPTH:
                own[size] = (div, cells, off)
    bare = meta.lengths[-1] + 1 if plus_own_national and own and meta.lengths else 0
    return IntParserTables(own_code, code_str, national, own, idd_00, plus_own_national, bare, meta.local_lengths)
