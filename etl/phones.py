"""Phone numbers to E.164, through `phonenumbers`, with a fast path that gives the same answers.

Why a fast path: `phonenumbers.parse` + ``is_valid_number`` + ``format_number`` costs ~44 µs a
number (``../shared/PERF-FACTS.md``): 44 s for a 1,000,000-entry stop list, 7 minutes for a
10,000,000-row audience file. Almost every number we see is one of a few *plain* shapes: digits,
an optional leading ``+``, and the separators people type (``0612345678``, ``06 12 34 56 78``,
``06.12.34.56.78``, ``06-12-…``, ``+33612345678``, ``+33 (0)6 12 34 56 78``, ``0033612345678``,
``33612345678``). For those shapes `phonenumbers` only ever looks at the digit string, so
`_FastRegion.digits` re-implements *its* decisions on that string, step by step, with *its own
metadata* compiled once per region:

- ``_maybe_strip_i18n_prefix_and_normalize`` / ``_parse_prefix_as_idd`` (``+`` or the region's IDD,
  e.g. ``00``, not followed by ``0``),
- ``_extract_country_code`` (1 to 3 digits found in ``COUNTRY_CODE_TO_REGION_CODE``) and the
  retry without the ``+`` when the code is unknown,
- the "starts with the default country code" rule of ``_maybe_extract_country_code``,
- ``_maybe_strip_national_prefix_carrier_code`` and the ``_test_number_length`` guard in ``parse``,
- ``is_valid_number``: ``_region_code_for_number_from_list`` then ``_number_type_helper``, folded
  into one regular expression per (region, NSN length).

Anything else (letters, extensions, other punctuation, Unicode digits, a national significant
number with a leading zero, non-geographic codes) goes to `phonenumbers` itself.
``tests/test_phones.py`` proves by property test, over many regions and shapes, that both paths
give identical answers.

Three questions, three functions:

- `normalize` answers "is this a real, valid number, and what is its E.164 form?" (audience filter,
  CLI input, numbers we send to the API). Invalid means `InvalidPhoneNumber`.
- `canonicalize` answers "what is the E.164 spelling of what the API gave us?" for stored data:
  a stop must never be dropped because the metadata calls its number invalid, so any number
  `phonenumbers` can *parse* is kept in E.164 form; only unparseable text gives ``None``.
- `e164_int_parser` is `normalize` for hot loops: it returns the E.164 digits as an ``int`` (``0``
  for an invalid number) so that callers can keep millions of numbers as compact ints.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from functools import lru_cache
from typing import cast

import phonenumbers
from phonenumbers import PhoneMetadata, PhoneNumberFormat
from phonenumbers.phonemetadata import PhoneNumberDesc

from etl.errors import InvalidPhoneNumber

__all__ = ["normalize", "normalize_or_none", "canonicalize", "canonicalizer", "is_valid_e164", "e164_int_parser", "e164_from_int"]

#: The shapes the fast path takes: an optional ``+``, then digits and the separators space, dot,
#: dash, parentheses and no-break space (all in phonenumbers' ``_VALID_PUNCTUATION``, all dropped by
#: its ``_normalize``), first and last character a digit (after the ``+``). ASCII digits only.
_FAST_SHAPE = re.compile(r"\+?[0-9](?:[0-9 .\-()\xa0]*[0-9])?")
_DROP_SEPARATORS = str.maketrans("", "", " .-()\xa0")
_DROP_SEPARATORS_BYTES = b" .-()"  # the ASCII ones, for bytes.translate (5x faster)

# Verdicts of `_FastRegion.digits` besides a digit string.
_INVALID = False  # phonenumbers would raise or call the number invalid
_SLOW = None  # shape or metadata not covered: ask phonenumbers

# phonenumbers' ValidationResult, for the length test in `parse`.
_IS_POSSIBLE, _LOCAL_ONLY, _TOO_SHORT, _INVALID_LENGTH, _TOO_LONG = range(5)

_MIN_LENGTH_FOR_NSN = 2  # phonenumberutil._MIN_LENGTH_FOR_NSN
_MAX_LENGTH_FOR_NSN = 17  # phonenumberutil._MAX_LENGTH_FOR_NSN

# Number types checked by phonenumbers' `_number_type_helper`, in its order. A number is valid when
# it matches the general description and at least one of these.
_TYPE_FIELDS = (
    "premium_rate",
    "toll_free",
    "shared_cost",
    "voip",
    "personal_number",
    "pager",
    "uan",
    "voicemail",
    "fixed_line",
    "mobile",
)


def _desc_accepts_length(desc: PhoneNumberDesc, length: int) -> bool:
    lengths = desc.possible_length
    return not lengths or length in lengths


class _Meta:
    """The parts of one region's metadata that parsing a plain digit string needs, compiled."""

    __slots__ = ("region", "code", "code_str", "general", "lengths", "local_lengths", "npp", "transform", "idd")

    def __init__(self, metadata: PhoneMetadata) -> None:
        general = metadata.general_desc
        self.region: str = metadata.id
        self.code: int = cast(int, metadata.country_code)  # typed optional; every region's metadata has one
        self.code_str = str(metadata.country_code)
        pattern = general.national_number_pattern if general is not None else None
        self.general: re.Pattern[str] | None = re.compile(pattern) if pattern else None
        self.lengths: tuple[int, ...] = tuple(general.possible_length) if general is not None else ()
        self.local_lengths: tuple[int, ...] = tuple(general.possible_length_local_only) if general is not None else ()
        npp = metadata.national_prefix_for_parsing
        self.npp: re.Pattern[str] | None = re.compile(npp) if npp else None
        self.transform: str | None = metadata.national_prefix_transform_rule or None
        idd = metadata.international_prefix
        self.idd: re.Pattern[str] | None = re.compile(idd) if idd else None

    def matches_general(self, number: str) -> bool:
        """phonenumbers' ``_match_national_number(number, general_desc, False)``."""
        return self.general is not None and self.general.fullmatch(number) is not None

    def test_length(self, number: str) -> int:
        """phonenumbers' ``_test_number_length(number, metadata)`` for the type UNKNOWN."""
        size = len(number)
        if size in self.local_lengths:
            return _LOCAL_ONLY
        if not self.lengths:  # pragma: no cover - every region has general lengths
            return _INVALID_LENGTH
        minimum = self.lengths[0]
        if minimum == size:
            return _IS_POSSIBLE
        if minimum > size:
            return _TOO_SHORT
        if self.lengths[-1] < size:
            return _TOO_LONG
        return _IS_POSSIBLE if size in self.lengths[1:] else _INVALID_LENGTH

    def strip_national_prefix(self, number: str) -> str:
        """phonenumbers' ``_maybe_strip_national_prefix_carrier_code``, the number part only."""
        if not number or self.npp is None:
            return number
        match = self.npp.match(number)
        if match is None:
            return number
        viable_original = self.matches_general(number)
        groups = match.groups()
        if self.transform is None or not groups or groups[-1] is None:
            stripped = number[match.end() :]
        else:
            stripped = self.npp.sub(self.transform, number, count=1)
        if viable_original and not self.matches_general(stripped):
            return number
        return stripped


