"""Writes and sends (`etl/api/parse/writes.py`) by table."""

from __future__ import annotations

import json
from datetime import datetime, timezone
from decimal import Decimal
from typing import Any

import pytest

from etl.api import parse
from etl.errors import PayloadError


def loads(text: str) -> Any:
    return json.loads(text, parse_float=Decimal)


UTC = timezone.utc

# --------------------------------------------------------------------------------------------------
# Writes (quirks 1, 2, 18)
# --------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("endpoint", "payload", "expected"),
    [
        ("stop-sms/add", {"success": True, "code": 200, "stopId": 300}, parse.WriteResult(200, None, 300)),
        ("stop-sms/add", {"success": True, "code": 200, "stopId": "300"}, parse.WriteResult(200, None, 300)),
        ("stop-sms/delete", {"success": True, "code": 200}, parse.WriteResult(200, None, None)),
        ("message-cancel", {"success": True, "code": 200, "message": "L'envoi du SMS a été annulé."},
         parse.WriteResult(200, "L'envoi du SMS a été annulé.", None)),
    ],
    ids=["add-int-id", "add-str-id", "delete", "cancel-seed-002"],
)
def test_parse_write(endpoint: str, payload: dict[str, Any], expected: parse.WriteResult) -> None:
    assert parse.parse_write(payload, endpoint) == expected


def test_parse_write_rejects_garbage_stop_id() -> None:
    with pytest.raises(PayloadError) as info:
        parse.parse_write({"success": True, "code": 200, "stopId": "n/a"}, "stop-sms/add")
    assert info.value.field == "stopId"


# --------------------------------------------------------------------------------------------------
# /send (quirks 6, 7, 20)
# --------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("payload", "expected"),
    [
        (loads('{"success":true,"code":200,"message_id":2270142,"nb_sms":1,"cost":0.045,"currency":"EUR",'
               '"scheduledDeliveryDate":"2018-08-18 20:00:00"}'),
         parse.SendResult("2270142", 1, Decimal("0.045"), "EUR", datetime(2018, 8, 18, 18, 0, tzinfo=UTC))),
        ({"success": True, "code": 200, "message_id": "307", "nbSMS": "2", "cost": "0.090", "currency": "EUR"},
         parse.SendResult("307", 2, Decimal("0.090"), "EUR", None)),
    ],
    ids=["go-testdata", "strings-nbSMS"],
)
def test_parse_send(payload: dict[str, Any], expected: parse.SendResult) -> None:
    assert parse.parse_send(payload) == expected


def test_parse_send_rejects_missing_id() -> None:
    with pytest.raises(PayloadError) as info:
        parse.parse_send({"success": True, "code": 200, "cost": 1})
    assert info.value.field == "message_id" and info.value.endpoint == "send"
