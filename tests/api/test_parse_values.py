"""Value readers (`etl/api/parse/values.py`) by table: dates, money limits, integers."""

from __future__ import annotations

from datetime import datetime, timezone
from decimal import Decimal
from typing import Any

import pytest

from etl.api import parse
from etl.db.types import MONEY_SCALE, Money
from etl.errors import PayloadError

UTC = timezone.utc


# --------------------------------------------------------------------------------------------------
# Dates (quirk 5)
# --------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("2015-02-07 22:39:46", datetime(2015, 2, 7, 21, 39, 46, tzinfo=UTC)),  # Paris winter, UTC+1
        ("2015-07-20 10:19:45", datetime(2015, 7, 20, 8, 19, 45, tzinfo=UTC)),  # Paris summer, UTC+2
        ("1534615206", datetime(2018, 8, 18, 18, 0, 6, tzinfo=UTC)),  # epoch string (GO)
        (1633039200, datetime(2021, 9, 30, 22, 0, tzinfo=UTC)),  # epoch int (cost-resume)
        ("2021-10-31 02:30:00", datetime(2021, 10, 31, 0, 30, tzinfo=UTC)),  # DST overlap: first occurrence
        ("2015-07-20T10:19:45+00:00", datetime(2015, 7, 20, 10, 19, 45, tzinfo=UTC)),  # explicit offset wins
        (None, None),
        ("", None),
        ("0000-00-00 00:00:00", None),  # PHP zero date
    ],
    ids=["ymd-winter", "ymd-summer", "epoch-str", "epoch-int", "dst-overlap", "iso-offset", "null", "empty", "zero-date"],
)
def test_parse_datetime_accepts_every_documented_form(value: Any, expected: datetime | None) -> None:
    result = parse.parse_datetime(value, "message-status", "date")
    assert result == expected
    if result is not None:
        assert result.tzinfo is UTC


@pytest.mark.parametrize("value", ["07/02/2015", "yesterday", True, [1]], ids=["dmy", "text", "bool", "list"])
def test_parse_datetime_rejects_garbage_naming_the_field(value: Any) -> None:
    with pytest.raises(PayloadError) as info:
        parse.parse_datetime(value, "message-status", "date")
    assert info.value.field == "date" and info.value.endpoint == "message-status"


def test_money_decimals_are_the_databases_scale() -> None:
    assert parse.MONEY_DECIMALS == MONEY_SCALE == Money.scale
    assert parse.MONEY_INTEGER_DIGITS == Money.precision - Money.scale


@pytest.mark.parametrize("value", [Decimal("Infinity"), Decimal("-Infinity"), Decimal("NaN"), Decimal("sNaN")],
                         ids=["inf", "-inf", "nan", "snan"])
def test_integer_field_given_a_non_finite_decimal_is_a_payload_error(value: Decimal) -> None:
    # Found by tests/api/test_parse_fuzz.py: OverflowError / InvalidOperation escaped from _int.
    with pytest.raises(PayloadError):
        parse.parse_stop_item({"id": value, "phoneNumber": "+33612345678", "createdAt": "2015-07-20 10:19:45"})