@lru_cache(maxsize=None)
def _meta(region: str) -> _Meta | None:
    metadata = PhoneMetadata.metadata_for_region(region)
    return _Meta(metadata) if metadata is not None else None


@lru_cache(maxsize=None)
def _meta_for_code(code: int) -> _Meta | None:
    """Metadata phonenumbers uses for a number with this country code (its main region)."""
    region = phonenumbers.region_code_for_country_code(code)
    if region == phonenumbers.UNKNOWN_REGION or region == "001":
        return None  # non-geographic codes: leave them to phonenumbers
    return _meta(region)


@lru_cache(maxsize=8192)
def _type_pattern(region: str, length: int) -> re.Pattern[str] | None:
    """One pattern equivalent to ``_number_type_helper(nsn, metadata) != UNKNOWN`` for one NSN length.

    ``None`` means no number of that length has a type in that region.
    """
    metadata = PhoneMetadata.metadata_for_region(region)
    if metadata is None:
        return None
    general = metadata.general_desc
    if general is None or not general.national_number_pattern or not _desc_accepts_length(general, length):
        return None
    alternatives = []
    # Order does not change the answer ("any type matches"), only the speed: the common types first.
    for field in sorted(_TYPE_FIELDS, key=lambda name: name not in ("mobile", "fixed_line")):
        desc = getattr(metadata, field)
        if desc is None or not desc.national_number_pattern:
            continue
        if _desc_accepts_length(desc, length):
            alternatives.append(f"(?:{desc.national_number_pattern})")
    if not alternatives:
        return None
    return re.compile(f"(?=(?:{general.national_number_pattern})\\Z)(?:{'|'.join(alternatives)})")


@lru_cache(maxsize=None)
def _regions_for_code(code: int) -> tuple[tuple[str, re.Pattern[str] | None], ...] | None:
    """The regions sharing a country code, with their ``leading_digits`` pattern, in phonenumbers' order."""
    regions = phonenumbers.COUNTRY_CODE_TO_REGION_CODE.get(code)
    if not regions or "001" in regions:
        return None
    result = []
    for region in regions:
        metadata = PhoneMetadata.metadata_for_region(region)
        if metadata is None:
            continue
        leading = re.compile(metadata.leading_digits) if metadata.leading_digits is not None else None
        result.append((region, leading))
    return tuple(result)


