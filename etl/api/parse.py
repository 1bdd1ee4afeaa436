"""SMS Partner answers → frozen records. Pure: no I/O, no clock, no `requests`.

Every function takes the *decoded* JSON (``json.loads(..., parse_float=Decimal)`` or an ``ijson`` item)
and returns a frozen dataclass, tolerating each documented quirk (numbers refer to
``shared/api/REFERENCE.md`` §6). Anything that does not have the documented shape raises
`PayloadError` naming the endpoint and the field; it is never silently dropped or guessed.

Decisions taken here, and why:

* **Time zone.** The API writes local times as ``"Y-m-d H:i:s"`` with no zone (quirk 5). The provider
  is French, its servers and dashboard are in France and PHP's ``date()`` formats in the server's
  zone, so we read those as **Europe/Paris** (DST-aware, first occurrence in the autumn overlap) and
  convert to UTC. Epoch seconds (string or int) are unambiguous UTC. Every datetime returned is
  aware and in UTC.
* **Money.** JSON is decoded with ``parse_float=Decimal`` so ``0.045`` never passes through a binary
  float; a float handed in anyway goes through ``Decimal(str(x))``. Strings (``"10225.119"``,
  quirk 20) are parsed as decimals. An amount is taken exactly or not at all: NaN, infinities,
  a negative cost, more than `MONEY_DECIMALS` decimals or `MONEY_INTEGER_DIGITS` integer digits
  (what the database stores exactly, ``etl.db.types.Money``) are refused, never rounded.
* **Codes.** A currency is three letters A-Z (ISO 4217), a country two (ISO 3166-1 alpha-2);
  anything else is refused, never cut to fit.
* **Item by item.** A list answer is read one item at a time: an item that cannot be read becomes
  an `Unreadable` beside the good ones (`StatusItems.unreadable`), which the job quarantines
  (``etl.quarantine``); it never fails its answer. A one-item answer (``/message-status``) that
  cannot be read raises `UnreadableItem`, which carries the item for the quarantine.
* **Ids.** Message ids are always ``str`` (int here, str there, UUID for long numbers: quirk 6);
  stop ids are always ``int``; rental ids are ``str`` (the example shows them truncated, quirk 18).
* **Phones.** The raw text is kept; ``phone_e164`` is `etl.phones.canonicalize` (any parseable number,
  ``None`` only when unparseable) so a stop is never dropped for a number the metadata dislikes.
* **Error codes are per endpoint** (quirk 15): 1 and 10 are always `AuthError`; the "not found"
  codes depend on the endpoint (`NOT_FOUND_CODES`); anything else is `ApiRejected`.
* **Per-item failures** (quirk 12): a multi-status item ``{success: false, code: 4, status:
  "Numéro introuvable"}`` becomes ``ok=False, status=None, error="Numéro introuvable"``; the text
  never becomes a delivery status.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from decimal import Decimal, InvalidOperation
from typing import Any
from zoneinfo import ZoneInfo

from etl import phones
from etl.errors import ApiRejected, AuthError, NotFound, PayloadError, UnreadableItem

__all__ = [
    "API_TIMEZONE",
    "AUTH_CODES",
    "MONEY_DECIMALS",
    "MONEY_INTEGER_DIGITS",
    "NOT_FOUND_CODES",
    "Account",
    "MessageStatus",
    "MonthlyCost",
    "MonthlyCosts",
    "RentalNumber",
    "RentalStatus",
    "SendResult",
    "StatusItem",
    "StatusItems",
    "Stop",
    "Unreadable",
    "WriteResult",
    "check_envelope",
    "error_text",
    "is_final",
    "parse_account",
    "parse_bulk_status",
    "parse_cost_resume",
    "parse_datetime",
    "parse_message_status",
    "parse_multi_status",
    "parse_rental_item",
    "parse_rental_status",
    "parse_send",
    "parse_status_page",
    "parse_stop_item",
    "parse_stop_list",
    "parse_rental_file",
    "parse_write",
]

API_TIMEZONE = ZoneInfo("Europe/Paris")
"""The zone we read zone-less ``"Y-m-d H:i:s"`` API times in (see the module docstring)."""

# --------------------------------------------------------------------------------------------------
# Records (field names are a contract with the job authors)
# --------------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Stop:
    """One entry of ``/stop-sms/list``."""

    stop_id: int
    phone_raw: str
    phone_e164: str | None
    created_at: datetime | None


@dataclass(frozen=True, slots=True)
class StatusItem:
    """One (message, recipient) status from multi-status, bulk-status or bulk-status-by-tag.

    ``ok`` is the item's own success flag (quirk 12). When ``ok`` is false, ``status`` is ``None``
    and ``error`` holds the provider's text (e.g. ``"Numéro introuvable"`` with ``code`` 4).
    """

    message_id: str
    phone_raw: str
    phone_e164: str | None
    status: str | None
    status_at: datetime | None
    stop_sms: bool | None
    ok: bool
    code: int
    error: str | None

    @property
    def not_found(self) -> bool:
        """The provider does not know this (message, number) pair (item code 4)."""
        return not self.ok and self.code == 4

    @property
    def final(self) -> bool:
        """True when the status will not change any more (see `is_final`)."""
        return self.ok and self.status is not None and is_final(self.status)


@dataclass(frozen=True, slots=True)
class Unreadable:
    """An item of a list answer that could not be read: quarantined by the job, never fatal to its answer.

    ``message_id`` and ``phone`` are what could still be read of the item's key (``phone`` in E.164
    when it parses, else as given), so the job can move that pair's polling on.
    """

    endpoint: str
    #: The item as decoded from the answer (an object, or whatever stood in its place).
    item: Any
    reason: str
    message_id: str | None = None
    phone: str | None = None

    @property
    def ref(self) -> str | None:
        """``message_id/phone`` (``rejected_items.ref`` of kind ``recipient``), ``None`` when neither is readable."""
        if self.message_id is None and self.phone is None:
            return None
        return f"{self.message_id or '?'}/{self.phone or '?'}"


class StatusItems(list[StatusItem]):
    """The readable items of a status answer, in order, and the ones that were not (``unreadable``).

    A list, so callers that only read statuses iterate it as before; the statuses job also reads
    ``unreadable`` to quarantine those items and move their pairs' polling on.
    """

    def __init__(self, items: Sequence[StatusItem] = (), unreadable: Sequence[Unreadable] = ()) -> None:
        super().__init__(items)
        self.unreadable: tuple[Unreadable, ...] = tuple(unreadable)


@dataclass(frozen=True, slots=True)
class MessageStatus(StatusItem):
    """``/message-status`` for one (message, number): a `StatusItem` plus cost and country."""

    cost: Decimal | None
    currency: str | None
    country: str | None


@dataclass(frozen=True, slots=True)
class RentalNumber:
    """One contact of a rental file (``/location/file/download`` ``datas[]``)."""

    rental_id: str
    phone_raw: str
    phone_e164: str | None
    stop: bool


@dataclass(frozen=True, slots=True)
class RentalStatus:
    """``/location/status``: free text, the numeric state when the API gives one, the file's count.

    States (REFERENCE §3.13): 0 requested, 1 generating, 2 ready, 3 failed, 5 already downloaded.
    """

    token: str
    status_text: str | None
    state: int | None
    count: int | None


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


@dataclass(frozen=True, slots=True)
class MonthlyCost:
    """One month of ``/statistics/cost-resume``."""

    year: int
    month: int
    cost: Decimal
    nb_send: int


class MonthlyCosts(list[MonthlyCost]):
    """The readable months of ``/statistics/cost-resume``, and the ones that were not (``unreadable``)."""

    def __init__(self, items: Sequence[MonthlyCost] = (), unreadable: Sequence[Unreadable] = ()) -> None:
        super().__init__(items)
        self.unreadable: tuple[Unreadable, ...] = tuple(unreadable)


@dataclass(frozen=True, slots=True)
class SendResult:
    """``/send``: one message id covers every recipient of the request."""

    message_id: str
    nb_sms: int | None
    cost: Decimal | None
    currency: str | None
    scheduled_at: datetime | None


@dataclass(frozen=True, slots=True)
class WriteResult:
    """``/stop-sms/add``, ``/stop-sms/delete``, ``/message-cancel``: the code, text and new stop id."""

    code: int
    message: str | None
    stop_id: int | None


# --------------------------------------------------------------------------------------------------
# Final statuses (REFERENCE §4)
# --------------------------------------------------------------------------------------------------

_FINAL = frozenset({"delivered", "not delivered", "ko", "delivrd", "undeliv", "expired", "rejectd"})
_NOT_FINAL = frozenset({"waiting", "pending", "acceptd", "enroute", "unknown"})


def is_final(status: str) -> bool:
    """Will this delivery status never change again?

    ``Delivered``, ``Not delivered`` and ``ko`` are final (REFERENCE §4, case-insensitive);
    ``Waiting`` is not. Operator DLR codes: ``DELIVRD``, ``UNDELIV``, ``EXPIRED``, ``REJECTD`` are
    final (DOC-err calls EXPIRED and REJECTD "final status"); ``PENDING``, ``ACCEPTD``, ``ENROUTE``
    and ``UNKNOWN`` are not. **Any other text is treated as not final**: polling a little longer
    is cheap, freezing a wrong status is not, and the statuses job stops polling after the 48 h
    validity window anyway.
    """
    return status.strip().lower() in _FINAL


# --------------------------------------------------------------------------------------------------
# Envelope and error codes (quirks 11, 13, 14, 15, 19)
# --------------------------------------------------------------------------------------------------

AUTH_CODES = frozenset({1, 10})
"""1 = key missing, 10 = key invalid: the same on every endpoint."""

NOT_FOUND_CODES: Mapping[str, frozenset[int]] = {
    "message-status": frozenset({4}),
    "multi-status": frozenset({4}),
    "bulk-status": frozenset({4}),
    "bulk-status-by-tag": frozenset({4}),
    "message-cancel": frozenset({4}),
    "stop-sms/delete": frozenset({4}),
    "location/status": frozenset({32}),
    "location/file/download": frozenset({32, 33}),
}
"""Per endpoint, the codes meaning "no such resource" (quirk 15)."""

_NO_CODE_ENDPOINTS = frozenset({"location/status", "location/file/download"})
"""Endpoints whose success answer carries no ``code`` (quirk 19)."""


def error_text(payload: Mapping[str, Any]) -> str:
    """The provider's error text: ``message``, ``error`` or ``errors[{elementId, message}]`` (quirk 13)."""
    parts: list[str] = []
    for key in ("message", "error"):
        value = payload.get(key)
        if isinstance(value, str) and value:
            parts.append(value)
    errors = payload.get("errors")
    if isinstance(errors, list):
        for item in errors:
            if isinstance(item, Mapping):
                element, text = item.get("elementId"), item.get("message")
                parts.append(f"{element}: {text}" if element else str(text))
            elif isinstance(item, str):
                parts.append(item)
    return "; ".join(parts) if parts else "(no message)"


