"""The stop list (`etl/api/parse/stops.py`) by table: a stop is never dropped for its number."""

from __future__ import annotations

import json
from datetime import datetime, timezone
from decimal import Decimal
from typing import Any

import pytest

from etl.api import parse
from etl.api.parse import Stop
from etl.errors import PayloadError


def loads(text: str) -> Any:
    return json.loads(text, parse_float=Decimal)


UTC = timezone.utc


# --------------------------------------------------------------------------------------------------
# Stop list (SEED-001, quirk 17)
# --------------------------------------------------------------------------------------------------

SEED_001 = '{ "success": true, "code": 200, "nbData": 1, "data": [ { "id": 19, "phoneNumber": "+33612345678", "createdAt": "2015-07-20 10:19:45" } ] }'


@pytest.mark.parametrize(
    ("item", "expected"),
    [
        (loads(SEED_001)["data"][0],
         Stop(19, "+33612345678", "+33612345678", datetime(2015, 7, 20, 8, 19, 45, tzinfo=UTC))),
        ({"id": "19", "phoneNumber": "0612345678", "createdAt": "1437380385"},
         Stop(19, "0612345678", "+33612345678", datetime(2015, 7, 20, 8, 19, 45, tzinfo=UTC))),
        ({"id": 20, "phoneNumber": "+3361", "createdAt": None}, Stop(20, "+3361", "+3361", None)),
        ({"id": 21, "phoneNumber": "STOP", "createdAt": None}, Stop(21, "STOP", None, None)),
    ],
    ids=["seed-001", "id-str-national-epoch", "invalid-but-parseable-kept", "unparseable-kept-none"],
)
def test_parse_stop_item_never_drops_a_stop(item: dict[str, Any], expected: Stop) -> None:
    assert parse.parse_stop_item(item) == expected


@pytest.mark.parametrize(
    ("item", "field"),
    [
        ({"id": "x19", "phoneNumber": "+33612345678"}, "data[].id"),
        ({"phoneNumber": "+33612345678"}, "data[].id"),
        ({"id": 19, "phoneNumber": 33612345678}, "data[].phoneNumber"),
        ({"id": 19, "phoneNumber": "+33612345678", "createdAt": "20/07/2015"}, "data[].createdAt"),
        ("19", "data[]"),
    ],
    ids=["id-text", "id-missing", "phone-int", "date-garbage", "not-an-object"],
)
def test_parse_stop_item_rejects(item: Any, field: str) -> None:
    with pytest.raises(PayloadError) as info:
        parse.parse_stop_item(item)
    assert info.value.field == field and info.value.endpoint == "stop-sms/list"


def test_records_are_frozen() -> None:
    stop = Stop(1, "x", None, None)
    with pytest.raises(AttributeError):
        stop.stop_id = 2  # type: ignore[misc]