def _is_valid(code: int, nsn: str) -> bool | None:
    """phonenumbers' ``is_valid_number`` for a number without leading zero; ``None``: not covered."""
    regions = _regions_for_code(code)
    if regions is None:
        return None
    if len(regions) == 1:
        pattern = _type_pattern(regions[0][0], len(nsn))
        return pattern is not None and pattern.fullmatch(nsn) is not None
    # `_region_code_for_number_from_list`: the first region whose leading digits match, or else the
    # first where the number has a type; then `is_valid_number_for_region` for that region.
    for region, leading in regions:
        pattern = _type_pattern(region, len(nsn))
        has_type = pattern is not None and pattern.fullmatch(nsn) is not None
        if leading is not None:
            if leading.match(nsn):
                return has_type
        elif has_type:
            return True
    return False


def _extract_country_code(number: str) -> tuple[int, str]:
    """phonenumbers' ``_extract_country_code``."""
    if not number or number[0] == "0":
        return 0, number
    known = phonenumbers.COUNTRY_CODE_TO_REGION_CODE
    for size in range(1, min(len(number), 3) + 1):
        code = int(number[:size])
        if code in known:
            return code, number[size:]
    return 0, number


def _parse_digits(plus: bool, digits: str, default: _Meta) -> tuple[int, str] | bool | None:
    """phonenumbers' ``parse`` for a plain digit string: (country code, NSN), `_INVALID` or `_SLOW`."""
    meta: _Meta | None = default
    code, national = _extract(plus, digits, default)
    if code < 0:
        return _INVALID
    if code == 0 and plus:
        # parse(): an unknown code after '+' is retried as if the '+' were not there.
        code, national = _extract(False, digits, default)
        if code <= 0:
            return _INVALID
    if code != 0:
        main = phonenumbers.region_code_for_country_code(code)
        if main != default.region:
            meta = _meta_for_code(code)
            if meta is None:
                return _SLOW
    else:
        national = digits
        code = default.code
    if len(national) < _MIN_LENGTH_FOR_NSN:
        return _INVALID
    assert meta is not None
    candidate = meta.strip_national_prefix(national)
    if meta.test_length(candidate) not in (_TOO_SHORT, _LOCAL_ONLY, _INVALID_LENGTH):
        national = candidate
    if len(national) < _MIN_LENGTH_FOR_NSN or len(national) > _MAX_LENGTH_FOR_NSN:
        return _INVALID
    if national[0] == "0":
        return _SLOW  # phonenumbers' "italian leading zero" bookkeeping: not worth copying
    return code, national


def _extract(plus: bool, digits: str, default: _Meta) -> tuple[int, str]:
    """phonenumbers' ``_maybe_extract_country_code``: (code, rest), (0, "") for none, (-1, "") if it raises."""
    if plus:
        full = digits
    else:
        full = ""
        idd = default.idd
        match = idd.match(digits) if idd is not None else None
        if match is not None and digits[match.end() : match.end() + 1] != "0":
            full = digits[match.end() :]
        else:
            match = None
        if match is None:
            # No '+' and no IDD: the number may start with the default region's country code.
            if digits.startswith(default.code_str):
                potential = default.strip_national_prefix(digits[len(default.code_str) :])
                if (
                    not default.matches_general(digits) and default.matches_general(potential)
                ) or default.test_length(digits) == _TOO_LONG:
                    return default.code, potential
            return 0, ""
    if len(full) <= _MIN_LENGTH_FOR_NSN:
        return -1, ""  # TOO_SHORT_AFTER_IDD
    code, rest = _extract_country_code(full)
    if code == 0:
        return (0, "") if plus else (-1, "")  # INVALID_COUNTRY_CODE (parse retries a '+' number)
    return code, rest


def _fast_generic(text: str, default: _Meta) -> str | bool | None:
    """E.164 digits (no '+') of a valid number, `_INVALID`, or `_SLOW` (use phonenumbers)."""
    if len(text) > 40 or _FAST_SHAPE.fullmatch(text) is None:
        return _SLOW
    plus = text[0] == "+"
    digits = (text[1:] if plus else text).translate(_DROP_SEPARATORS)
    if len(digits) < 3:
        return _SLOW  # phonenumbers' viability rules for 1-2 digits
    parsed = _parse_digits(plus, digits, default)
    if parsed is None or parsed is False:
        return parsed
    assert not isinstance(parsed, bool)
    code, nsn = parsed
    valid = _is_valid(code, nsn)
    if valid is None:
        return _SLOW
    return f"{code}{nsn}" if valid else _INVALID


def _never(_nsn: str) -> bool:
    return False


@lru_cache(maxsize=None)
def _validator(code: int, length: int) -> Callable[[str], object]:
    """``nsn -> truthy`` iff phonenumbers calls the number valid, for NSNs of one length (no leading 0)."""
    regions = _regions_for_code(code)
    if regions is None:
        raise LookupError(code)  # callers only ask for codes `_CountryCodes` accepted
    if len(regions) == 1:
        pattern = _type_pattern(regions[0][0], length)
        return pattern.fullmatch if pattern is not None else _never
    return lambda nsn: _is_valid(code, nsn)


