"""Delivery statuses: ``/message-status``, ``/multi-status``, ``/bulk-status``, ``/bulk-status-by-tag``.

A list answer is read item by item; an item that cannot be read becomes an `Unreadable` in
``StatusItems.unreadable``, and the one-item ``/message-status`` raises `UnreadableItem` instead.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

from etl import phones
from etl.api.parse.envelope import error_text
from etl.api.parse.unreadable import Unreadable
from etl.api.parse.values import (
    _bool,
    _country,
    _currency,
    _first,
    _id_str,
    _int,
    _list,
    _mapping,
    _opt_amount,
    _opt_bool,
    _opt_int,
    _opt_str,
    _phone,
    _require,
    parse_datetime,
)
from etl.errors import PayloadError, UnreadableItem


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


# Final statuses (REFERENCE §4)
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
