"""One region's `phonenumbers` metadata, compiled for plain digit strings, and the shared constants.

Every other module of the fast path reads its regions through `region_meta` / `meta_for_code`, so
the metadata is compiled once per region, and only for the regions a process actually meets.
"""

from __future__ import annotations

import re
from functools import lru_cache
from typing import cast

import phonenumbers
from phonenumbers import PhoneMetadata
from phonenumbers.phonemetadata import PhoneNumberDesc

#: The shapes the fast path takes: an optional ``+``, then digits and the separators space, dot,
#: dash, parentheses and no-break space (all in phonenumbers' ``_VALID_PUNCTUATION``, all dropped by
#: its ``_normalize``), first and last character a digit (after the ``+``). ASCII digits only.
FAST_SHAPE = re.compile(r"\+?[0-9](?:[0-9 .\-()\xa0]*[0-9])?")
DROP_SEPARATORS = str.maketrans("", "", " .-()\xa0")
DROP_SEPARATORS_BYTES = b" .-()"  # the ASCII ones, for bytes.translate (faster: docs/benchmarks.md, "Phone numbers", N2)

# Verdicts of the string fast path (`fast.make_fast`, `parse.fast_generic`) besides a digit string.
INVALID = False  # phonenumbers would raise or call the number invalid
SLOW = None  # shape or metadata not covered: ask phonenumbers

# phonenumbers' ValidationResult, for the length test in `parse`.
IS_POSSIBLE, LOCAL_ONLY, TOO_SHORT, INVALID_LENGTH, TOO_LONG = range(5)

MIN_LENGTH_FOR_NSN = 2  # phonenumberutil._MIN_LENGTH_FOR_NSN
MAX_LENGTH_FOR_NSN = 17  # phonenumberutil._MAX_LENGTH_FOR_NSN

# Number types checked by phonenumbers' `_number_type_helper`, in its order. A number is valid when
# it matches the general description and at least one of these.
TYPE_FIELDS = (
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


def desc_accepts_length(desc: PhoneNumberDesc, length: int) -> bool:
    lengths = desc.possible_length
    return not lengths or length in lengths


class Meta:
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
            return LOCAL_ONLY
        if not self.lengths:  # pragma: no cover - every region has general lengths
            return INVALID_LENGTH
        minimum = self.lengths[0]
        if minimum == size:
            return IS_POSSIBLE
        if minimum > size:
            return TOO_SHORT
        if self.lengths[-1] < size:
            return TOO_LONG
        return IS_POSSIBLE if size in self.lengths[1:] else INVALID_LENGTH

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
def region_meta(region: str) -> Meta | None:
    metadata = PhoneMetadata.metadata_for_region(region)
    return Meta(metadata) if metadata is not None else None


@lru_cache(maxsize=None)
def meta_for_code(code: int) -> Meta | None:
    """Metadata phonenumbers uses for a number with this country code (its main region)."""
    region = phonenumbers.region_code_for_country_code(code)
    if region == phonenumbers.UNKNOWN_REGION or region == "001":
        return None  # non-geographic codes: leave them to phonenumbers
    return region_meta(region)