# --- exact prefix tables --------------------------------------------------------------------------
#
# A regular expression call costs ~0.3-1 µs, more than the rest of a row. For most (code, length)
# pairs the first few digits of the national significant number decide validity (French mobiles:
# ``6[0-24-8]``, ``63[0-8]``, ``7[3-9]``…), so `_prefix_table` reads the metadata's patterns with
# Python's own regex parser, expands each into the sequences of digit sets it accepts, and works out
# for every prefix of ``depth`` digits whether *all*, *none* or only *some* numbers of that length
# starting with it are valid. Only "some" prefixes (and patterns with constructs it does not expand)
# still run the regular expression. Exact by construction; ``tests/test_phones.py`` also compares it
# with the regular expression number by number.

_DIGITS = frozenset("0123456789")
_EXPANSION_CAP = 20_000
_TABLE_DEPTH = 4


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


def _sequences(pattern: str, length: int) -> list[tuple[frozenset[str], ...]]:
    """The digit-set sequences of ``length`` whose product is what ``fullmatch(pattern)`` accepts."""
    import re._parser as parser  # noqa: PLC0415

    seqs = _expand_items(parser.parse(pattern))
    return list({seq for seq in seqs if len(seq) == length and all(seq)})


def _prefix_table(region: str, length: int, depth: int = _TABLE_DEPTH) -> dict[str, bool] | None:
    """``prefix of depth digits -> valid`` where the prefix decides, for NSNs of ``length`` digits.

    Mirrors `_type_pattern` (general pattern and one of the types accepting the length). Prefixes
    where only some numbers are valid are absent. ``None`` when a pattern cannot be expanded.
    """
    metadata = PhoneMetadata.metadata_for_region(region)
    if metadata is None or length < depth:
        return None
    general = metadata.general_desc
    if general is None or not general.national_number_pattern or not _desc_accepts_length(general, length):
        return {}  # `_type_pattern` is None: nothing of this length is valid (all prefixes "none")
    try:
        gen = _sequences(general.national_number_pattern, length)
        types: list[tuple[frozenset[str], ...]] = []
        for field in _TYPE_FIELDS:
            desc = getattr(metadata, field)
            if desc is not None and desc.national_number_pattern and _desc_accepts_length(desc, length):
                types.extend(_sequences(desc.national_number_pattern, length))
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


#: Verdicts in a `_checker` table.
_NO, _YES, _ASK = 0, 1, 2


@lru_cache(maxsize=None)
def _checker(code: int, length: int) -> tuple[int, bytes, Callable[[str], object], int]:
    """Validity of NSNs of one length without a regex call for most of them: ``(div, table, full, off)``.

    With ``n`` the int of ``<nsn>`` (or ``off = code * 10**length // div`` subtracted for the int of
    ``<code><nsn>``), ``table[n // div]`` is `_NO`, `_YES`, or `_ASK`: then ``full(nsn)`` (truthy iff
    valid). Same answer as `_validator`; ints because slicing and hashing a string cost more.
    """
    full = _validator(code, length)
    regions = _regions_for_code(code)
    table = None
    if full is not _never and regions is not None and len(regions) == 1 and length >= _TABLE_DEPTH:
        table = _prefix_table(regions[0][0], length)
    if table is None:
        div = 10**length  # n // div is 0 (national) or the code: one entry, "ask"
        return (div, bytes([_NO if full is _never else _ASK]), full, code)
    div = 10 ** (length - _TABLE_DEPTH)
    cells = bytearray([_ASK]) * 10**_TABLE_DEPTH
    for prefix, valid in table.items():
        cells[int(prefix)] = _YES if valid else _NO
    if not table:
        cells = bytearray([_NO]) * 10**_TABLE_DEPTH
    return (div, bytes(cells), full, code * 10**_TABLE_DEPTH)


@lru_cache(maxsize=1)
def _country_codes() -> dict[str, tuple[int, str, bool]]:
    """Country code prefix -> (code, code as text, "simple": the number's region strips at most a plain 0).

    With a simple region, digits after ``+<code>`` that do not start with 0 *are* the national
    significant number: `_maybe_strip_national_prefix_carrier_code` cannot match.
    """
    return {str(code): (code, str(code), _simple_code(code)) for code in phonenumbers.COUNTRY_CODE_TO_REGION_CODE}


def _simple_code(code: int) -> bool:
    """`_country_codes`' "simple" for one code (loads that code's metadata only)."""
    meta = _meta_for_code(code)
    return (
        meta is not None
        and "001" not in phonenumbers.COUNTRY_CODE_TO_REGION_CODE[code]
        and (meta.npp is None or (meta.npp.pattern == "0" and meta.transform is None))
    )


def _code_prefix(head: str) -> tuple[int, int, bool] | None:
    """`_code_prefixes().get(head)`, computed for this one prefix: loads only its code's metadata.

    (The whole table loads every region's metadata, ~0.17 s: a process that only ever sees
    ``+33...`` numbers need not pay it.)
    """
    if len(head) != 3 or not head.isdigit() or head[0] == "0":
        return None
    for size in (1, 2, 3):
        code = int(head[:size])
        if code in phonenumbers.COUNTRY_CODE_TO_REGION_CODE:
            return (code, size, _simple_code(code))
    return None


