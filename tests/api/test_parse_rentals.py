"""Rentals (`etl/api/parse/rentals.py`) by table (SEED-003, quirk 19)."""

from __future__ import annotations

from datetime import datetime, timezone
from decimal import Decimal
from typing import Any

import pytest

from etl.api import parse
from etl.errors import PayloadError

# --------------------------------------------------------------------------------------------------
# Rentals (SEED-003, quirk 19)
# --------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("payload", "expected"),
    [
        ({"success": True, "token": "abc", "status": "File downloaded by user from api",
          "file": {"phoneNumbers": "10"}}, parse.RentalStatus("abc", "File downloaded by user from api", None, 10)),
        ({"success": True, "token": "abc", "status": 2, "file": {"phoneNumbers": 10}},
         parse.RentalStatus("abc", None, 2, 10)),
        ({"success": True, "token": "abc", "status": "5"}, parse.RentalStatus("abc", None, 5, None)),
        ({"success": True, "token": "abc", "status": "ready", "state": "2"}, parse.RentalStatus("abc", "ready", 2, None)),
    ],
    ids=["documented-text", "numeric", "numeric-string", "explicit-state"],
)
def test_parse_rental_status(payload: dict[str, Any], expected: parse.RentalStatus) -> None:
    assert parse.parse_rental_status(payload) == expected


@pytest.mark.parametrize(
    ("item", "expected"),
    [
        ({"id": 4314, "phone": "+33612345678", "stopSms": False}, parse.RentalNumber("4314", "+33612345678", "+33612345678", False)),
        ({"id": "4315", "phone": "0612345678", "stopSms": "1"}, parse.RentalNumber("4315", "0612345678", "+33612345678", True)),
        # Fail-closed (issue 16): a flag absent or null is unsure, so the number is stopped.
        ({"id": 4316, "phone": "+33612345678"}, parse.RentalNumber("4316", "+33612345678", "+33612345678", True)),
        ({"id": 4317, "phone": "+33612345678", "stopSms": None}, parse.RentalNumber("4317", "+33612345678", "+33612345678", True)),
    ],
    ids=["seed-003", "str-id-stop-string", "stop-missing-is-stopped", "stop-null-is-stopped"],
)
def test_parse_rental_item(item: dict[str, Any], expected: parse.RentalNumber) -> None:
    assert parse.parse_rental_item(item) == expected


@pytest.mark.parametrize(
    ("payload", "field"),
    [
        ({"success": True, "status": "x"}, "token"),
        ({"success": True, "token": "t", "file": {"phoneNumbers": "ten"}}, "file.phoneNumbers"),
        ({"success": True, "token": "t", "file": "10"}, "file"),
    ],
    ids=["no-token", "count-text", "file-not-object"],
)
def test_parse_rental_status_rejects(payload: dict[str, Any], field: str) -> None:
    with pytest.raises(PayloadError) as info:
        parse.parse_rental_status(payload)
    assert info.value.field == field


@pytest.mark.parametrize(
    ("item", "field"),
    [({"phone": "+33612345678"}, "id"), ({"id": 1}, "phone"), ({"id": 1, "phone": "+33612345678", "stopSms": "?"},
                                                              "datas[].stopSms")],
    ids=["no-id", "no-phone", "stop-garbage"],
)
def test_parse_rental_item_rejects(item: dict[str, Any], field: str) -> None:
    with pytest.raises(PayloadError) as info:
        parse.parse_rental_item(item)
    assert info.value.field == field and info.value.endpoint == "location/file/download"


# --------------------------------------------------------------------------------------------------
# Rental costs (REFERENCE §3.13: status cost.total / cost_unity are strings; ACCOUNTS.md §5)
# --------------------------------------------------------------------------------------------------

_DOCUMENTED_COST = {"quantity": 10, "total": "0.900", "cost_unity": "0.090"}


@pytest.mark.parametrize(
    ("payload", "expected"),
    [
        ({"token": "t", "location": {"cost": _DOCUMENTED_COST}},
         parse.RentalCost(Decimal("0.900"), Decimal("0.090"), 10)),
        ({"token": "t", "location": {"cost": {"quantity": "10", "total": 0.9, "cost_unity": 0.09}}},
         parse.RentalCost(Decimal("0.9"), Decimal("0.09"), 10)),
        ({"token": "t", "location": {"cost": {"total": "1.5", "currency": "eur"}}, "createdAt": "2026-01-05 10:00:00"},
         parse.RentalCost(Decimal("1.5"), None, None, "EUR", datetime(2026, 1, 5, 9, 0, tzinfo=timezone.utc))),
        ({"token": "t", "location": {"sexe": "m"}}, None),
        ({"token": "t", "location": {"cost": {"quantity": 0, "total": ""}}}, None),
    ],
    ids=["documented-strings", "floats-and-string-quantity", "currency-and-order-date-if-given", "no-cost", "empty-total"],
)
def test_parse_rental_cost(payload: dict[str, Any], expected: parse.RentalCost | None) -> None:
    assert parse.parse_rental_cost(payload) == expected
    assert parse.parse_rental_status(payload).cost == expected


@pytest.mark.parametrize(
    "cost",
    [{"total": "0.9x"}, {"total": "-1"}, {"total": "0.0000000001"}, {"total": "1", "quantity": "ten"}],
    ids=["text", "negative", "ten-decimals", "quantity-text"],
)
def test_an_unreadable_rental_cost_is_said_and_the_status_still_reads(cost: dict[str, Any]) -> None:
    status = parse.parse_rental_status({"token": "t", "status": 2, "location": {"cost": cost}})
    assert (status.state, status.cost) == (2, None)
    assert status.cost_error and "location.cost" in status.cost_error
