"""Country codes from the first digits of a number, and which regions the inlined shapes may read.

A code is "simple" when its region strips at most a plain 0 as national prefix: then the digits
after ``+<code>`` that do not start with 0 *are* the national significant number. The int parser
and `etl.phones.canonicalize` decide most numbers from that flag alone.
"""

from __future__ import annotations

from functools import lru_cache

import phonenumbers

from etl.phone_numbers.metadata import Meta, meta_for_code


@lru_cache(maxsize=1)
def country_codes() -> dict[str, tuple[int, str, bool]]:
    """Country code prefix -> (code, code as text, "simple": the number's region strips at most a plain 0).

    With a simple region, digits after ``+<code>`` that do not start with 0 *are* the national
    significant number: `_maybe_strip_national_prefix_carrier_code` cannot match.
    """
    return {str(code): (code, str(code), simple_code(code)) for code in phonenumbers.COUNTRY_CODE_TO_REGION_CODE}


def simple_code(code: int) -> bool:
    """`country_codes`' "simple" for one code (loads that code's metadata only)."""
    meta = meta_for_code(code)
    return (
        meta is not None
        and "001" not in phonenumbers.COUNTRY_CODE_TO_REGION_CODE[code]
        and (meta.npp is None or (meta.npp.pattern == "0" and meta.transform is None))
    )


def code_prefix(head: str) -> tuple[int, int, bool] | None:
    """`code_prefixes().get(head)`, computed for this one prefix: loads only its code's metadata.

    (The whole table loads every region's metadata, ``docs/benchmarks.md``, "Phone numbers", N4: a
    process that only ever sees ``+33...`` numbers need not pay for it.)
    """
    if len(head) != 3 or not head.isdigit() or head[0] == "0":
        return None
    for size in (1, 2, 3):
        code = int(head[:size])
        if code in phonenumbers.COUNTRY_CODE_TO_REGION_CODE:
            return (code, size, simple_code(code))
    return None


def plain_zero_national(meta: Meta) -> bool:
    """Plain metadata the fast paths may read: trunk prefix "0", no national-number transform,
    IDD "00" or none, and a general description to test against."""
    return (
        meta.npp is not None
        and meta.npp.pattern == "0"
        and meta.transform is None
        and (meta.idd is None or meta.idd.pattern == "00")
        and meta.general is not None
    )


@lru_cache(maxsize=1)
def code_prefixes() -> dict[str, tuple[int, int, bool]]:
    """First three digits after ``+`` -> (country code, its length, "simple" as in `country_codes`).

    The same answer as phonenumbers' ``_extract_country_code`` (shortest known code first), looked up
    once per number instead of up to three times. Prefixes without a known code are absent.
    """
    codes = country_codes()
    table = {}
    for value in range(1000):
        head = f"{value:03d}"
        if head[0] == "0":
            continue
        info = codes.get(head[:1]) or codes.get(head[:2]) or codes.get(head[:3])
        if info is not None:
            table[head] = (info[0], len(info[1]), info[2])
    return table


def national_shapes(meta: Meta, region: str) -> tuple[bool, bool, bool]:
    """Which shapes the region's int parsers may read without phonenumbers, as three flags.

    National numbers written with a leading 0; international ones written 00<code>; +<own code>
    followed by the national form with its 0. All only for plain metadata: trunk prefix "0", no
    national-number transform, IDD "00" or none.
    """
    zero_national = plain_zero_national(meta)
    idd_00 = zero_national and meta.idd is not None and meta.idd.pattern == "00"
    plus_own_national = zero_national and phonenumbers.region_code_for_country_code(meta.code) == region
    return zero_national, idd_00, plus_own_national