def _plain_zero_national(meta: _Meta) -> bool:
    """Plain metadata the fast paths may read: trunk prefix "0", no national-number transform,
    IDD "00" or none, and a general description to test against."""
    return (
        meta.npp is not None
        and meta.npp.pattern == "0"
        and meta.transform is None
        and (meta.idd is None or meta.idd.pattern == "00")
        and meta.general is not None
    )


def _make_fast(meta: _Meta) -> Callable[[str], str | bool | None]:
    """The fast path for one default region: ``raw -> E.164 digits (no '+') | _INVALID | _SLOW``.

    The hottest shapes are inlined over local variables (each attribute lookup or call costs
    ~50-100 ns, and the audience filter's budget is ~2 µs a row, CSV included):

    - ``+<code><nsn>``, where the code's region strips at most a plain ``0`` and ``<nsn>`` does not
      start with 0: ``_maybe_strip_national_prefix_carrier_code`` cannot match, ``<nsn>`` *is* the
      national significant number;
    - ``0<nsn>`` in a region whose IDD is ``00`` and national prefix a plain ``0`` (FR, the DOM,
      DE, BE, CH, …), when the whole string is not itself a viable national number and ``<nsn>``
      has a length ``parse`` keeps after stripping (`_TOO_SHORT`, `_LOCAL_ONLY` and
      `_INVALID_LENGTH` are not);
    - either of them with the separators ``parse`` drops (``06 12 34 56 78``, ``06.12…``,
      ``+33 6 12…``).

    Everything else (and any surrounding whitespace) goes through `_fast_generic`, which mirrors
    ``parse`` for every plain shape, or returns `_SLOW` for phonenumbers itself.
    """
    codes = _country_codes()
    code_validators: dict[int, list[Callable[[str], object] | None]] = {}
    own_code = meta.code
    own_code_str = meta.code_str
    zero_national = _plain_zero_national(meta) and not own_code_str.startswith("0")
    keeps = (_IS_POSSIBLE, _TOO_LONG)
    own_validators: list[Callable[[str], object] | None] = [None] * (_MAX_LENGTH_FOR_NSN + 1)
    for size in range(_MIN_LENGTH_FOR_NSN, _MAX_LENGTH_FOR_NSN + 1):
        if meta.test_length("1" * size) in keeps:
            own_validators[size] = _validator(own_code, size)
    general_fullmatch = meta.general.fullmatch if meta.general is not None else None
    shape = _FAST_SHAPE.fullmatch
    drop = _DROP_SEPARATORS
    max_nsn = _MAX_LENGTH_FOR_NSN

    def validators_for(code: int) -> list[Callable[[str], object] | None]:
        table: list[Callable[[str], object] | None] = [None] * (max_nsn + 1)
        for size in range(_MIN_LENGTH_FOR_NSN, max_nsn + 1):
            table[size] = _validator(code, size)
        code_validators[code] = table
        return table

    def fast(raw: str) -> str | bool | None:
        if raw.isdigit() and raw.isascii():
            digits = raw
        elif len(raw) < 40 and shape(raw) is not None:
            digits = raw.translate(drop)
        else:
            return _fast_generic(raw.strip(), meta)
        first = digits[:1]
        if first == "+":
            digits = digits[1:]
            info = codes.get(digits[:1]) or codes.get(digits[:2]) or codes.get(digits[:3])
            if info is not None and info[2] and len(digits) >= 3:
                code_str = info[1]
                nsn = digits[len(code_str) :]
                size = len(nsn)
                if size >= _MIN_LENGTH_FOR_NSN and nsn[0] != "0":
                    if size > max_nsn:
                        return _INVALID
                    table = code_validators.get(info[0]) or validators_for(info[0])
                    return code_str + nsn if table[size](nsn) else _INVALID  # type: ignore[misc]
        elif first == "0" and zero_national and digits[1:2] not in ("0", "") and len(digits) > 2:
            nsn = digits[1:]
            if len(nsn) <= max_nsn:
                check = own_validators[len(nsn)]
                if check is not None and general_fullmatch(digits) is None:  # type: ignore[misc]
                    return own_code_str + nsn if check(nsn) else _INVALID
        return _fast_generic(raw.strip(), meta)

    return fast


@lru_cache(maxsize=None)
def _fast_for(region: str) -> Callable[[str], str | bool | None] | None:
    meta = _meta(region)
    return _make_fast(meta) if meta is not None else None


def _fast(text: str, region: str) -> str | bool | None:
    """E.164 digits (no '+') of a valid number, `_INVALID`, or `_SLOW` (use phonenumbers)."""
    if not text:
        return _SLOW
    fast = _fast_for(region)
    if fast is None:
        return _SLOW
    return fast(text)