def _as_bool_flag(value: Any) -> bool | None:
    if isinstance(value, bool):
        return value
    if isinstance(value, int) and value in (0, 1):
        return bool(value)
    if isinstance(value, str) and value.strip().lower() in ("0", "1", "true", "false"):
        return value.strip().lower() in ("1", "true")
    return None


def check_envelope(endpoint: str, payload: Any) -> Mapping[str, Any]:
    """Return the payload when it is a success; raise the mapped error otherwise.

    Success is ``success == true and code == 200`` (quirk 11); the rental endpoints may omit
    ``code`` (quirk 19). The HTTP status is not looked at here: the caller parsed the body whatever
    the status was.
    """
    if not isinstance(payload, Mapping):
        raise PayloadError(f"expected a JSON object, got {type(payload).__name__}", endpoint=endpoint, field="")
    success = _as_bool_flag(payload.get("success"))
    raw_code = payload.get("code")
    code: int | None
    if raw_code is None:
        code = None
    else:
        code = _opt_int(raw_code, endpoint, "code")
    if success is None:
        if "success" in payload:
            raise PayloadError(f"not a boolean: {payload.get('success')!r}", endpoint=endpoint, field="success")
        if code is None:
            raise PayloadError("neither 'success' nor 'code' present", endpoint=endpoint, field="success")
        success = code == 200
    if success and code == 200:
        return payload
    if success and code is None:
        if endpoint in _NO_CODE_ENDPOINTS:
            return payload
        raise PayloadError("success without a code", endpoint=endpoint, field="code")
    if code is None:
        raise PayloadError("failure without a code", endpoint=endpoint, field="code")
    if success and code != 200:
        # success:true with an error code: the docs never show it; trust the code.
        pass
    message = error_text(payload)
    if code in AUTH_CODES:
        raise AuthError(code, message, endpoint=endpoint)
    if code in NOT_FOUND_CODES.get(endpoint, frozenset()):
        raise NotFound(code, message, endpoint=endpoint)
    raise ApiRejected(code, message, endpoint=endpoint)


