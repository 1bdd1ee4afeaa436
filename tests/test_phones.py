"""`etl.phones`: the fast path gives exactly phonenumbers' answers (parse + is_valid_number + E.164).

The tables behind it are checked against the regular expressions in ``tests/phone_numbers/``.
"""

from __future__ import annotations

import phonenumbers
import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from etl.errors import InvalidPhoneNumber
from etl.phones import canonicalize, canonicalizer, e164_int_parser, normalize, normalize_or_none


def reference_valid(raw: str, region: str) -> str | None:
    try:
        number = phonenumbers.parse(raw, region)
    except phonenumbers.NumberParseException:
        return None
    if not phonenumbers.is_valid_number(number):
        return None
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def reference_parseable(raw: str, region: str) -> str | None:
    try:
        number = phonenumbers.parse(raw, region)
    except phonenumbers.NumberParseException:
        return None
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def assert_same_as_phonenumbers(raw: str, region: str) -> None:
    expected = reference_valid(raw, region)
    assert normalize_or_none(raw, region) == expected, (raw, region)
    if region in phonenumbers.SUPPORTED_REGIONS:
        parsed = e164_int_parser(region)(raw)
        assert parsed == (int(expected[1:]) if expected else 0), (raw, region)
    else:
        with pytest.raises(InvalidPhoneNumber, match="unknown default region"):
            e164_int_parser(region)
    assert canonicalize(raw, region) == reference_parseable(raw, region), (raw, region)
    if region in phonenumbers.SUPPORTED_REGIONS:
        assert canonicalizer(region)(raw) == canonicalize(raw, region), (raw, region)


ISSUE_SHAPES = [
    "0612345678",
    "06 12 34 56 78",
    "06.12.34.56.78",
    "06-12-34-56-78",
    "+33612345678",
    "+33 (0)6 12 34 56 78",
    "0033612345678",
    "33612345678",
]


@pytest.mark.parametrize("raw", ISSUE_SHAPES, ids=ISSUE_SHAPES)
def test_every_shape_from_the_issue_is_the_same_french_mobile(raw: str) -> None:
    assert normalize(raw, "FR") == "+33612345678"
    assert_same_as_phonenumbers(raw, "FR")


TABLE = [
    ("612345678", "FR", "excel ate the leading zero"),
    ("+330612345678", "FR", "plus and national prefix"),
    ("+0033612345678", "FR", "unknown code after plus is retried without it"),
    (" 06 12 34 56 78 ", "FR", "surrounding spaces"),
    ("06\u00a012\u00a034\u00a056\u00a078", "FR", "no-break spaces"),
    ("06\u202f12\u202f34\u202f56\u202f78", "FR", "narrow no-break spaces: phonenumbers refuses"),
    ("0590 27 12 34", "GP", "Guadeloupe landline"),
    ("0690 12 34 56", "GP", "Guadeloupe mobile"),
    ("+590690123456", "FR", "Guadeloupe mobile from France"),
    ("+594694123456", "FR", "Guyane"),
    ("+596696123456", "FR", "Martinique"),
    ("+262692123456", "FR", "Reunion mobile"),
    ("+262639123456", "FR", "Mayotte mobile"),
    ("0639 12 34 56", "YT", "Mayotte national, main region RE"),
    ("+269 321 23 45", "FR", "Comoros"),
    ("+687 75 12 34", "FR", "New Caledonia"),
    ("+1 650 253 0000", "FR", "United States"),
    ("(650) 253-0000", "US", "US national"),
    ("+44 20 7946 0958", "FR", "London"),
    ("020 7946 0958", "GB", "London national"),
    ("01 23 45 67 89", "FR", "French landline"),
    ("0800 123 456", "FR", "toll free"),
    ("+49 30 1234567", "FR", "Berlin"),
    ("0033 0612345678", "FR", "IDD and national prefix"),
    ("00 33 6 12 34 56 78", "FR", "spaced IDD"),
    ("0612345678", "BE", "French national shape read in Belgium"),
    ("+800 1234 5678", "FR", "non-geographic code"),
    ("06123456789", "FR", "one digit too many"),
    ("061234567", "FR", "one digit too few"),
    ("0012345678", "FR", "IDD then 1"),
    ("", "FR", "empty"),
    ("n/a", "FR", "text"),
    ("06 12 34 56 78 ext 12", "FR", "extension"),
    ("+", "FR", "plus only"),
    ("12", "FR", "two digits"),
    ("0612345678", "ZZ", "unknown default region"),
]


@pytest.mark.parametrize(("raw", "region", "why"), TABLE, ids=[why for _, _, why in TABLE])
def test_table_of_quirks_matches_phonenumbers(raw: str, region: str, why: str) -> None:
    assert_same_as_phonenumbers(raw, region)


def test_invalid_number_raises_input_error() -> None:
    with pytest.raises(InvalidPhoneNumber):
        normalize("0612", "FR")


# --- property tests ----------------------------------------------------------------------------