def _slow_parse(raw: str, default_region: str) -> phonenumbers.PhoneNumber | None:
    try:
        return phonenumbers.parse(raw, default_region)
    except phonenumbers.NumberParseException:
        return None


def _slow_valid_e164(text: str, default_region: str) -> str | None:
    number = _slow_parse(text, default_region)
    if number is None or not phonenumbers.is_valid_number(number):
        return None
    return phonenumbers.format_number(number, PhoneNumberFormat.E164)


def normalize(raw: str, default_region: str = "FR") -> str:
    """Return the E.164 form of a *valid* number, or raise `InvalidPhoneNumber`."""
    text = raw.strip()
    fast = _fast(text, default_region)
    if isinstance(fast, str):
        return "+" + fast
    if fast is _INVALID:
        raise InvalidPhoneNumber(raw)
    number = _slow_parse(text, default_region)
    if number is None:
        raise InvalidPhoneNumber(raw, "cannot be parsed as a phone number")
    if not phonenumbers.is_valid_number(number):
        raise InvalidPhoneNumber(raw)
    return phonenumbers.format_number(number, PhoneNumberFormat.E164)


def normalize_or_none(raw: str, default_region: str = "FR") -> str | None:
    """Like `normalize`, but ``None`` for an invalid number."""
    text = raw.strip()
    fast = _fast(text, default_region)
    if isinstance(fast, str):
        return "+" + fast
    if fast is _INVALID:
        return None
    return _slow_valid_e164(text, default_region)


def canonicalize(raw: str, default_region: str = "FR") -> str | None:
    """E.164 spelling of any *parseable* number (valid or not), ``None`` if it cannot be parsed.

    For stored data: the API's own list is the truth, so a number the metadata deems invalid is
    still kept, in the spelling `normalize` would give it if it were valid.
    """
    text = raw.strip()
    if text[:1] == "+" and text[1:].isdigit() and text.isascii():
        # ``+<code><nsn>`` with a "simple" code and an NSN not starting with 0: ``parse`` strips
        # nothing, so the E.164 spelling is the text itself, valid or not (the API's stops are such
        # strings; phonenumbers costs ~44 µs each for the ~19 % the metadata calls invalid).
        head = _code_prefixes().get(text[1:4])
        if head is not None and head[2]:
            size = len(text) - 1 - head[1]
            if _MIN_LENGTH_FOR_NSN <= size <= _MAX_LENGTH_FOR_NSN and text[1 + head[1]] != "0":
                return text
    fast = _fast(text, default_region)
    if isinstance(fast, str):
        return "+" + fast
    number = _slow_parse(text, default_region)
    if number is None:
        return None
    return phonenumbers.format_number(number, PhoneNumberFormat.E164)


def canonicalizer(default_region: str = "FR") -> Callable[[str], str | None]:
    """`canonicalize` as a function for a loop over a million numbers: the same answers.

    The common case, a ready ``+<code><nsn>`` with no spaces, is decided over local variables
    (no ``strip``, no cached-call wrapper: ~0.25 µs less a number); everything else, including
    text that strips to that shape, goes to `canonicalize` itself.
    """
    prefixes: dict[str, tuple[int, int, bool] | None] = {}  # filled as prefixes come (`_code_prefix`)
    shortest, longest = _MIN_LENGTH_FOR_NSN, _MAX_LENGTH_FOR_NSN
    general = canonicalize

    def canonical(raw: str) -> str | None:
        if raw[:1] == "+" and raw.isascii() and raw[1:].isdigit():
            key = raw[1:4]
            head = prefixes[key] if key in prefixes else prefixes.setdefault(key, _code_prefix(key))
            if head is not None and head[2] and shortest <= len(raw) - 1 - head[1] <= longest and raw[1 + head[1]] != "0":
                return raw
        return general(raw, default_region)

    return canonical


def is_valid_e164(value: str) -> bool:
    """True when ``value`` is already the E.164 form of a valid number."""
    return normalize_or_none(value) == value


def e164_from_int(value: int) -> str:
    """The E.164 string of a number kept as an int by `e164_int_parser`."""
    return f"+{value}"


def e164_int_parser(default_region: str = "FR") -> Callable[[str], int]:
    """A function ``raw -> int(E.164 digits)``, ``0`` for a number `normalize` would refuse.

    Same answers as `normalize` (it is built from the same pieces), but shaped for a loop over
    millions of rows: no exceptions, and ints (28-32 bytes) instead of strings for the caller's sets.
    """
    if phonenumbers.country_code_for_region(default_region) == 0:
        raise InvalidPhoneNumber(default_region, "unknown default region")
    parse = _int_parser_for(default_region)
    if parse is None:
        raise InvalidPhoneNumber(default_region, "no metadata for the default region")
    return parse