# --------------------------------------------------------------------------------------------------
# Scalar helpers: each names the endpoint and field in its PayloadError
# --------------------------------------------------------------------------------------------------

_INT_TEXT = re.compile(r"[+-]?\d+")
_CURRENCY = re.compile(r"[A-Z]{3}")
_COUNTRY = re.compile(r"[A-Z]{2}")

MONEY_DECIMALS = 8
"""Decimals an amount may have: the scale of ``etl.db.types.Money`` (a test keeps the two equal)."""
MONEY_INTEGER_DIGITS = 12
"""Integer digits an amount may have: ``Money``'s precision (20) minus its scale."""


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


# --------------------------------------------------------------------------------------------------
# One parse function per answer
# --------------------------------------------------------------------------------------------------


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


def parse_stop_item(item: Any, endpoint: str = "stop-sms/list") -> Stop:
    """One ``data[]`` entry: ``{id, phoneNumber, createdAt}``. Hot path: 1,000,000 calls per sync."""
    if not isinstance(item, Mapping):
        raise PayloadError(f"expected an object, got {type(item).__name__}", endpoint=endpoint, field="data[]")
    raw_id = item.get("id")
    stop_id = raw_id if type(raw_id) is int else _int(raw_id, endpoint, "data[].id")
    raw = item.get("phoneNumber")
    if type(raw) is not str:
        raw = _str(raw, endpoint, "data[].phoneNumber")
    return Stop(
        stop_id=stop_id,
        phone_raw=raw,
        phone_e164=phones.canonicalize(raw),
        created_at=parse_datetime(item.get("createdAt"), endpoint, "data[].createdAt"),
    )


