"""Rental files: ``/location/status`` and the ``/location/file/download`` contacts."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

from etl.api.parse.values import (
    _amount,
    _bool,
    _currency,
    _first,
    _id_str,
    _int,
    _list,
    _mapping,
    _opt_amount,
    _opt_int,
    _phone,
    _require,
    _str,
    parse_datetime,
)
from etl.errors import PayloadError

#: Where an order date might sit: no source shows one (ACCOUNTS.md §5), so these are tolerated, never required.
ORDER_DATE_KEYS = ("createdAt", "created_at", "orderDate", "date")


@dataclass(frozen=True, slots=True)
class RentalNumber:
    """One contact of a rental file (``/location/file/download`` ``datas[]``)."""

    rental_id: str
    phone_raw: str
    phone_e164: str | None
    stop: bool


@dataclass(frozen=True, slots=True)
class RentalCost:
    """``location.cost`` of ``/location/status``: ``total`` and ``cost_unity`` are decimal strings, ``quantity``
    an int (REFERENCE §3.13, ACCOUNTS.md §5); no currency is documented, one given is kept."""

    total: Decimal
    unit_cost: Decimal | None
    quantity: int | None
    currency: str | None = None
    #: The order's date when the answer carries one (undocumented: `ORDER_DATE_KEYS`).
    ordered_at: datetime | None = None


@dataclass(frozen=True, slots=True)
class RentalStatus:
    """``/location/status``: free text, the numeric state when the API gives one, the file's count.

    States (REFERENCE §3.13): 0 requested, 1 generating, 2 ready, 3 failed, 5 already downloaded.
    """

    token: str
    status_text: str | None
    state: int | None
    count: int | None
    cost: RentalCost | None = None
    #: Why a cost that was given could not be read (the status itself still counts).
    cost_error: str | None = None


def parse_rental_status(payload: Mapping[str, Any], endpoint: str = "location/status") -> RentalStatus:
    """``/location/status``: free-text ``status``; a numeric state when one is given (quirk 19).

    Which field carries the numeric state is not documented: an int (or digit string) in
    ``status``, or a ``state``/``statusCode`` field, is read as the state; text stays text.
    """
    token = _id_str(_require(payload, ("token",), endpoint), endpoint, "token")
    raw_status = payload.get("status")
    state: int | None = None
    text: str | None = None
    if isinstance(raw_status, int) and not isinstance(raw_status, bool):
        state = raw_status
    elif isinstance(raw_status, str) and raw_status.strip().isdigit():
        state = int(raw_status)
    elif raw_status is not None:
        text = _str(raw_status, endpoint, "status")
    explicit = _first(payload, ("state", "statusCode", "status_code"))
    if explicit is not None:
        state = _int(explicit, endpoint, "state")
    file_part = payload.get("file")
    count = None
    if file_part is not None:
        count = _opt_int(_mapping(file_part, endpoint, "file").get("phoneNumbers"), endpoint, "file.phoneNumbers")
    cost, cost_error = _cost_or_error(payload, endpoint)
    return RentalStatus(token=token, status_text=text, state=state, count=count, cost=cost, cost_error=cost_error)


def _cost_or_error(payload: Mapping[str, Any], endpoint: str) -> tuple[RentalCost | None, str | None]:
    """The cost, or why it is unreadable: a bad price must not hold back the file (its stop flags)."""
    try:
        return parse_rental_cost(payload, endpoint), None
    except PayloadError as exc:
        return None, str(exc)


def parse_rental_cost(payload: Mapping[str, Any], endpoint: str = "location/status") -> RentalCost | None:
    """``location.cost{quantity, total, cost_unity}`` (or a top-level ``cost``); None when no total is given."""
    location = payload.get("location")
    holder = _mapping(location, endpoint, "location") if location is not None else payload
    raw = holder.get("cost", payload.get("cost"))
    if raw is None:
        return None
    cost = _mapping(raw, endpoint, "location.cost")
    if cost.get("total") is None or cost.get("total") == "":
        return None
    date = _first(payload, ORDER_DATE_KEYS)
    if date is None and location is not None:
        date = _first(holder, ORDER_DATE_KEYS)
    return RentalCost(
        total=_amount(cost["total"], endpoint, "location.cost.total"),
        unit_cost=_opt_amount(_first(cost, ("cost_unity", "costUnity", "unit_cost")), endpoint, "location.cost.cost_unity"),
        quantity=_opt_int(cost.get("quantity"), endpoint, "location.cost.quantity"),
        currency=_currency(_first(cost, ("currency",)) or payload.get("currency"), endpoint, "location.cost.currency"),
        ordered_at=parse_datetime(date, endpoint, "createdAt"),
    )


def parse_rental_item(item: Any, endpoint: str = "location/file/download") -> RentalNumber:
    """One ``datas[]`` entry: ``{id, phone, stopSms}`` (ids may be int or str).

    A flag absent or null reads stopped: unsure, so blocked (fail-closed, issue 16).
    """
    item = _mapping(item, endpoint, "datas[]")
    phone_raw, phone_e164 = _phone(_require(item, ("phone", "phoneNumber"), endpoint), endpoint, "datas[].phone")
    flag = _first(item, ("stopSms", "stopSMS"))
    return RentalNumber(
        rental_id=_id_str(_require(item, ("id",), endpoint), endpoint, "datas[].id"),
        phone_raw=phone_raw,
        phone_e164=phone_e164,
        stop=True if flag is None else _bool(flag, endpoint, "datas[].stopSms"),
    )


def parse_rental_file(payload: Mapping[str, Any], endpoint: str = "location/file/download") -> list[RentalNumber]:
    """Whole rental file (``phoneNumbers`` is a count, not a list: quirk 19)."""
    return [parse_rental_item(item, endpoint) for item in _list(payload, ("datas",), endpoint)]
