"""``phonenumbers.parse`` + ``is_valid_number`` for any plain digit string, step by step.

The general case of the string fast path: every plain shape (`metadata.FAST_SHAPE`) in every region
with metadata, each function a copy of the phonenumbers function it names. It answers the E.164
digits, `INVALID`, or `SLOW` where a copy would not be worth it (a national number with a leading
zero, non-geographic codes): then `slow` asks phonenumbers itself.
"""

from __future__ import annotations

import phonenumbers

from etl.phone_numbers.metadata import (
    DROP_SEPARATORS,
    FAST_SHAPE,
    INVALID,
    INVALID_LENGTH,
    LOCAL_ONLY,
    MAX_LENGTH_FOR_NSN,
    MIN_LENGTH_FOR_NSN,
    SLOW,
    TOO_LONG,
    TOO_SHORT,
    Meta,
    meta_for_code,
)
from etl.phone_numbers.validity import is_valid


def extract_country_code(number: str) -> tuple[int, str]:
    """phonenumbers' ``_extract_country_code``."""
    if not number or number[0] == "0":
        return 0, number
    known = phonenumbers.COUNTRY_CODE_TO_REGION_CODE
    for size in range(1, min(len(number), 3) + 1):
        code = int(number[:size])
        if code in known:
            return code, number[size:]
    return 0, number


def parse_digits(plus: bool, digits: str, default: Meta) -> tuple[int, str] | bool | None:
    """phonenumbers' ``parse`` for a plain digit string: (country code, NSN), `INVALID` or `SLOW`."""
    meta: Meta | None = default
    code, national = extract(plus, digits, default)
    if code < 0:
        return INVALID
    if code == 0 and plus:
        # parse(): an unknown code after '+' is retried as if the '+' were not there.
        code, national = extract(False, digits, default)
        if code <= 0:
            return INVALID
    if code != 0:
        main = phonenumbers.region_code_for_country_code(code)
        if main != default.region:
            meta = meta_for_code(code)
            if meta is None:
                return SLOW
    else:
        national = digits
        code = default.code
    if len(national) < MIN_LENGTH_FOR_NSN:
        return INVALID
    assert meta is not None
    candidate = meta.strip_national_prefix(national)
    if meta.test_length(candidate) not in (TOO_SHORT, LOCAL_ONLY, INVALID_LENGTH):
        national = candidate
    if len(national) < MIN_LENGTH_FOR_NSN or len(national) > MAX_LENGTH_FOR_NSN:
        return INVALID
    if national[0] == "0":
        return SLOW  # phonenumbers' "italian leading zero" bookkeeping: not worth copying
    return code, national


def extract(plus: bool, digits: str, default: Meta) -> tuple[int, str]:
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
                ) or default.test_length(digits) == TOO_LONG:
                    return default.code, potential
            return 0, ""
    if len(full) <= MIN_LENGTH_FOR_NSN:
        return -1, ""  # TOO_SHORT_AFTER_IDD
    code, rest = extract_country_code(full)
    if code == 0:
        return (0, "") if plus else (-1, "")  # INVALID_COUNTRY_CODE (parse retries a '+' number)
    return code, rest


def fast_generic(text: str, default: Meta) -> str | bool | None:
    """E.164 digits (no '+') of a valid number, `INVALID`, or `SLOW` (use phonenumbers)."""
    if len(text) > 40 or FAST_SHAPE.fullmatch(text) is None:
        return SLOW
    plus = text[0] == "+"
    digits = (text[1:] if plus else text).translate(DROP_SEPARATORS)
    if len(digits) < 3:
        return SLOW  # phonenumbers' viability rules for 1-2 digits
    parsed = parse_digits(plus, digits, default)
    if parsed is None or parsed is False:
        return parsed
    assert not isinstance(parsed, bool)
    code, nsn = parsed
    valid = is_valid(code, nsn)
    if valid is None:
        return SLOW
    return f"{code}{nsn}" if valid else INVALID