def parse_stop_list(payload: Mapping[str, Any], endpoint: str = "stop-sms/list") -> list[Stop]:
    """Whole ``/stop-sms/list`` answer (small lists; the client streams big ones with ijson)."""
    return [parse_stop_item(item, endpoint) for item in _list(payload, ("data",), endpoint)]


def _status_fields(
    item: Mapping[str, Any], endpoint: str, default_message_id: str | None
) -> dict[str, Any]:
    """Fields shared by every status answer (quirks 3, 4, 5, 6, 7, 12)."""
    raw_mid = _first(item, ("messageId", "message_id"))
    if raw_mid is None:
        if default_message_id is None:
            raise PayloadError("missing", endpoint=endpoint, field="messageId")
        message_id = default_message_id
    else:
        message_id = _id_str(raw_mid, endpoint, "messageId")
    phone_raw, phone_e164 = _phone(
        _require(item, ("phoneNumber", "number", "phone"), endpoint), endpoint, "phoneNumber"
    )
    raw_code = item.get("code")
    code = 200 if raw_code is None else _int(raw_code, endpoint, "code")
    success = item.get("success")
    ok = (code == 200) if success is None else _bool(success, endpoint, "success") and code == 200
    text = _first(item, ("statut", "status"))
    text = _opt_str(text, endpoint, "status")
    if ok:
        status, error = text, None
    else:
        # Quirk 12: "Numéro introuvable" is an error text, never a delivery status.
        status, error = None, text or error_text(item)
    return {
        "message_id": message_id,
        "phone_raw": phone_raw,
        "phone_e164": phone_e164,
        "status": status,
        "status_at": parse_datetime(item.get("date"), endpoint, "date"),
        "stop_sms": _opt_bool(_first(item, ("stopSms", "stopSMS")), endpoint, "stopSms"),
        "ok": ok,
        "code": code,
        "error": error,
    }


