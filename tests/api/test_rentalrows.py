"""`etl.api.rentalrows` gives exactly `parse.parse_rental_item`'s answers and errors, as tuples.

Compared on the simulator's shapes (int or quoted ids, either stop flag spelling, bool or text
flags), on the documented oddities, on any value in each field and on any JSON item (hypothesis).
"""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from etl.api import parse
from etl.api.lists import rental_file
from etl.api.rentalrows import rental_row, rental_row_parser, run_shaper
from etl.errors import EtlError
from tests.api.helpers import rental_numbers, rental_rows

from .test_parse_fuzz import JSON

ENDPOINT = "location/file/download"
MISSING = object()


def expected_row(item: Any) -> tuple[Any, ...]:
    return rental_row(parse.parse_rental_item(item, ENDPOINT))


def outcome(function: Any, item: Any) -> Any:
    try:
        return ("ok", function(item))
    except EtlError as exc:
        return ("error", type(exc), str(exc), getattr(exc, "field", None))


def fast_outcome(item: Any) -> Any:
    parse_row = rental_row_parser()
    return outcome(lambda i: parse_row(i, ENDPOINT), item)


def entry(rental_id: Any = 884310, phone: Any = "+33612345601", stop: Any = False, **keys: Any) -> dict[str, Any]:
    item = {"id": rental_id, "phone": phone, "stopSms": stop, **keys}
    return {k: v for k, v in item.items() if v is not MISSING}


def test_the_simulators_entry_is_a_plain_tuple() -> None:
    assert rental_row_parser()(entry(), ENDPOINT) == ("884310", "+33612345601", "+33612345601", False)


@pytest.mark.parametrize(
    "item",
    [
        entry(), entry(stop=True), entry("884310"), entry(" 884310 "), entry("a\\b\tc"),
        entry(phone="06 12 34 56 02"), entry(phone="not a number"), entry(phone=""), entry(phone="\\N"),
        entry(stop="0"), entry(stop="1"), entry(stop="true"), entry(stop="false"), entry(stop=" 1"), entry(stop="TRUE"),
        entry(stop="yes"), entry(stop=""), entry(stop=0), entry(stop=1), entry(stop=2), entry(stop=None), entry(stop=MISSING),
        entry(stop=MISSING, stopSMS=True), entry(stop=None, stopSMS="1"), entry(stop=False, stopSMS=True),
        entry(phone=MISSING, phoneNumber="+33612345601"), entry(phone=None, phoneNumber="0612345602"),
        entry(phone="+33612345601", phoneNumber=7), entry(phone=MISSING), entry(phone=612345601), entry(phone=None),
        entry(True), entry(False), entry(0), entry(-1), entry(2**70), entry(""), entry("  "), entry(None), entry(MISSING),
        entry(1.5), entry([1]), entry(True, phone=5), entry(None, phone=None, stop="x"),
        [], "884310", None, 7, {},
    ],
)
def test_documented_shapes_and_oddities_match_the_slow_path(item: Any) -> None:
    assert fast_outcome(item) == outcome(expected_row, item)


def test_a_dict_subclass_goes_through_the_slow_path() -> None:
    class Item(dict):  # type: ignore[type-arg]
        pass

    item = Item(entry())
    assert fast_outcome(item) == outcome(expected_row, item)


PHONES = st.sampled_from(["+33612345601", "06 12 34 56 02", "0033612345678", "STOP", "", "\\N", "tab\there"])
FLAGS = st.sampled_from([True, False, "0", "1", "true", "false", 0, 1, None, MISSING])
IDS = st.one_of(st.integers(-(2**40), 2**40), st.integers(0, 10**9).map(str), st.sampled_from(["", " 7 ", MISSING]))


@settings(max_examples=1000, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    rental_id=st.one_of(IDS, JSON),
    phone=st.one_of(PHONES, JSON, st.just(MISSING)),
    stop=st.one_of(FLAGS, JSON),
    other_phone=st.one_of(st.just(MISSING), PHONES, JSON),
    other_stop=st.one_of(st.just(MISSING), FLAGS, JSON),
)
def test_any_field_values_give_the_slow_paths_row_or_error(
    rental_id: Any, phone: Any, stop: Any, other_phone: Any, other_stop: Any
) -> None:
    item = entry(rental_id, phone, stop, phoneNumber=other_phone, stopSMS=other_stop)
    assert fast_outcome(item) == outcome(expected_row, item)


@settings(max_examples=300, deadline=None)
@given(item=JSON)
def test_any_json_gives_the_slow_paths_row_or_error(item: Any) -> None:
    assert fast_outcome(item) == outcome(expected_row, item)


@settings(max_examples=300, deadline=None)
@given(item=st.dictionaries(st.sampled_from(["id", "phone", "phoneNumber", "stopSms", "stopSMS", "x"]), JSON))
def test_any_object_with_the_documented_keys_gives_the_slow_paths_row_or_error(item: dict[str, Any]) -> None:
    assert fast_outcome(item) == outcome(expected_row, item)


@pytest.mark.parametrize(
    "quirks",
    [
        {},
        {"id_style": "strings", "stop_flag_style": "string", "stop_flag_key": "stopSMS"},
        {"rental_download_code": True, "stop_flag_key": "stopSms", "stop_flag_style": "bool"},
    ],
    ids=["documented", "string-ids-text-flags-stopSMS", "code-200"],
)
def test_client_rows_are_the_rental_files_numbers(client: Any, sim: Any, quirks: dict[str, Any]) -> None:
    sim.quirks.update(**quirks)
    sim.add_rental("big", 3000, stop_share=0.1)
    rows = rental_rows(client, "big")
    assert rows == [rental_row(number) for number in rental_numbers(client, "big")]
    assert [(r[0], r[2], r[3]) for r in rows] == [(str(i), p, s) for i, p, s in sim.rental_rows("big")]


def test_rental_runs_flatten_to_exactly_the_rental_rows(client: Any, sim: Any) -> None:
    sim.add_rental("runs", 30_000, stop_share=0.1)
    runs = list(client.stream_list(rental_file("runs"), run_shaper()))
    assert len(runs) >= 2 and all(runs)
    assert [row for run in runs for row in run] == rental_rows(client, "runs")