@lru_cache(maxsize=1)
def _code_prefixes() -> dict[str, tuple[int, int, bool]]:
    """First three digits after ``+`` -> (country code, its length, "simple" as in `_country_codes`).

    The same answer as phonenumbers' ``_extract_country_code`` (shortest known code first), looked up
    once per number instead of up to three times. Prefixes without a known code are absent.
    """
    codes = _country_codes()
    table = {}
    for value in range(1000):
        head = f"{value:03d}"
        if head[0] == "0":
            continue
        info = codes.get(head[:1]) or codes.get(head[:2]) or codes.get(head[:3])
        if info is not None:
            table[head] = (info[0], len(info[1]), info[2])
    return table


def _national_shapes(meta: _Meta, region: str) -> tuple[bool, bool, bool]:
    """Which shapes the region's int parsers may read without phonenumbers, as three flags.

    National numbers written with a leading 0; international ones written 00<code>; +<own code>
    followed by the national form with its 0. All only for plain metadata: trunk prefix "0", no
    national-number transform, IDD "00" or none.
    """
    zero_national = _plain_zero_national(meta)
    idd_00 = zero_national and meta.idd is not None and meta.idd.pattern == "00"
    plus_own_national = zero_national and phonenumbers.region_code_for_country_code(meta.code) == region
    return zero_national, idd_00, plus_own_national


