"""Value readers shared by the answer parsers: ids, integers, text, booleans, money, codes, dates.

Each takes the endpoint and field it reads so its `PayloadError` names them; none guesses. The
readers keep their leading underscore: they are private to the `etl.api.parse` package, whose
modules share them; it re-exports only `parse_datetime`, `API_TIMEZONE` and the money limits.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta, timezone
from decimal import Decimal, InvalidOperation
from typing import Any
from zoneinfo import ZoneInfo

from etl import phones
from etl.errors import PayloadError

_INT_TEXT = re.compile(r"[+-]?\d+")
_CURRENCY = re.compile(r"[A-Z]{3}")
_COUNTRY = re.compile(r"[A-Z]{2}")

MONEY_DECIMALS = 8
"""Decimals an amount may have: the scale of ``etl.db.types.Money`` (a test keeps the two equal)."""
MONEY_INTEGER_DIGITS = 12
"""Integer digits an amount may have: ``Money``'s precision (20) minus its scale."""


API_TIMEZONE = ZoneInfo("Europe/Paris")
"""The zone we read zone-less ``"Y-m-d H:i:s"`` API times in (see `etl.api.parse`)."""


def _require(item: Mapping[str, Any], keys: Sequence[str], endpoint: str) -> Any:
    """The value of the first present key among spellings (quirk 7), or PayloadError on the first."""
    for key in keys:
        if key in item and item[key] is not None:
            return item[key]
    raise PayloadError("missing", endpoint=endpoint, field=keys[0])


def _first(item: Mapping[str, Any], keys: Sequence[str]) -> Any:
    for key in keys:
        value = item.get(key)
        if value is not None:
            return value
    return None


def _int(value: Any, endpoint: str, field: str) -> int:
    if isinstance(value, bool):
        raise PayloadError(f"expected an integer, got {value!r}", endpoint=endpoint, field=field)
    if isinstance(value, int):
        return value
    if isinstance(value, str) and _INT_TEXT.fullmatch(value.strip()):
        return int(value)
    if isinstance(value, Decimal) and value.is_finite() and value == value.to_integral_value():
        return int(value)
    raise PayloadError(f"expected an integer, got {value!r}", endpoint=endpoint, field=field)


def _opt_int(value: Any, endpoint: str, field: str) -> int | None:
    if value is None or value == "":
        return None
    return _int(value, endpoint, field)


def _str(value: Any, endpoint: str, field: str) -> str:
    if isinstance(value, str):
        return value
    raise PayloadError(f"expected a string, got {value!r}", endpoint=endpoint, field=field)


def _opt_str(value: Any, endpoint: str, field: str) -> str | None:
    if value is None:
        return None
    return _str(value, endpoint, field)


def _id_str(value: Any, endpoint: str, field: str) -> str:
    """An id that may come as int or str (quirk 6); always returned as str."""
    if isinstance(value, bool):
        raise PayloadError(f"expected an id, got {value!r}", endpoint=endpoint, field=field)
    if isinstance(value, int):
        return str(value)
    if isinstance(value, str) and value.strip():
        return value.strip()
    raise PayloadError(f"expected an id, got {value!r}", endpoint=endpoint, field=field)


def _as_bool_flag(value: Any) -> bool | None:
    if isinstance(value, bool):
        return value
    if isinstance(value, int) and value in (0, 1):
        return bool(value)
    if isinstance(value, str) and value.strip().lower() in ("0", "1", "true", "false"):
        return value.strip().lower() in ("1", "true")
    return None


def _bool(value: Any, endpoint: str, field: str) -> bool:
    """true/false, "0"/"1", 0/1 (quirk 4)."""
    flag = _as_bool_flag(value)
    if flag is None:
        raise PayloadError(f"expected a boolean, got {value!r}", endpoint=endpoint, field=field)
    return flag


def _opt_bool(value: Any, endpoint: str, field: str) -> bool | None:
    if value is None or value == "":
        return None
    return _bool(value, endpoint, field)


def _decimal(value: Any, endpoint: str, field: str) -> Decimal:
    """Decimal from a JSON number or a numeric string (quirk 20), never through a binary float."""
    if isinstance(value, bool):
        raise PayloadError(f"expected a number, got {value!r}", endpoint=endpoint, field=field)
    if isinstance(value, Decimal):
        result = value
    elif isinstance(value, int):
        result = Decimal(value)
    elif isinstance(value, float):
        result = Decimal(str(value))
    elif isinstance(value, str):
        try:
            result = Decimal(value.strip())
        except InvalidOperation:
            raise PayloadError(f"expected a decimal, got {value!r}", endpoint=endpoint, field=field) from None
    else:
        raise PayloadError(f"expected a number, got {value!r}", endpoint=endpoint, field=field)
    if not result.is_finite():
        raise PayloadError(f"not a finite number: {value!r}", endpoint=endpoint, field=field)
    return result