def parse_message_status(payload: Mapping[str, Any], endpoint: str = "message-status") -> MessageStatus:
    """``/message-status``: ``statut`` (quirk 3), ``number`` national or international (quirk 17).

    The answer is one item: when any field cannot be read (``currency: "EURO"``, a negative cost,
    ``countryCode: "FRA"``) it raises `UnreadableItem` carrying the answer, for the quarantine.
    """
    try:
        fields = _status_fields(payload, endpoint, None)
        return MessageStatus(
            **fields,
            cost=_opt_amount(payload.get("cost"), endpoint, "cost"),
            currency=_currency(payload.get("currency"), endpoint, "currency"),
            country=_country(payload.get("countryCode"), endpoint, "countryCode"),
        )
    except PayloadError as exc:
        message_id, phone = _loose_key(payload, None)
        ref = Unreadable(endpoint, payload, str(exc), message_id, phone).ref
        error = UnreadableItem(str(exc), item=payload, ref=ref)
        error.endpoint, error.field = endpoint, exc.field
        raise error from None


def _loose_key(item: Any, default_message_id: str | None) -> tuple[str | None, str | None]:
    """What can still be read of an unreadable item's (message id, number): for its quarantine ref."""
    if not isinstance(item, Mapping):
        return None, None
    raw_mid = _first(item, ("messageId", "message_id"))
    message_id = str(raw_mid).strip() if isinstance(raw_mid, (int, str)) and not isinstance(raw_mid, bool) else default_message_id
    raw_phone = _first(item, ("phoneNumber", "number", "phone"))
    phone = (phones.canonicalize(raw_phone) or raw_phone.strip()[:32]) if isinstance(raw_phone, str) else None
    return message_id or None, phone or None


def _status_items(payload: Mapping[str, Any], endpoint: str, default_message_id: str | None) -> StatusItems:
    """``StatutResponse_List[]`` item by item: the readable ones, and an `Unreadable` for each other."""
    good: list[StatusItem] = []
    bad: list[Unreadable] = []
    for raw in _list(payload, ("StatutResponse_List",), endpoint):
        try:
            good.append(StatusItem(**_status_fields(_mapping(raw, endpoint, "StatutResponse_List[]"), endpoint, default_message_id)))
        except PayloadError as exc:
            bad.append(Unreadable(endpoint, raw, str(exc), *_loose_key(raw, default_message_id)))
    return StatusItems(good, bad)


def parse_multi_status(payload: Mapping[str, Any], endpoint: str = "multi-status") -> StatusItems:
    """``/multi-status``: ``StatutResponse_List[]`` whose items carry their own success/code (quirk 12)."""
    return _status_items(payload, endpoint, None)


def parse_bulk_status(payload: Mapping[str, Any], endpoint: str = "bulk-status") -> StatusItems:
    """``/bulk-status``: top-level ``message_id`` (string), items without one, ``stopSMS`` (quirk 4)."""
    top = _first(payload, ("message_id", "messageId"))
    default = None if top is None else _id_str(top, endpoint, "message_id")
    return _status_items(payload, endpoint, default)


