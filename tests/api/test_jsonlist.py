"""`etl.api.jsonlist.iter_list_runs`, flattened, gives exactly ``ijson.items(body, "data.item", use_float=False)``.

Same items (types included: non-integers stay `Decimal`), same error class after the same items,
whatever the body, the head size and how the rest arrives. Bodies are random envelopes around random
lists, with strings full of what the cutting looks for (``},{``, quotes, backslashes, numbers in
text), then the same bodies truncated or with a byte changed.
"""

from __future__ import annotations

import io
import json
import random
from decimal import Decimal
from typing import Any

import ijson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from etl.api import jsonlist
from etl.api.jsonlist import iter_list_runs


def iter_list_items(head: bytes, read: Any, list_key: str) -> Any:
    """The runs' items one by one, as a per-item shape (`etl.api.lists.each`) sees them."""
    return (item for run in iter_list_runs(head, read, list_key) for item in run)

#: Text that makes the cutting's job hard: boundaries, quotes and escapes, numbers, non-ASCII.
TRICKY = st.sampled_from(['},{', '}, {', '},\n{', '"', '\\', '\\"},{"', '1.5', '2e3', '7E-1', ']', '[', ':', 'é', '\u2028', '\n'])
TEXT = st.lists(TRICKY | st.text(max_size=6), max_size=4).map("".join)
NUMBERS = (
    st.integers(min_value=-(2**70), max_value=2**70)
    | st.decimals(allow_nan=False, allow_infinity=False, places=None).filter(lambda d: len(str(d)) < 40)
    | st.sampled_from([Decimal("-0"), Decimal("1E+5"), Decimal("1e-7"), Decimal("0.0"), 2**63, 2**64, -(2**63) - 1])
)
SCALARS = st.none() | st.booleans() | NUMBERS | TEXT
VALUES = st.recursive(
    SCALARS,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(TEXT, inner, max_size=4),
    max_leaves=12,
)
ITEMS = st.lists(st.dictionaries(TEXT | st.sampled_from(["id", "phoneNumber"]), VALUES, max_size=4), max_size=25)
SEPARATORS = st.sampled_from([",", ", ", ",\n", ",\n  ", " ,\t"])


def dump(value: Any, separator: str, ascii_only: bool) -> str:
    """JSON text of ``value``; `Decimal` written as its text (so ``1E+5`` stays an exponent)."""
    if isinstance(value, dict):
        return "{" + separator.join(f"{json.dumps(k, ensure_ascii=ascii_only)}: {dump(v, separator, ascii_only)}" for k, v in value.items()) + "}"
    if isinstance(value, list):
        return "[" + separator.join(dump(v, separator, ascii_only) for v in value) + "]"
    if isinstance(value, Decimal):
        return str(value)
    return json.dumps(value, ensure_ascii=ascii_only)


@st.composite
def bodies(draw: Any) -> bytes:
    separator = draw(SEPARATORS)
    ascii_only = draw(st.booleans())
    before = draw(st.dictionaries(st.sampled_from(["success", "code", "nbData", "meta"]), VALUES, max_size=3))
    after = draw(st.dictionaries(st.sampled_from(["total", "data", "end"]), VALUES, max_size=2))
    items = draw(ITEMS | st.lists(VALUES, max_size=8))
    parts = [f"{json.dumps(k)}: {dump(v, separator, ascii_only)}" for k, v in before.items()]
    parts.append(f'"data": {dump(items, separator, ascii_only)}')
    parts += [f"{json.dumps(k)}: {dump(v, separator, ascii_only)}" for k, v in after.items()]
    return ("{" + separator.join(parts) + "}").encode()


def typed(value: Any) -> Any:
    """``value`` with every scalar's type beside it: ``1 == 1.0 == Decimal(1)`` must not pass."""
    if isinstance(value, dict):
        return ("dict", [(k, typed(v)) for k, v in value.items()])
    if isinstance(value, list):
        return ("list", [typed(v) for v in value])
    return (type(value).__name__, str(value))


