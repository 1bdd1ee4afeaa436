"""`etl.audience.vectorized`: the numpy fast path gives, value by value, what `e164_int_parser` gives."""

from __future__ import annotations

import random

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from etl.audience.vectorized import parse_fields
from etl.phones import e164_int_parser, int_parser_tables


def vectorized(values: list[str], region: str) -> list[int]:
    """What `parse_fields` decides, the row parser for the rest (as `classify_chunk` does)."""
    parse = e164_int_parser(region)
    tables = int_parser_tables(region)
    assert tables is not None
    encoded = [value.encode("utf-8") for value in values]
    data = b";".join(encoded) + b";"
    starts, position = [], 0
    for value in encoded:
        starts.append(position)
        position += len(value) + 1
    numbers, decided = parse_fields(
        np.frombuffer(data, dtype=np.uint8), np.array(starts, dtype=np.int64),
        np.array([len(value) for value in encoded], dtype=np.int64), tables,
    )
    return [int(n) if sure else parse(value) for n, sure, value in zip(numbers, decided, values)]


def messy(rng: random.Random) -> str:
    nsn = f"{rng.randrange(1, 10)}{rng.randrange(10 ** rng.choice([7, 8, 8, 8, 9, 10])):0{8}d}"
    spaced = " ".join([nsn[:1]] + [nsn[i:i + 2] for i in range(1, len(nsn), 2)])
    sep = rng.choice(" .-")
    shapes = [
        "0" + nsn, "+33" + nsn, "0" + spaced, "0" + spaced.replace(" ", sep), "0033" + nsn, "+33 (0)" + spaced,
        "33" + nsn, "+33 " + spaced, "00" + nsn, "+" + nsn, "+330" + nsn, "3300" + nsn, "0" * rng.randrange(4) + nsn,
        "+49" + nsn, "0049" + nsn, "+262" + nsn, "+1 " + nsn, nsn, "(" + nsn + ")", "+(33)" + nsn, "++33" + nsn,
        " 0" + nsn, "0" + nsn + " ", "0" + nsn + "-", "06 12", "n/a", "", "0", "00", "+", "+3", "33",
        "+33 0" + nsn, "0033 0" + nsn, "0" + nsn + "1234567", "+33" + nsn + "12345678901",
    ]
    return rng.choice(shapes)


@pytest.mark.parametrize("region", ["FR", "DE", "BE", "RE", "GB", "US", "CH"])
def test_vectorized_parse_equals_the_row_parser_on_messy_shapes(region: str) -> None:
    rng = random.Random(region)
    values = [messy(rng) for _ in range(20_000)]
    expected = [e164_int_parser(region)(value) for value in values]
    got = vectorized(values, region)
    wrong = [(v, e, g) for v, e, g in zip(values, expected, got) if e != g]
    assert not wrong, wrong[:10]


@settings(max_examples=300, deadline=None)
@given(st.lists(st.text(alphabet="0123456789 +.-()x", min_size=0, max_size=26), min_size=1, max_size=40),
       st.sampled_from(["FR", "DE", "BE"]))
def test_vectorized_parse_equals_the_row_parser_on_any_text(values: list[str], region: str) -> None:
    assert vectorized(values, region) == [e164_int_parser(region)(value) for value in values]
