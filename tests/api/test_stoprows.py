"""`etl.api.stoprows` gives exactly `parse.parse_stop_item`'s answers and errors, as staging tuples.

The fast path converts Paris local ``"YYYY-MM-DD HH:MM:SS"`` to UTC by text, one cached UTC hour
per local hour; these tests compare it with the slow path on every second that matters (every DST
transition day from 1900 to 2100, hour by hour at its edges), on random texts of that shape (valid or not),
and on any JSON item (hypothesis).
"""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from etl.api import parse
from etl.api.stoprows import stop_row_parser, utc_text
from etl.errors import EtlError

from .test_parse_fuzz import JSON

ENDPOINT = "stop-sms/list"
PARIS = ZoneInfo("Europe/Paris")


def expected_row(item: Any, suffix: str = "", max_raw: int | None = 64) -> tuple[Any, ...]:
    stop = parse.parse_stop_item(item, ENDPOINT)
    raw = stop.phone_raw if max_raw is None else stop.phone_raw[:max_raw]
    return (stop.stop_id, stop.phone_e164, raw, utc_text(stop.created_at, suffix))


def outcome(function: Any, item: Any) -> Any:
    try:
        return ("ok", function(item))
    except EtlError as exc:
        return ("error", type(exc), str(exc), getattr(exc, "field", None))


def item_at(created: Any, phone: Any = "+33612345678", stop_id: Any = 19) -> dict[str, Any]:
    return {"id": stop_id, "phoneNumber": phone, "createdAt": created}


def test_row_of_seed_001_is_the_stored_form() -> None:
    row = stop_row_parser("", 64)(item_at("2015-07-20 10:19:45"), ENDPOINT)
    assert row == (19, "+33612345678", "+33612345678", "2015-07-20 08:19:45.000000")


def test_postgresql_suffix_marks_the_text_utc() -> None:
    row = stop_row_parser("+00", 64)(item_at("2015-01-20 10:19:45"), ENDPOINT)
    assert row[3] == "2015-01-20 09:19:45.000000+00"
    assert datetime.fromisoformat(row[3]) == datetime(2015, 1, 20, 9, 19, 45, tzinfo=timezone.utc)


def test_phone_raw_is_cut_to_the_column_width() -> None:
    long_raw = "+33612345678" + " " * 80
    assert stop_row_parser("", 64)(item_at("2015-07-20 10:19:45", long_raw), ENDPOINT)[2] == long_raw[:64]


@pytest.mark.parametrize(
    "created",
    [
        "2024-03-31 01:59:59", "2024-03-31 02:00:00", "2024-03-31 02:30:00", "2024-03-31 03:00:00",  # spring gap
        "2024-10-27 01:59:59", "2024-10-27 02:00:00", "2024-10-27 02:59:59", "2024-10-27 03:00:00",  # repeated hour
        "1911-03-11 00:00:30", "1911-03-11 00:01:00", "1900-01-01 00:00:00",  # local mean time, then WET mid-hour
        "0000-00-00 00:00:00", "0001-01-01 00:00:00", "9999-12-31 23:59:59",
        "2024-02-30 10:00:00", "2024-01-01 24:00:00", "2024-01-01 12:60:00", "2024-01-01 12:00:60",
        "2024-01-01T12:00:00", "2024-01-01 12:34+01", "２０２４-01-01 12:00:00", "1437380385", "", None, 1437380385,
    ],
)
def test_dates_of_every_kind_match_the_slow_path(created: Any) -> None:
    fast = stop_row_parser("", 64)
    assert outcome(lambda i: fast(i, ENDPOINT), item_at(created)) == outcome(expected_row, item_at(created))


def _transition_days() -> list[datetime]:
    """Every local day from 1900 to 2100 on which the Paris offset changes (or is not whole hours)."""
    days = []
    day = datetime(1900, 1, 1)
    while day.year < 2101:
        start = day.replace(tzinfo=PARIS).utcoffset()
        end = (day + timedelta(hours=23, minutes=59)).replace(tzinfo=PARIS).utcoffset()
        if start != end or start % timedelta(hours=1):
            days.append(day)
        day += timedelta(days=1)
    return days


def test_every_hour_of_every_transition_day_matches_the_slow_path() -> None:
    days = _transition_days()
    assert len(days) > 2 * (2100 - 1976)  # the scan did find the yearly changes
    fast = stop_row_parser("", 64)
    for day in days:
        for hour in range(24):
            for minute, second in ((0, 0), (0, 59), (30, 0), (59, 59)):
                text = (day + timedelta(hours=hour, minutes=minute, seconds=second)).strftime("%Y-%m-%d %H:%M:%S")
                item = item_at(text)
                assert outcome(lambda i: fast(i, ENDPOINT), item) == outcome(expected_row, item), text


DATE_TEXT = st.builds(
    "{:04d}-{:02d}-{:02d} {:02d}:{:02d}:{:02d}".format,
    st.integers(0, 9999), st.integers(0, 13), st.integers(0, 32),
    st.integers(0, 25), st.integers(0, 61), st.integers(0, 61),
)


@settings(max_examples=1000, deadline=None)
@given(created=DATE_TEXT, suffix=st.sampled_from(["", "+00"]))
def test_any_text_of_the_documented_shape_matches_the_slow_path(created: str, suffix: str) -> None:
    fast = stop_row_parser(suffix, 64)
    item = item_at(created)
    assert outcome(lambda i: fast(i, ENDPOINT), item) == outcome(lambda i: expected_row(i, suffix), item)


@settings(max_examples=500, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    stop_id=st.one_of(st.integers(-(2**40), 2**40), JSON),
    phone=st.one_of(st.sampled_from(["+33612345678", "06 12 34 56 78", "0033612345678", "STOP", ""]), JSON),
    created=st.one_of(DATE_TEXT, JSON),
)
def test_any_item_gives_the_slow_paths_row_or_error(stop_id: Any, phone: Any, created: Any) -> None:
    fast = stop_row_parser("", 64)
    item = item_at(created, phone, stop_id)
    assert outcome(lambda i: fast(i, ENDPOINT), item) == outcome(expected_row, item)


@settings(max_examples=200, deadline=None)
@given(item=JSON)
def test_any_json_gives_the_slow_paths_row_or_error(item: Any) -> None:
    fast = stop_row_parser("", 64)
    assert outcome(lambda i: fast(i, ENDPOINT), item) == outcome(expected_row, item)
