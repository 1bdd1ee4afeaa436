"""Phone numbers to E.164, through `phonenumbers`, with a fast path that gives the same answers.

Three questions, three functions:

- `normalize` answers "is this a real, valid number, and what is its E.164 form?" (audience filter,
  CLI input, numbers we send to the API). Invalid means `InvalidPhoneNumber`.
- `canonicalize` answers "what is the E.164 spelling of what the API gave us?" for stored data:
  a stop must never be dropped because the metadata calls its number invalid, so any number
  `phonenumbers` can *parse* is kept in E.164 form; only unparseable text gives ``None``.
- `e164_int_parser` is `normalize` for hot loops: it returns the E.164 digits as an ``int`` (``0``
  for an invalid number) so that callers can keep millions of numbers as compact ints;
  `int_parser_tables` is its prefix tables, for a caller that applies them with numpy.

phonenumbers on every number is too slow for our lists and files (``docs/benchmarks.md``, "Phone
numbers", N1), so each function asks the fast path (`etl.phone_numbers`, which re-implements
phonenumbers' decisions for plain digit strings, with its own metadata) first, and phonenumbers
only for what the fast path leaves. ``tests/test_phones.py`` proves by property test that both give
identical answers. This module is the only importer of `etl.phone_numbers`.
"""

from __future__ import annotations

from collections.abc import Callable

import phonenumbers
from phonenumbers import PhoneNumberFormat

from etl.errors import InvalidPhoneNumber
from etl.phone_numbers.codes import code_prefix, code_prefixes
from etl.phone_numbers.fast import fast_digits
from etl.phone_numbers.int_parser import int_parser_for
from etl.phone_numbers.metadata import INVALID, MAX_LENGTH_FOR_NSN, MIN_LENGTH_FOR_NSN
from etl.phone_numbers.slow import slow_parse, slow_valid_e164
from etl.phone_numbers.tables import IntParserTables, int_parser_tables

__all__ = [
    "normalize",
    "normalize_or_none",
    "canonicalize",
    "canonicalizer",
    "is_valid_e164",
    "region_of",
    "e164_int_parser",
    "e164_from_int",
    "IntParserTables",
    "int_parser_tables",
]


def normalize(raw: str, default_region: str = "FR") -> str:
    """Return the E.164 form of a *valid* number, or raise `InvalidPhoneNumber`."""
    text = raw.strip()
    fast = fast_digits(text, default_region)
    if isinstance(fast, str):
        return "+" + fast
    if fast is INVALID:
        raise InvalidPhoneNumber(raw)
    number = slow_parse(text, default_region)
    if number is None:
        raise InvalidPhoneNumber(raw, "cannot be parsed as a phone number")
    if not phonenumbers.is_valid_number(number):
        raise InvalidPhoneNumber(raw)
    return phonenumbers.format_number(number, PhoneNumberFormat.E164)


def normalize_or_none(raw: str, default_region: str = "FR") -> str | None:
    """Like `normalize`, but ``None`` for an invalid number."""
    text = raw.strip()
    fast = fast_digits(text, default_region)
    if isinstance(fast, str):
        return "+" + fast
    if fast is INVALID:
        return None
    return slow_valid_e164(text, default_region)


def canonicalize(raw: str, default_region: str = "FR") -> str | None:
    """E.164 spelling of any *parseable* number (valid or not), ``None`` if it cannot be parsed.

    For stored data: the API's own list is the truth, so a number the metadata deems invalid is
    still kept, in the spelling `normalize` would give it if it were valid.
    """
    text = raw.strip()
    if text[:1] == "+" and text[1:].isdigit() and text.isascii():
        # ``+<code><nsn>`` with a "simple" code and an NSN not starting with 0: ``parse`` strips
        # nothing, so the E.164 spelling is the text itself, valid or not (the API's stops are such
        # strings, and phonenumbers is slow on those the metadata calls invalid: ``docs/benchmarks.md``,
        # "Phone numbers", N7).
        head = code_prefixes().get(text[1:4])
        if head is not None and head[2]:
            size = len(text) - 1 - head[1]
            if MIN_LENGTH_FOR_NSN <= size <= MAX_LENGTH_FOR_NSN and text[1 + head[1]] != "0":
                return text
    fast = fast_digits(text, default_region)
    if isinstance(fast, str):
        return "+" + fast
    number = slow_parse(text, default_region)
    if number is None:
        return None
    return phonenumbers.format_number(number, PhoneNumberFormat.E164)


def canonicalizer(default_region: str = "FR") -> Callable[[str], str | None]:
    """`canonicalize` as a function for a loop over a million numbers: the same answers.

    The common case, a ready ``+<code><nsn>`` with no spaces, is decided over local variables (no
    ``strip``, no cached-call wrapper: ``docs/benchmarks.md``, "Phone numbers", N8); everything
    else, including text that strips to that shape, goes to `canonicalize` itself.
    """
    prefixes: dict[str, tuple[int, int, bool] | None] = {}  # filled as prefixes come (`code_prefix`)
    shortest, longest = MIN_LENGTH_FOR_NSN, MAX_LENGTH_FOR_NSN
    general = canonicalize

    def canonical(raw: str) -> str | None:
        if raw[:1] == "+" and raw.isascii() and raw[1:].isdigit():
            key = raw[1:4]
            head = prefixes[key] if key in prefixes else prefixes.setdefault(key, code_prefix(key))
            if head is not None and head[2] and shortest <= len(raw) - 1 - head[1] <= longest and raw[1 + head[1]] != "0":
                return raw
        return general(raw, default_region)

    return canonical


def is_valid_e164(value: str) -> bool:
    """True when ``value`` is already the E.164 form of a valid number."""
    return normalize_or_none(value) == value


def region_of(e164: str) -> str | None:
    """The ISO country of an E.164 number (``"FR"``), None when phonenumbers cannot place it."""
    try:
        region = phonenumbers.region_code_for_number(phonenumbers.parse(e164, None))
    except phonenumbers.NumberParseException:
        return None
    return region if region and len(region) == 2 and region.isalpha() else None


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
    parse = int_parser_for(default_region)
    if parse is None:
        raise InvalidPhoneNumber(default_region, "no metadata for the default region")
    return parse
