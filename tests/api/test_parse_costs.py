"""``/statistics/cost-resume`` (`etl/api/parse/costs.py`): month by month, an unreadable month set aside."""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Any

import pytest

from etl.api import parse


def loads(text: str) -> Any:
    return json.loads(text, parse_float=Decimal)


# --------------------------------------------------------------------------------------------------
# cost-resume (quirks 5, 20)
# --------------------------------------------------------------------------------------------------

COST = """{"success": true, "code": 200, "datas": [
 {"month": "october", "year": "2021", "m": "10", "date": 1633039200, "type": "month", "cost": "49.174", "nb_send": "1210"},
 {"month": "november", "year": 2021, "date": 1635721200, "type": "month", "cost": 0.5, "nb_send": 3}]}"""


def test_parse_cost_resume_strings_and_numbers() -> None:
    assert parse.parse_cost_resume(loads(COST)) == [
        parse.MonthlyCost(2021, 10, Decimal("49.174"), 1210),
        parse.MonthlyCost(2021, 11, Decimal("0.5"), 3),
    ]


@pytest.mark.parametrize(
    ("item", "field"),
    [
        ({"year": "2021", "m": "13", "cost": "1", "nb_send": "1"}, "datas[].m"),
        ({"year": "2021", "month": "brumaire", "cost": "1", "nb_send": "1"}, "datas[].m"),
        ({"m": "1", "cost": "1", "nb_send": "1"}, "year"),
        ({"year": "2021", "m": "1", "cost": "cheap", "nb_send": "1"}, "datas[].cost"),
        ({"year": "2021", "m": "1", "cost": "1", "nb_send": "many"}, "datas[].nb_send"),
        ({"year": "2021", "m": "1", "cost": "-1", "nb_send": "1"}, "datas[].cost"),
        ({"year": "2021", "m": "1", "cost": "0.123456789", "nb_send": "1"}, "datas[].cost"),
        ("n/a", "datas[0]"),
    ],
    ids=["month-13", "month-name-unknown", "year-missing", "cost-text", "nb-send-text", "cost-negative",
         "cost-9-decimals", "not-an-object"],
)
def test_unreadable_month_of_cost_resume_is_set_aside_and_the_others_read(item: Any, field: str) -> None:
    good = {"year": "2021", "m": "2", "cost": "10225.119", "nb_send": "3"}
    months = parse.parse_cost_resume({"datas": [item, good]})
    assert [(m.year, m.month, m.cost) for m in months] == [(2021, 2, Decimal("10225.119"))]
    [bad] = months.unreadable
    assert bad.item == item and f"field {field!r}" in bad.reason and bad.endpoint == "statistics/cost-resume"
