"""Phone numbers to E.164, through `phonenumbers`, with a fast path that gives the same answers.

Why a fast path: `phonenumbers.parse` costs ~42 µs a number (``../shared/PERF-FACTS.md``), i.e. 44 s
for a 1,000,000-entry stop list. Almost every number the API returns is already ``+<digits>`` and
almost every audience number is a national ``0…`` French number. For those shapes we skip the
parser and apply *phonenumbers' own metadata* (the same regular expressions and possible lengths
that ``is_valid_number`` uses) compiled once per (country code, length). Anything else goes to
`phonenumbers` itself. ``tests/test_phones.py`` proves by property test that both paths agree.

Two questions, two functions:

- `normalize` answers "is this a real, valid number, and what is its E.164 form?" (audience filter,
  CLI input, numbers we send to the API). Invalid means `InvalidPhoneNumber`.
- `canonicalize` answers "what is the E.164 spelling of what the API gave us?" for stored data:
  a stop must never be dropped because the metadata calls its number invalid, so any number
  `phonenumbers` can *parse* is kept in E.164 form; only unparseable text gives ``None``.
"""

from __future__ import annotations

import re
from functools import lru_cache

import phonenumbers
from phonenumbers import PhoneMetadata, PhoneNumberFormat
from phonenumbers.phonemetadata import PhoneNumberDesc

from etl.errors import InvalidPhoneNumber

__all__ = ["normalize", "normalize_or_none", "canonicalize", "is_valid_e164"]

_PLUS_DIGITS = re.compile(r"\+([1-9]\d{1,16})")
_NATIONAL_ZERO = re.compile(r"0([1-9]\d{1,16})")

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


@lru_cache(maxsize=4096)
def _validity_pattern(region: str, length: int) -> re.Pattern[str] | None:
    """One compiled pattern equivalent to ``is_valid_number_for_region`` for NSNs of one length.

    ``None`` means no number of that length can be valid in that region.
    """
    metadata = PhoneMetadata.metadata_for_region(region)
    if metadata is None:
        return None
    general = metadata.general_desc
    if general is None or general.national_number_pattern is None:
        return None
    if not _desc_accepts_length(general, length):
        return None
    alternatives = []
    for field in _TYPE_FIELDS:
        desc = getattr(metadata, field)
        if desc is None or desc.national_number_pattern is None:
            continue
        if _desc_accepts_length(desc, length):
            alternatives.append(f"(?:{desc.national_number_pattern})")
    if not alternatives:
        return None
    return re.compile(f"(?=(?:{general.national_number_pattern})$)(?:{'|'.join(alternatives)})$")


@lru_cache(maxsize=512)
def _single_region(country_code: int) -> str | None:
    """The region of a country code served by exactly one region, else ``None`` (slow path)."""
    regions = phonenumbers.COUNTRY_CODE_TO_REGION_CODE.get(country_code)
    if regions is None or len(regions) != 1:
        return None
    region = regions[0]
    metadata = PhoneMetadata.metadata_for_region(region)
    if metadata is None:
        return None
    # Only regions whose national prefix is a plain "0" (or none) and that keep no leading zero in
    # the NSN: there the digits after the country code *are* the NSN when they do not start with 0.
    if metadata.national_prefix_for_parsing not in (None, "0") or metadata.national_prefix_transform_rule:
        return None
    return region


def _split_plus_digits(digits: str) -> tuple[int, str] | None:
    """Split ``digits`` (no '+') into (country code, NSN) the way phonenumbers extracts the code."""
    for size in (1, 2, 3):
        code = int(digits[:size])
        if code in phonenumbers.COUNTRY_CODE_TO_REGION_CODE:
            return code, digits[size:]
    return None


def _fast_valid_e164(raw: str, default_region: str) -> str | None | bool:
    """E.164 string, ``False`` (surely invalid) or ``None`` (shape not covered: use the slow path)."""
    match = _PLUS_DIGITS.fullmatch(raw)
    if match is not None:
        split = _split_plus_digits(match.group(1))
        if split is None:
            return None
        code, nsn = split
        region = _single_region(code)
        if region is None or not nsn or nsn[0] == "0" or len(nsn) < 2:
            return None
    else:
        match = _NATIONAL_ZERO.fullmatch(raw)
        if match is None:
            return None
        region = default_region
        code_or_none = phonenumbers.country_code_for_region(region)
        if not code_or_none or _single_region(code_or_none) != region:
            return None
        code, nsn = code_or_none, match.group(1)
    pattern = _validity_pattern(region, len(nsn))
    if pattern is None or pattern.match(nsn) is None:
        return False
    return f"+{code}{nsn}"


def _slow_parse(raw: str, default_region: str) -> phonenumbers.PhoneNumber | None:
    try:
        return phonenumbers.parse(raw, default_region)
    except phonenumbers.NumberParseException:
        return None


def normalize(raw: str, default_region: str = "FR") -> str:
    """Return the E.164 form of a *valid* number, or raise `InvalidPhoneNumber`."""
    text = raw.strip()
    fast = _fast_valid_e164(text, default_region)
    if isinstance(fast, str):
        return fast
    if fast is False:
        raise InvalidPhoneNumber(raw)
    number = _slow_parse(text, default_region)
    if number is None:
        raise InvalidPhoneNumber(raw, "cannot be parsed as a phone number")
    if not phonenumbers.is_valid_number(number):
        raise InvalidPhoneNumber(raw)
    return phonenumbers.format_number(number, PhoneNumberFormat.E164)


def normalize_or_none(raw: str, default_region: str = "FR") -> str | None:
    """Like `normalize`, but ``None`` for an invalid number."""
    try:
        return normalize(raw, default_region)
    except InvalidPhoneNumber:
        return None


def canonicalize(raw: str, default_region: str = "FR") -> str | None:
    """E.164 spelling of any *parseable* number (valid or not), ``None`` if it cannot be parsed.

    For stored data: the API's own list is the truth, so a number the metadata deems invalid is
    still kept, in the spelling `normalize` would give it if it were valid.
    """
    text = raw.strip()
    fast = _fast_valid_e164(text, default_region)
    if isinstance(fast, str):
        return fast
    number = _slow_parse(text, default_region)
    if number is None:
        return None
    return phonenumbers.format_number(number, PhoneNumberFormat.E164)


def is_valid_e164(value: str) -> bool:
    """True when ``value`` is already the E.164 form of a valid number."""
    return normalize_or_none(value) == value
