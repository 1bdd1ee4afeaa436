"""``/me`` (`etl/api/parse/account.py`) by table."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest

from etl.api import parse
from etl.errors import PayloadError

# --------------------------------------------------------------------------------------------------
# /me (quirks 20, 21)
# --------------------------------------------------------------------------------------------------

ME_DOC = {"success": True, "code": 200, "user": {"username": "u", "firstname": "F", "lastname": "L"},
          "credits": {"creditSms": 10, "creditSmsECO": 5, "creditHlr": 1, "toSend": 0,
                      "balance": "10225.119", "currency": "EUR"}}
ME_GO = {"success": True, "code": 200, "user": {"id": 7, "username": "u"},
         "credits": {"creditSms": "10", "creditSmsLowCost": 5, "solde": "10225.119", "currency": "eur"}}


@pytest.mark.parametrize(
    ("payload", "check"),
    [
        (ME_DOC, dict(username="u", credit_sms=10, credit_sms_eco=5, credit_hlr=1, to_send=0,
                      balance=Decimal("10225.119"), currency="EUR", user_id=None)),
        (ME_GO, dict(user_id=7, credit_sms=10, credit_sms_eco=5, balance=Decimal("10225.119"), currency="EUR",
                     credit_hlr=None)),
        ({"success": True, "code": 200}, dict(username=None, balance=None)),
    ],
    ids=["doc-creditSmsECO", "go-creditSmsLowCost-solde", "all-optional"],
)
def test_parse_account(payload: dict[str, Any], check: dict[str, Any]) -> None:
    account = parse.parse_account(payload)
    for key, value in check.items():
        assert getattr(account, key) == value, key


@pytest.mark.parametrize(
    ("payload", "field"),
    [
        ({"credits": {"balance": "lots"}}, "credits.balance"),
        ({"credits": {"creditSms": "n/a"}}, "credits.creditSms"),
        ({"credits": []}, "credits"),
        ({"credits": {"currency": "€"}}, "credits.currency"),
    ],
    ids=["balance-text", "credit-text", "credits-list", "currency-symbol"],
)
def test_parse_account_rejects(payload: dict[str, Any], field: str) -> None:
    with pytest.raises(PayloadError) as info:
        parse.parse_account(payload)
    assert info.value.field == field and info.value.endpoint == "me"
