"""The string fast path for one default region: raw text to E.164 digits, `INVALID` or `SLOW`.

`etl.phones.normalize`, `normalize_or_none` and `canonicalize` call `fast_digits` first and
phonenumbers (`slow`) only for `SLOW`. The hottest shapes are inlined in `make_fast`; the rest go
to `parse.fast_generic`.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import lru_cache

from etl.phone_numbers.codes import country_codes, plain_zero_national
from etl.phone_numbers.metadata import (
    DROP_SEPARATORS,
    FAST_SHAPE,
    INVALID,
    IS_POSSIBLE,
    MAX_LENGTH_FOR_NSN,
    MIN_LENGTH_FOR_NSN,
    SLOW,
    TOO_LONG,
    Meta,
    region_meta,
)
from etl.phone_numbers.parse import fast_generic
from etl.phone_numbers.validity import Validator, validator


def make_fast(meta: Meta) -> Callable[[str], str | bool | None]:
    """The fast path for one default region: ``raw -> E.164 digits (no '+') | INVALID | SLOW``.

    The hottest shapes are inlined over local variables (an attribute lookup or a call is a large
    share of the audience filter's budget a row: ``docs/benchmarks.md``, "Phone numbers", N5):

    - ``+<code><nsn>``, where the code's region strips at most a plain ``0`` and ``<nsn>`` does not
      start with 0: ``_maybe_strip_national_prefix_carrier_code`` cannot match, ``<nsn>`` *is* the
      national significant number;
    - ``0<nsn>`` in a region whose IDD is ``00`` and national prefix a plain ``0`` (FR, the DOM,
      DE, BE, CH, …), when the whole string is not itself a viable national number and ``<nsn>``
      has a length ``parse`` keeps after stripping (`TOO_SHORT`, `LOCAL_ONLY` and
      `INVALID_LENGTH` are not);
    - either of them with the separators ``parse`` drops (``06 12 34 56 78``, ``06.12…``,
      ``+33 6 12…``).

    Everything else (and any surrounding whitespace) goes through `fast_generic`, which mirrors
    ``parse`` for every plain shape, or returns `SLOW` for phonenumbers itself.
    """
    codes = country_codes()
    code_validators: dict[int, list[Validator | None]] = {}
    own_code = meta.code
    own_code_str = meta.code_str
    zero_national = plain_zero_national(meta) and not own_code_str.startswith("0")
    keeps = (IS_POSSIBLE, TOO_LONG)
    own_validators: list[Validator | None] = [None] * (MAX_LENGTH_FOR_NSN + 1)
    for size in range(MIN_LENGTH_FOR_NSN, MAX_LENGTH_FOR_NSN + 1):
        if meta.test_length("1" * size) in keeps:
            own_validators[size] = validator(own_code, size)
    general_fullmatch = meta.general.fullmatch if meta.general is not None else None
    shape = FAST_SHAPE.fullmatch
    drop = DROP_SEPARATORS
    max_nsn = MAX_LENGTH_FOR_NSN

    def validators_for(code: int) -> list[Validator | None]:
        table: list[Validator | None] = [None] * (max_nsn + 1)
        for size in range(MIN_LENGTH_FOR_NSN, max_nsn + 1):
            table[size] = validator(code, size)
        code_validators[code] = table
        return table

    def fast(raw: str) -> str | bool | None:
        if raw.isdigit() and raw.isascii():
            digits = raw
        elif len(raw) < 40 and shape(raw) is not None:
            digits = raw.translate(drop)
        else:
            return fast_generic(raw.strip(), meta)
        first = digits[:1]
        if first == "+":
            digits = digits[1:]
            info = codes.get(digits[:1]) or codes.get(digits[:2]) or codes.get(digits[:3])
            if info is not None and info[2] and len(digits) >= 3:
                code_str = info[1]
                nsn = digits[len(code_str) :]
                size = len(nsn)
                if size >= MIN_LENGTH_FOR_NSN and nsn[0] != "0":
                    if size > max_nsn:
                        return INVALID
                    table = code_validators.get(info[0]) or validators_for(info[0])
                    return code_str + nsn if table[size](nsn) else INVALID  # type: ignore[misc]
        elif first == "0" and zero_national and digits[1:2] not in ("0", "") and len(digits) > 2:
            nsn = digits[1:]
            if len(nsn) <= max_nsn:
                check = own_validators[len(nsn)]
                if check is not None and general_fullmatch(digits) is None:  # type: ignore[misc]
                    return own_code_str + nsn if check(nsn) else INVALID
        return fast_generic(raw.strip(), meta)

    return fast


@lru_cache(maxsize=None)
def fast_for(region: str) -> Callable[[str], str | bool | None] | None:
    meta = region_meta(region)
    return make_fast(meta) if meta is not None else None


def fast_digits(text: str, region: str) -> str | bool | None:
    """E.164 digits (no '+') of a valid number, `INVALID`, or `SLOW` (use phonenumbers)."""
    if not text:
        return SLOW
    fast = fast_for(region)
    if fast is None:
        return SLOW
    return fast(text)