def parse_status_page(
    payload: Mapping[str, Any], endpoint: str = "bulk-status-by-tag"
) -> tuple[int | None, int | None, StatusItems]:
    """One page of ``/bulk-status-by-tag``: ``(currentPage, total, items)`` (quirk 23).

    ``total`` is returned as given: it may count items or pages (undocumented).
    """
    current = _opt_int(payload.get("currentPage"), endpoint, "currentPage")
    total = _opt_int(payload.get("total"), endpoint, "total")
    top = _first(payload, ("message_id", "messageId"))
    # Items "as in 3.6" carry no message id and neither does the page (DOC-st4): then
    # message_id is "" (the pair is (tag, phone)); the simulator's tag_items_message_id adds one.
    default = "" if top is None else _id_str(top, endpoint, "message_id")
    return current, total, _status_items(payload, endpoint, default)


_MONTHS = {
    name: number
    for number, names in enumerate(
        [
            ("january", "janvier"), ("february", "février", "fevrier"), ("march", "mars"), ("april", "avril"),
            ("may", "mai"), ("june", "juin"), ("july", "juillet"), ("august", "août", "aout"),
            ("september", "septembre"), ("october", "octobre"), ("november", "novembre"),
            ("december", "décembre", "decembre"),
        ],
        start=1,
    )
    for name in names
}


def parse_cost_resume(payload: Mapping[str, Any], endpoint: str = "statistics/cost-resume") -> MonthlyCosts:
    """``datas[]``: ``year`` and ``m`` as strings, ``cost`` and ``nb_send`` as strings (quirk 20).

    Month by month: a month that cannot be read (a cost that is not an exact amount, no month number)
    is an `Unreadable` in ``unreadable``, never a guess and never fatal to the other months.
    """
    good: list[MonthlyCost] = []
    bad: list[Unreadable] = []
    for index, raw in enumerate(_list(payload, ("datas", "data"), endpoint)):
        try:
            good.append(_monthly_cost(_mapping(raw, endpoint, f"datas[{index}]"), endpoint))
        except PayloadError as exc:
            bad.append(Unreadable(endpoint, raw, str(exc)))
    return MonthlyCosts(good, bad)


def _monthly_cost(item: Mapping[str, Any], endpoint: str) -> MonthlyCost:
    year = _int(_require(item, ("year",), endpoint), endpoint, "datas[].year")
    if item.get("m") is not None:
        month = _int(item["m"], endpoint, "datas[].m")
    else:
        name = str(item.get("month", "")).strip().lower()
        if name not in _MONTHS:
            raise PayloadError(f"no month number: {item.get('month')!r}", endpoint=endpoint, field="datas[].m")
        month = _MONTHS[name]
    if not 1 <= month <= 12:
        raise PayloadError(f"month out of range: {month}", endpoint=endpoint, field="datas[].m")
    return MonthlyCost(
        year=year,
        month=month,
        cost=_amount(_require(item, ("cost",), endpoint), endpoint, "datas[].cost"),
        nb_send=_int(_require(item, ("nb_send", "nbSend"), endpoint), endpoint, "datas[].nb_send"),
    )


def parse_send(payload: Mapping[str, Any], endpoint: str = "send") -> SendResult:
    """``/send``: ``message_id`` int (quirk 6), ``nb_sms``/``nbSMS`` (quirk 7), cost float."""
    return SendResult(
        message_id=_id_str(_require(payload, ("message_id", "messageId"), endpoint), endpoint, "message_id"),
        nb_sms=_opt_int(_first(payload, ("nb_sms", "nbSMS", "nbSms")), endpoint, "nb_sms"),
        cost=_opt_amount(payload.get("cost"), endpoint, "cost"),
        currency=_currency(payload.get("currency"), endpoint, "currency"),
        scheduled_at=parse_datetime(payload.get("scheduledDeliveryDate"), endpoint, "scheduledDeliveryDate"),
    )


def parse_write(payload: Mapping[str, Any], endpoint: str) -> WriteResult:
    """stop-sms/add (``stopId``), stop-sms/delete, message-cancel (``message``)."""
    code = payload.get("code")
    message = payload.get("message")
    return WriteResult(
        code=200 if code is None else _int(code, endpoint, "code"),
        message=message if isinstance(message, str) else None,
        stop_id=_opt_int(_first(payload, ("stopId", "stop_id", "id")), endpoint, "stopId"),
    )


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
    return RentalStatus(token=token, status_text=text, state=state, count=count)


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
