"""The account: ``/me``."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from etl.api.parse.values import _currency, _first, _mapping, _opt_amount, _opt_int, _opt_str


@dataclass(frozen=True, slots=True)
class Account:
    """``/me``. Every credit field is optional (quirk 21: field names differ between sources)."""

    username: str | None
    firstname: str | None
    lastname: str | None
    user_id: int | None
    credit_sms: int | None
    credit_sms_eco: int | None
    credit_hlr: int | None
    to_send: int | None
    balance: Decimal | None
    currency: str | None


def parse_account(payload: Mapping[str, Any], endpoint: str = "me") -> Account:
    """``/me``: ``user{...}``, ``credits{...}`` with ``creditSmsECO`` or ``creditSmsLowCost`` (quirk 21)."""
    user = _mapping({} if payload.get("user") is None else payload["user"], endpoint, "user")
    credits = _mapping({} if payload.get("credits") is None else payload["credits"], endpoint, "credits")
    return Account(
        username=_opt_str(user.get("username"), endpoint, "user.username"),
        firstname=_opt_str(user.get("firstname"), endpoint, "user.firstname"),
        lastname=_opt_str(user.get("lastname"), endpoint, "user.lastname"),
        user_id=_opt_int(user.get("id"), endpoint, "user.id"),
        credit_sms=_opt_int(credits.get("creditSms"), endpoint, "credits.creditSms"),
        credit_sms_eco=_opt_int(
            _first(credits, ("creditSmsECO", "creditSmsLowCost")), endpoint, "credits.creditSmsECO"
        ),
        credit_hlr=_opt_int(credits.get("creditHlr"), endpoint, "credits.creditHlr"),
        to_send=_opt_int(credits.get("toSend"), endpoint, "credits.toSend"),
        balance=_opt_amount(_first(credits, ("balance", "solde")), endpoint, "credits.balance", signed=True),
        currency=_currency(credits.get("currency"), endpoint, "credits.currency"),
    )