def _amount(value: Any, endpoint: str, field: str, *, signed: bool = False) -> Decimal:
    """An amount stored exactly, or `PayloadError`: finite, not negative unless ``signed``, within ``Money``."""
    result = _decimal(value, endpoint, field)
    if result < 0 and not signed:
        raise PayloadError(f"a negative amount: {value!r}", endpoint=endpoint, field=field)
    exact = result.normalize()  # 0.04500000000 is 0.045: trailing zeros are not precision
    exponent = exact.as_tuple().exponent
    if isinstance(exponent, int) and -exponent > MONEY_DECIMALS:
        raise PayloadError(f"more than {MONEY_DECIMALS} decimals: {value!r}", endpoint=endpoint, field=field)
    if result != 0 and exact.adjusted() >= MONEY_INTEGER_DIGITS:
        raise PayloadError(f"more than {MONEY_INTEGER_DIGITS} integer digits: {value!r}", endpoint=endpoint, field=field)
    return result


def _opt_amount(value: Any, endpoint: str, field: str, *, signed: bool = False) -> Decimal | None:
    if value is None or value == "":
        return None
    return _amount(value, endpoint, field, signed=signed)


def _currency(value: Any, endpoint: str, field: str) -> str | None:
    """ISO 4217 code, upper-cased and checked to be three letters."""
    if value is None or value == "":
        return None
    text = _str(value, endpoint, field).strip().upper()
    if not _CURRENCY.fullmatch(text):
        raise PayloadError(f"not an ISO 4217 code: {value!r}", endpoint=endpoint, field=field)
    return text


def _country(value: Any, endpoint: str, field: str) -> str | None:
    """ISO 3166-1 alpha-2 code, upper-cased and checked to be two letters (never cut to two)."""
    if value is None or value == "":
        return None
    text = _str(value, endpoint, field).strip().upper()
    if not _COUNTRY.fullmatch(text):
        raise PayloadError(f"not an ISO 3166 country code: {value!r}", endpoint=endpoint, field=field)
    return text


def _phone(value: Any, endpoint: str, field: str) -> tuple[str, str | None]:
    raw = _str(value, endpoint, field)
    return raw, phones.canonicalize(raw)


_UTC = timezone.utc
_PARIS_OFFSETS: dict[str, timedelta] = {}


def _paris_local_to_utc(text: str) -> datetime | None:
    """Fast path for ``"YYYY-MM-DD HH:MM:SS"`` (the stop list's 1,000,000 ``createdAt``).

    The Paris UTC offset is constant within a local hour (DST switches on the hour), so it is
    cached per ``"YYYY-MM-DD HH"``; ``fold=0`` picks the first occurrence of the repeated autumn
    hour, like the slow path. ``None`` when the text is not in that exact shape.
    """
    if len(text) != 19 or text[10] != " " or text[4] != "-":
        return None
    try:
        naive = datetime.fromisoformat(text)
    except ValueError:
        return None
    key = text[:13]
    offset = _PARIS_OFFSETS.get(key)
    if offset is None:
        offset = naive.replace(tzinfo=API_TIMEZONE).utcoffset() or timedelta(0)
        if len(_PARIS_OFFSETS) < 200_000:
            _PARIS_OFFSETS[key] = offset
    return (naive - offset).replace(tzinfo=_UTC)


def parse_datetime(value: Any, endpoint: str, field: str) -> datetime | None:
    """Aware UTC datetime from every date form the API uses (quirk 5).

    * epoch seconds as int or digit string → UTC;
    * ``"Y-m-d H:i:s"`` (or ISO 8601 without offset) → Europe/Paris local time → UTC;
    * ISO 8601 with an offset → that offset → UTC;
    * ``None``, ``""`` and PHP's zero date ``"0000-00-00 00:00:00"`` → ``None``.
    """
    if type(value) is str and not value.startswith("0000"):
        try:
            fast = _paris_local_to_utc(value)
        except OverflowError:  # "0001-01-01 00:00:00" is before datetime.min in UTC
            raise PayloadError(f"date out of range: {value!r}", endpoint=endpoint, field=field) from None
        if fast is not None:
            return fast
    if value is None or value == "":
        return None
    if isinstance(value, bool):
        raise PayloadError(f"expected a date, got {value!r}", endpoint=endpoint, field=field)
    if isinstance(value, (int, Decimal)) or (isinstance(value, str) and value.isdigit()):
        try:
            return datetime.fromtimestamp(int(value), tz=timezone.utc)
        except (OverflowError, OSError, ValueError):
            raise PayloadError(f"epoch out of range: {value!r}", endpoint=endpoint, field=field) from None
    if not isinstance(value, str):
        raise PayloadError(f"expected a date, got {value!r}", endpoint=endpoint, field=field)
    if value.startswith("0000-00-00"):
        return None
    try:
        parsed = datetime.fromisoformat(value.strip())
    except ValueError:
        raise PayloadError(f"not a date: {value!r}", endpoint=endpoint, field=field) from None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=API_TIMEZONE)
    try:
        return parsed.astimezone(timezone.utc)
    except OverflowError:
        raise PayloadError(f"date out of range: {value!r}", endpoint=endpoint, field=field) from None


def _mapping(value: Any, endpoint: str, field: str) -> Mapping[str, Any]:
    if isinstance(value, Mapping):
        return value
    raise PayloadError(f"expected an object, got {type(value).__name__}", endpoint=endpoint, field=field)


def _list(payload: Mapping[str, Any], keys: Sequence[str], endpoint: str) -> list[Any]:
    value = _require(payload, keys, endpoint)
    if not isinstance(value, list):
        raise PayloadError(f"expected a list, got {type(value).__name__}", endpoint=endpoint, field=keys[0])
    return value
