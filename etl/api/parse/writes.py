"""Writes: ``/send``, ``/stop-sms/add``, ``/stop-sms/delete``, ``/message-cancel``."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

from etl.api.parse.values import _currency, _first, _id_str, _int, _opt_amount, _opt_int, _require, parse_datetime


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