def outcome(items: Any) -> tuple[list[Any], str | None]:
    got: list[Any] = []
    try:
        for item in items:
            got.append(typed(item))
    except (ijson.JSONError, UnicodeDecodeError) as exc:  # ijson lets invalid UTF-8 in a string through as this
        return got, type(exc).__name__
    return got, None


def expected(body: bytes) -> tuple[list[Any], str | None]:
    return outcome(ijson.items(io.BytesIO(body), "data.item", use_float=False))


def streamed(body: bytes, head_size: int, seed: int) -> tuple[list[Any], str | None]:
    """The body as the client sees it: ``head_size`` bytes first, the rest in random pieces."""
    rest = io.BytesIO(body[head_size:])
    rng = random.Random(seed)

    def read(size: int) -> bytes:
        return rest.read(min(size, rng.choice([1, 7, 64, 500, 4096])))

    runs = iter_list_runs(body[:head_size], read, "data")
    return outcome(item for run in runs if run or pytest.fail("an empty run") for item in run)


@settings(max_examples=250, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(body=bodies(), head=st.integers(min_value=0, max_value=400), seed=st.integers(0, 2**16))
def test_any_body_gives_ijsons_items(body: bytes, head: int, seed: int) -> None:
    assert streamed(body, min(head, len(body)), seed) == expected(body)


@settings(max_examples=250, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(body=bodies(), cut=st.floats(0, 1), head=st.integers(0, 400), seed=st.integers(0, 2**16), byte=st.integers(0, 255),
       insert=st.booleans())
def test_a_broken_body_fails_like_ijson_after_the_same_items(
    body: bytes, cut: float, head: int, seed: int, byte: int, insert: bool
) -> None:
    at = int(cut * len(body))
    broken = body[:at] + bytes([byte]) + body[at:] if insert else body[:at]
    assert streamed(broken, min(head, len(broken)), seed) == expected(broken)


def big_list(count: int) -> bytes:
    items = ",".join(f'{{"id": {i}, "phoneNumber": "+3361234{i:04d}", "createdAt": "2024-01-05 09:00:00"}}' for i in range(count))
    return b'{"success": true, "code": 200, "data": [' + items.encode() + b'], "nbData": %d}' % count


def test_a_long_list_arrives_in_megabyte_runs_with_its_types() -> None:
    body = big_list(40_000)  # ~3 MB: several runs, the head, the tail
    assert streamed(body, 65536, 1) == expected(body)
    items, error = streamed(body, 65536, 1)
    assert error is None and len(items) == 40_000


def test_a_float_in_a_run_stays_a_decimal() -> None:
    body = b'{"data": [{"a": 1},{"a": 1.50},{"a": 2E3},{"a": "1.5"}]}'
    items = list(iter_list_items(body[:10], io.BytesIO(body[10:]).read, "data"))
    assert [item["a"] for item in items] == [1, Decimal("1.50"), Decimal("2E3"), "1.5"]
    assert type(items[1]["a"]) is Decimal


def test_a_list_with_no_place_to_cut_goes_to_ijson_past_the_item_limit(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(jsonlist, "MAX_ITEM_BYTES", 50)
    body = b'{"data": [' + b",".join(b'"%d"' % i for i in range(200)) + b"]}"
    assert streamed(body, 12, 3) == expected(body)
    assert len(streamed(body, 12, 3)[0]) == 200


def test_the_list_key_is_found_only_at_the_top_level() -> None:
    body = b'{"note": "\\"data\\": [", "meta": {"data": [{"x": 1},{"x": 2}]}, "data": [{"y": 1},{"y": 2},{"y": 3}]}'
    assert streamed(body, len(body) // 2, 5) == expected(body)
    assert [item[1][0][0] for item in streamed(body, 80, 5)[0]] == ["y", "y", "y"]


def test_transport_errors_pass_through() -> None:
    body = big_list(30_000)
    rest = io.BytesIO(body[65536:])
    calls = 0

    def read(size: int) -> bytes:
        nonlocal calls
        calls += 1
        if calls == 3:
            raise OSError("connection reset")
        return rest.read(size)

    with pytest.raises(OSError, match="connection reset"):
        list(iter_list_items(body[:65536], read, "data"))