REGIONS = sorted(phonenumbers.SUPPORTED_REGIONS)
FRENCH_AND_DOM = ["FR", "GP", "GF", "MQ", "RE", "YT", "BL", "MF", "PM", "NC", "PF", "WF", "KM"]
SEPARATORS = ["", " ", ".", "-", "\u00a0", "  ", " - "]


@st.composite
def numbers(draw: st.DrawFn) -> tuple[str, str]:
    """A digit string in some shape, and a default region: national, international, 00, bare code."""
    region = draw(st.one_of(st.sampled_from(FRENCH_AND_DOM), st.sampled_from(REGIONS)))
    own = phonenumbers.country_code_for_region(region)
    code = draw(st.one_of(st.just(own), st.just(33), st.sampled_from([262, 269, 590, 594, 596, 1, 44, 49, 7, 39, 55])))
    length = draw(st.integers(min_value=1, max_value=15))
    national = draw(st.text(alphabet="0123456789", min_size=length, max_size=length))
    # Often a valid number: take an example from the metadata and mutate the tail.
    if draw(st.booleans()):
        example_region = draw(st.sampled_from(phonenumbers.region_codes_for_country_code(code) or ("FR",)))
        kind = draw(st.sampled_from([phonenumbers.PhoneNumberType.MOBILE, phonenumbers.PhoneNumberType.FIXED_LINE]))
        sample = phonenumbers.example_number_for_type(example_region, kind)
        if sample is not None:
            nsn = phonenumbers.national_significant_number(sample)
            keep = draw(st.integers(min_value=1, max_value=len(nsn)))
            national = nsn[:keep] + draw(st.text(alphabet="0123456789", min_size=len(nsn) - keep, max_size=len(nsn) - keep))
    shape = draw(st.sampled_from(["national", "plus", "idd", "bare", "plus_paren_zero", "raw"]))
    if shape == "national":
        digits = "0" + national
    elif shape == "plus":
        digits = f"+{code}{national}"
    elif shape == "idd":
        digits = f"00{code}{national}"
    elif shape == "bare":
        digits = f"{code}{national}"
    elif shape == "plus_paren_zero":
        digits = f"+{code} (0){national}"
    else:
        digits = national
    separator = draw(st.sampled_from(SEPARATORS))
    if separator:
        step = draw(st.integers(min_value=1, max_value=4))
        head = "+" if digits.startswith("+") else ""
        body = digits[len(head):]
        digits = head + separator.join(body[i : i + step] for i in range(0, len(body), step))
    return digits, region


@settings(max_examples=3000, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(numbers())
@example(("+33 (0)6 12 34 56 78", "FR"))
@example(("0692 12 34 56", "RE"))
@example(("0639123456", "YT"))
def test_fast_path_agrees_with_phonenumbers_on_generated_numbers(case: tuple[str, str]) -> None:
    raw, region = case
    assert_same_as_phonenumbers(raw, region)


@settings(max_examples=1500, deadline=None)
@given(st.text(alphabet="0123456789+ .-()x#/abc\u00a0\u0660", max_size=24), st.sampled_from(["FR", "RE", "US", "GB", "DE"]))
def test_garbage_gets_the_same_answer_as_phonenumbers(raw: str, region: str) -> None:
    assert_same_as_phonenumbers(raw, region)


# --- shortcuts added for speed: each against phonenumbers or the regex it replaces -----------------

CODES = sorted(phonenumbers.COUNTRY_CODE_TO_REGION_CODE)


@settings(max_examples=3000, deadline=None)
@given(st.sampled_from(CODES + [33] * 40), st.text(alphabet="0123456789", min_size=1, max_size=18))
@example(33, "612345678")
@example(33, "699999999")
def test_canonicalize_of_plus_code_digits_is_phonenumbers_spelling(code: int, nsn: str) -> None:
    """`canonicalize`'s shortcut for ``+<code><nsn>`` numbers the metadata calls invalid."""
    raw = f"+{code}{nsn}"
    assert canonicalize(raw, "FR") == reference_parseable(raw, "FR"), raw
    for spelling in (raw, f" {raw}", f"{raw} ", raw.replace("+", "\uff0b")):
        assert canonicalizer("FR")(spelling) == canonicalize(spelling, "FR"), spelling


@settings(max_examples=2000, deadline=None)
@given(st.sampled_from(["0{n}", "+33{n}", "0033{n}", "+33 (0){n}", "+33 0{n}", "0{s}", "0{d}", "+33{s}", "00 33 {s}"]),
       st.text(alphabet="0123456789", min_size=1, max_size=12))
@example("0{n}", "612345678")
def test_int_parser_hot_shapes_agree_with_phonenumbers(template: str, nsn: str) -> None:
    spaced = " ".join(nsn[i : i + 2] for i in range(0, len(nsn), 2))
    raw = template.format(n=nsn, s=spaced, d=spaced.replace(" ", "."))
    assert_same_as_phonenumbers(raw, "FR")