@lru_cache(maxsize=None)
def _int_parser_for(region: str) -> Callable[[str], int] | None:
    """`e164_int_parser`'s function, built once per region.

    The shapes of a French audience file are inlined over local variables (each attribute lookup or
    call costs ~50-100 ns; the filter's budget is ~1-2 µs a row, CSV included), each one a copy of
    a decision `_make_fast` takes and proven equal to phonenumbers by ``tests/test_phones.py``:

    - ``0<nsn>`` (``0612345678``, ``06 12 34 56 78``, ``06.12…``): `_make_fast`'s national case;
    - ``+<code><nsn>`` with a "simple" code and ``<nsn>`` not starting with 0: `_make_fast`'s plus case;
    - ``+<own code>0<nsn>`` (``+33 (0)6 12…``) when the own code's main region is the default
      region: ``parse`` extracts the code, then strips the national prefix with the *same*
      metadata as for ``0<nsn>``, so it is the national case;
    - ``00<code>…`` when the IDD is exactly ``00`` and a code follows: ``parse`` reads it as
      ``+<code>…`` (an unknown code after ``00`` is invalid, after ``+`` it is retried: those go
      to the slow path).

    Separators are dropped with one ``str.translate`` when the text has the `_FAST_SHAPE` (checked
    without the regex: ASCII, only digits and separators, ``+`` only first, first and last
    character digits). Anything else goes to `_make_fast`'s function, then to phonenumbers.
    """
    meta = _meta(region)
    fast = _fast_for(region)
    if meta is None or fast is None:
        return None
    slow = _slow_valid_e164
    invalid = _INVALID
    drop = _DROP_SEPARATORS_BYTES
    max_nsn = _MAX_LENGTH_FOR_NSN
    own_code = meta.code
    zero_national, idd_00, plus_own_national = _national_shapes(meta, region)
    keeps = (_IS_POSSIBLE, _TOO_LONG)
    Check = tuple[int, bytes, Callable[[str], object], int]
    # Per length of "0<nsn>": (`_checker` of <nsn>, own code * 10**len(nsn)), or None: not inlined.
    national: list[tuple[Check, int] | None] = [None] * (max_nsn + 2)
    if zero_national:
        for size in range(_MIN_LENGTH_FOR_NSN, max_nsn + 1):
            if meta.test_length("1" * size) in keeps:
                national[size + 1] = (_checker(own_code, size), own_code * 10**size)
    general_fullmatch = meta.general.fullmatch if meta.general is not None else None
    heads = _code_prefixes()
    code_checks: dict[int, list[Check | None]] = {}
    blank: list[Check | None] = [None] * (max_nsn + 1)

    def check_for(code: int, size: int) -> Check:
        """`_checker`, built on first use (a prefix table costs ~10 ms) and kept in a list per code."""
        table = code_checks.get(code)
        if table is None:
            table = code_checks[code] = [None] * (max_nsn + 1)
        entry = table[size]
        if entry is None:
            entry = table[size] = _checker(code, size)
        return entry

    def parse(raw: str) -> int:
        if raw.isascii() and 2 < len(raw) < 40:
            if raw.isdigit():
                digits = raw
            else:
                # `_FAST_SHAPE` without the regex: only digits and separators, '+' only first,
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
                    if idd_00:  # 00<code><nsn> reads as +<code><nsn> when the code is known
                        rest = digits[2:]
                        head = heads.get(rest[:3]) if len(rest) >= 3 else None
                        if head is not None and head[2]:
                            size = len(rest) - head[1]
                            if size >= _MIN_LENGTH_FOR_NSN and rest[head[1]] != "0":
                                if size > max_nsn:
                                    return 0
                                div, cells, full, off = (code_checks.get(head[0]) or blank)[size] or check_for(
                                    head[0], size
                                )
                                n = int(rest)
                                verdict = cells[n // div - off]
                                if verdict == 2:
                                    verdict = full(rest[head[1] :])  # type: ignore[assignment]
                                return n if verdict else 0
                elif digits[1:2]:
                    size = len(digits)
                    entry = national[size] if size <= max_nsn + 1 else None
                    if entry is not None and general_fullmatch(digits) is None:  # type: ignore[misc]
                        div, cells, full, _ = entry[0]
                        n = int(digits)
                        verdict = cells[n // div]
                        if verdict == 2:
                            verdict = full(digits[1:])  # type: ignore[assignment]
                        return entry[1] + n if verdict else 0
            elif first == "+" and len(digits) >= 4:
                head = heads.get(digits[1:4])
                if head is not None and head[2]:
                    start = 1 + head[1]
                    size = len(digits) - start
                    if size >= _MIN_LENGTH_FOR_NSN:
                        if digits[start] != "0":
                            if size > max_nsn:
                                return 0
                            div, cells, full, off = (code_checks.get(head[0]) or blank)[size] or check_for(
                                head[0], size
                            )
                            n = int(digits)
                            verdict = cells[n // div - off]
                            if verdict == 2:
                                verdict = full(digits[start:])  # type: ignore[assignment]
                            return n if verdict else 0
                        if plus_own_national and head[0] == own_code and digits[start + 1 : start + 2] not in ("0", ""):
                            # +<own code>0<nsn>: the national case on "0<nsn>"
                            entry = national[size] if size <= max_nsn + 1 else None
                            nsn = digits[start:]
                            if entry is not None and general_fullmatch(nsn) is None:  # type: ignore[misc]
                                div, cells, full, _ = entry[0]
                                n = int(nsn)
                                verdict = cells[n // div]
                                if verdict == 2:
                                    verdict = full(nsn[1:])  # type: ignore[assignment]
                                return entry[1] + n if verdict else 0
        result = fast(raw) if raw else _SLOW
        if result.__class__ is str:
            return int(result)
        if result is invalid:
            return 0
        e164 = slow(raw.strip(), region)
        return int(e164[1:]) if e164 is not None else 0

    return parse


class IntParserTables:
    """The decisions `_int_parser_for`'s ``parse`` takes from tables, for a vectorised caller.

    Each field is one inlined branch of ``parse``, restricted to what a table decides; a caller
    (``etl.audience.vectorized``) applies them to many numbers at once and sends every other value,
    and every `_ASK` cell, to ``parse`` itself. ``tests/audience/test_vectorized.py`` checks the
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
      ``+<own code><nsn>`` (0: never). That is `_extract`'s "starts with the default country code"
      rule when the whole string is `_TOO_LONG` for a national number, the national prefix a
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


def _general_never_matches_leading_zero(meta: _Meta, size: int) -> bool:
    """True when no string of ``size`` digits starting with 0 fully matches the general pattern."""
    if meta.general is None:
        return True
    try:
        sequences = _sequences(meta.general.pattern, size)
    except (_Unsupported, RecursionError, ValueError):
        return False
    return all("0" not in seq[0] for seq in sequences)


@lru_cache(maxsize=None)
def int_parser_tables(region: str) -> IntParserTables | None:
    """`IntParserTables` for ``e164_int_parser(region)``; ``None`` when the region has none."""
    meta = _meta(region)
    if meta is None:
        return None
    max_nsn = _MAX_LENGTH_FOR_NSN
    own_code = meta.code
    zero_national, idd_00, plus_own_national = _national_shapes(meta, region)
    keeps = (_IS_POSSIBLE, _TOO_LONG)
    national: dict[int, tuple[int, bytes, int]] = {}
    if zero_national:
        for size in range(_MIN_LENGTH_FOR_NSN, max_nsn + 1):
            if meta.test_length("1" * size) in keeps and _general_never_matches_leading_zero(meta, size + 1):
                div, cells, _full, _off = _checker(own_code, size)
                if len(cells) == 10**_TABLE_DEPTH:
                    national[size + 1] = (div, cells, own_code * 10**size)
    own: dict[int, tuple[int, bytes, int]] = {}
    code_str = meta.code_str
    heads = _code_prefixes()
    tails = [f"{t:0{3 - len(code_str)}d}" if len(code_str) < 3 else "" for t in range(10 ** (3 - len(code_str)))]
    if all((heads.get(code_str + tail) or (0, 0, False))[:3:2] == (own_code, True) for tail in tails):
        for size in range(max(_MIN_LENGTH_FOR_NSN, _TABLE_DEPTH), max_nsn + 1):
            div, cells, _full, off = _checker(own_code, size)
            if len(cells) == 10**_TABLE_DEPTH:
                own[size] = (div, cells, off)
    bare = meta.lengths[-1] + 1 if plus_own_national and own and meta.lengths else 0
    return IntParserTables(own_code, code_str, national, own, idd_00, plus_own_national, bare, meta.local_lengths)
