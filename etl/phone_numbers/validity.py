"""``is_valid_number`` for a national significant number: one pattern per (region, NSN length).

phonenumbers tries each number type's pattern in turn; folding the types that accept a length into
one alternation (after the general pattern as a lookahead) gives the same verdict in one call.
Codes shared by several regions (+1, +7, +44…) pick the region first, as phonenumbers does.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from functools import lru_cache

import phonenumbers
from phonenumbers import PhoneMetadata

from etl.phone_numbers.metadata import TYPE_FIELDS, desc_accepts_length

#: ``nsn -> truthy`` iff phonenumbers calls the number valid (a match or ``True``; else falsy).
Validator = Callable[[str], re.Match[str] | bool | None]


@lru_cache(maxsize=8192)
def type_pattern(region: str, length: int) -> re.Pattern[str] | None:
    """One pattern equivalent to ``_number_type_helper(nsn, metadata) != UNKNOWN`` for one NSN length.

    ``None`` means no number of that length has a type in that region.
    """
    metadata = PhoneMetadata.metadata_for_region(region)
    if metadata is None:
        return None
    general = metadata.general_desc
    if general is None or not general.national_number_pattern or not desc_accepts_length(general, length):
        return None
    alternatives = []
    # Order does not change the answer ("any type matches"), only the speed: the common types first.
    for field in sorted(TYPE_FIELDS, key=lambda name: name not in ("mobile", "fixed_line")):
        desc = getattr(metadata, field)
        if desc is None or not desc.national_number_pattern:
            continue
        if desc_accepts_length(desc, length):
            alternatives.append(f"(?:{desc.national_number_pattern})")
    if not alternatives:
        return None
    return re.compile(f"(?=(?:{general.national_number_pattern})\\Z)(?:{'|'.join(alternatives)})")


@lru_cache(maxsize=None)
def regions_for_code(code: int) -> tuple[tuple[str, re.Pattern[str] | None], ...] | None:
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


def is_valid(code: int, nsn: str) -> bool | None:
    """phonenumbers' ``is_valid_number`` for a number without leading zero; ``None``: not covered."""
    regions = regions_for_code(code)
    if regions is None:
        return None
    if len(regions) == 1:
        pattern = type_pattern(regions[0][0], len(nsn))
        return pattern is not None and pattern.fullmatch(nsn) is not None
    # `_region_code_for_number_from_list`: the first region whose leading digits match, or else the
    # first where the number has a type; then `is_valid_number_for_region` for that region.
    for region, leading in regions:
        pattern = type_pattern(region, len(nsn))
        has_type = pattern is not None and pattern.fullmatch(nsn) is not None
        if leading is not None:
            if leading.match(nsn):
                return has_type
        elif has_type:
            return True
    return False


def never(_nsn: str) -> bool:
    return False


@lru_cache(maxsize=None)
def validator(code: int, length: int) -> Validator:
    """``nsn -> truthy`` iff phonenumbers calls the number valid, for NSNs of one length (no leading 0)."""
    regions = regions_for_code(code)
    if regions is None:
        raise LookupError(code)  # callers only ask for codes `codes.country_codes` knows
    if len(regions) == 1:
        pattern = type_pattern(regions[0][0], length)
        return pattern.fullmatch if pattern is not None else never
    return lambda nsn: is_valid(code, nsn)
