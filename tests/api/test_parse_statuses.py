"""Status answers (`etl/api/parse/statuses.py`) by table: one row per documented quirk, one failing row per PayloadError."""

from __future__ import annotations

import json
from datetime import datetime, timezone
from decimal import Decimal
from typing import Any

import pytest

from etl.api import parse
from etl.api.parse import MessageStatus, StatusItem, Unreadable
from etl.errors import PayloadError, UnreadableItem


def loads(text: str) -> Any:
    return json.loads(text, parse_float=Decimal)


UTC = timezone.utc


# --------------------------------------------------------------------------------------------------
# /message-status (quirks 3, 4, 5, 6, 17, 20) and SEED-004
# --------------------------------------------------------------------------------------------------

SEED_004 = (
    '{ "success": true, "code": 200, "number": "0600000000", "messageId": "1111", "stopSms": false, '
    '"date": "2015-02-07 22:39:46", "statut": "Delivered", "cost": 0.045, "countryCode": "FR", "currency": "EUR" }'
)
GO_STATUS = (
    '{"success": true, "code": 200, "number": "+212620123456", "messageId": "2270142", "stopSms": false, '
    '"date": "1534615206", "statut": "Delivered", "cost": 0.045, "countryCode": "MA", "currency": "eur"}'
)


def _ms(**changes: Any) -> dict[str, Any]:
    base = loads(SEED_004)
    for key, value in changes.items():
        if value is ...:
            base.pop(key)
        else:
            base[key] = value
    return base


@pytest.mark.parametrize(
    ("payload", "check"),
    [
        (loads(SEED_004), dict(message_id="1111", phone_raw="0600000000", phone_e164="+33600000000",
                               status="Delivered", cost=Decimal("0.045"), currency="EUR", country="FR",
                               status_at=datetime(2015, 2, 7, 21, 39, 46, tzinfo=UTC), stop_sms=False, ok=True)),
        (loads(GO_STATUS), dict(message_id="2270142", phone_e164="+212620123456", currency="EUR",
                                status_at=datetime(2018, 8, 18, 18, 0, 6, tzinfo=UTC))),
        (_ms(statut=..., status="Waiting"), dict(status="Waiting")),
        (_ms(messageId=1111), dict(message_id="1111")),
        (_ms(stopSms="1"), dict(stop_sms=True)),
        (_ms(stopSms=0), dict(stop_sms=False)),
        (_ms(stopSms=..., stopSMS=True), dict(stop_sms=True)),
        (_ms(cost=...), dict(cost=None)),
        (_ms(cost=None), dict(cost=None)),
        (_ms(cost="0.045"), dict(cost=Decimal("0.045"))),
        (_ms(cost=0.045), dict(cost=Decimal("0.045"))),  # a float handed in still gives the exact decimal
        (_ms(number="not a phone"), dict(phone_raw="not a phone", phone_e164=None)),
        (_ms(number=..., phoneNumber="+33612345678"), dict(phone_e164="+33612345678")),
        (_ms(currency=None), dict(currency=None)),
        (_ms(cost=Decimal("0.0451237")), dict(cost=Decimal("0.0451237"))),  # 7 decimals: exact, not rounded
        (_ms(cost="0.04512370"), dict(cost=Decimal("0.0451237"))),
        (_ms(cost="0.0450000000000"), dict(cost=Decimal("0.045"))),  # trailing zeros are not precision
        (_ms(cost=0), dict(cost=Decimal(0))),
        (_ms(currency="eur", countryCode="fr"), dict(currency="EUR", country="FR")),
    ],
    ids=[
        "seed-004", "go-testdata-epoch-intl", "status-key", "id-int", "stop-string-1", "stop-int-0",
        "stopSMS-capital", "cost-absent", "cost-null", "cost-string", "cost-float", "phone-unparseable-kept",
        "phoneNumber-key", "currency-null", "cost-7-decimals", "cost-8-decimals-text", "cost-trailing-zeros",
        "cost-zero", "codes-lower-case",
    ],
)
def test_parse_message_status_quirks(payload: dict[str, Any], check: dict[str, Any]) -> None:
    result = parse.parse_message_status(payload)
    assert isinstance(result, MessageStatus)
    for key, value in check.items():
        assert getattr(result, key) == value, key


@pytest.mark.parametrize(
    ("payload", "field"),
    [
        (_ms(messageId=...), "messageId"),
        (_ms(messageId=True), "messageId"),
        (_ms(number=...), "phoneNumber"),
        (_ms(number=600000000), "phoneNumber"),
        (_ms(stopSms="maybe"), "stopSms"),
        (_ms(date="07/02/2015"), "date"),
        (_ms(cost="n/a"), "cost"),
        (_ms(cost=[1]), "cost"),
        (_ms(currency="EURO"), "currency"),
        (_ms(statut=3), "status"),
        (_ms(cost=Decimal("-0.045")), "cost"),
        (_ms(cost="NaN"), "cost"),
        (_ms(cost=float("nan")), "cost"),
        (_ms(cost="Infinity"), "cost"),
        (_ms(cost=Decimal("1e999999")), "cost"),  # finite as a Decimal, Inf as a float (SQLite)
        (_ms(cost=Decimal("1234567890123")), "cost"),  # 13 integer digits: beyond Money
        (_ms(cost=Decimal("0.045123456")), "cost"),  # 9 decimals: would be rounded
        (_ms(currency="E1R"), "currency"),
        (_ms(currency="€"), "currency"),
        (_ms(countryCode="FRA"), "countryCode"),
        (_ms(countryCode="F"), "countryCode"),
        (_ms(countryCode=33), "countryCode"),
    ],
    ids=["no-id", "id-bool", "no-number", "number-int", "stop-garbage", "date-dmy", "cost-text", "cost-list",
         "currency-4-letters", "status-int", "cost-negative", "cost-nan-text", "cost-nan-float", "cost-inf",
         "cost-1e999999", "cost-13-digits", "cost-9-decimals", "currency-digit", "currency-symbol",
         "country-3-letters", "country-1-letter", "country-int"],
)
def test_parse_message_status_rejects(payload: dict[str, Any], field: str) -> None:
    with pytest.raises(UnreadableItem) as info:
        parse.parse_message_status(payload)
    assert info.value.field == field and info.value.endpoint == "message-status"
    assert info.value.item is payload, "the answer as received, for the quarantine"
    assert isinstance(info.value, PayloadError)


def test_unreadable_message_status_names_the_recipient_it_belongs_to() -> None:
    with pytest.raises(UnreadableItem) as info:
        parse.parse_message_status(_ms(currency="EURO"))
    assert info.value.ref == "1111/+33600000000"


# --------------------------------------------------------------------------------------------------
# /multi-status (quirks 6, 12), /bulk-status (quirks 4, 6), /bulk-status-by-tag (quirk 23)
# --------------------------------------------------------------------------------------------------

MULTI = """{"success": true, "code": 200, "StatutResponse_List": [
  {"success": true, "code": 200, "phoneNumber": "+33612345678", "messageId": 307, "status": "Delivered",
   "date": "1517934416", "stopSms": "0", "isSpam": "0"},
  {"success": false, "code": 4, "phoneNumber": "+33612345679", "messageId": 307, "status": "Numéro introuvable"},
  {"success": true, "code": 200, "phoneNumber": "+33612345670", "messageId": "308", "status": "Waiting",
   "date": "1517934416", "stopSms": "1"}
]}"""


def test_multi_status_per_item_failure_is_a_flag_never_a_status() -> None:
    items = parse.parse_multi_status(loads(MULTI))
    assert [i.message_id for i in items] == ["307", "307", "308"]
    ok, missing, waiting = items
    assert ok.ok and ok.status == "Delivered" and ok.stop_sms is False and ok.final
    assert ok.status_at == datetime(2018, 2, 6, 16, 26, 56, tzinfo=UTC)
    assert not missing.ok and missing.not_found and missing.code == 4
    assert missing.status is None and missing.error == "Numéro introuvable" and not missing.final
    assert waiting.ok and waiting.status == "Waiting" and waiting.stop_sms is True and not waiting.final
    assert all(type(i) is StatusItem for i in items)


BULK = """{"success": true, "code": 200, "message_id": "111", "StatutResponse_List": [
  {"phoneNumber": "+33612345678", "status": "Delivered", "stopSMS": false, "date": "1517934416"},
  {"phoneNumber": "0612345679", "status": "Not delivered", "stopSMS": true, "date": "1517934416"}]}"""


def test_bulk_status_items_take_the_top_level_message_id() -> None:
    items = parse.parse_bulk_status(loads(BULK))
    assert [(i.message_id, i.phone_e164, i.status, i.stop_sms) for i in items] == [
        ("111", "+33612345678", "Delivered", False),
        ("111", "+33612345679", "Not delivered", True),
    ]


@pytest.mark.parametrize(
    ("payload", "field"),
    [
        ({"success": True, "code": 200, "message_id": "1"}, "StatutResponse_List"),
        ({"success": True, "code": 200, "message_id": "1", "StatutResponse_List": {}}, "StatutResponse_List"),
    ],
    ids=["list-missing", "list-is-object"],
)
def test_bulk_status_without_a_list_rejects_the_answer(payload: dict[str, Any], field: str) -> None:
    with pytest.raises(PayloadError) as info:
        parse.parse_bulk_status(payload)
    assert info.value.field == field


GOOD_ITEM = {"phoneNumber": "+33612345678", "messageId": "307", "status": "Waiting", "date": "1517934416"}


@pytest.mark.parametrize(
    ("bad", "reason", "ref"),
    [
        ("x", "StatutResponse_List[]", None),
        ([GOOD_ITEM], "StatutResponse_List[]", None),
        ({"phoneNumber": "+33612345679"}, "messageId", "?/+33612345679"),
        ({**GOOD_ITEM, "phoneNumber": "0612345679", "date": "04/12/2026 07:00"}, "date", "307/+33612345679"),
        ({**GOOD_ITEM, "phoneNumber": "+33612345679", "stopSms": "yes"}, "stopSms", "307/+33612345679"),
        ({**GOOD_ITEM, "phoneNumber": 612345679}, "phoneNumber", "307/?"),
        ({**GOOD_ITEM, "phoneNumber": "+33612345679", "status": ["Delivered"]}, "status", "307/+33612345679"),
    ],
    ids=["item-not-object", "item-is-list", "no-message-id-anywhere", "date-dmy", "stop-garbage", "number-int",
         "status-list"],
)
def test_unreadable_status_item_is_set_aside_and_the_rest_of_the_answer_read(bad: Any, reason: str, ref: str | None) -> None:
    payload = {"success": True, "code": 200, "StatutResponse_List": [GOOD_ITEM, bad, {**GOOD_ITEM, "messageId": 308}]}
    items = parse.parse_multi_status(payload)
    assert [(i.message_id, i.status) for i in items] == [("307", "Waiting"), ("308", "Waiting")]
    [unreadable] = items.unreadable
    assert isinstance(unreadable, Unreadable) and unreadable.endpoint == "multi-status"
    assert unreadable.item == bad and reason in unreadable.reason and unreadable.ref == ref


def test_unreadable_bulk_status_item_takes_the_top_level_message_id_for_its_ref() -> None:
    payload = {"success": True, "code": 200, "message_id": "111", "StatutResponse_List": [
        {"phoneNumber": "+33612345678", "status": "Delivered", "date": "04/12/2026 07:00"}]}
    items = parse.parse_bulk_status(payload)
    assert list(items) == [] and [u.ref for u in items.unreadable] == ["111/+33612345678"]


def test_status_page_reads_current_page_and_total_and_keeps_missing_ids_empty() -> None:
    payload = loads(BULK)
    payload.update(currentPage=2, total="1200")
    current, total, items = parse.parse_status_page(payload)
    assert (current, total, len(items)) == (2, 1200, 2)


# --------------------------------------------------------------------------------------------------
# Final statuses (REFERENCE §4)
# --------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("status", "final"),
    [("Delivered", True), ("Not delivered", True), ("ko", True), ("KO", True), ("Waiting", False),
     ("delivered", True), (" Delivered ", True), ("DELIVRD", True), ("UNDELIV", True), ("EXPIRED", True),
     ("REJECTD", True), ("PENDING", False), ("ACCEPTD", False), ("ENROUTE", False), ("UNKNOWN", False),
     ("Numéro introuvable", False), ("something new", False)],
    ids=lambda v: str(v),
)
def test_is_final(status: str, final: bool) -> None:
    assert parse.is_final(status) is final


def test_status_page_items_without_any_message_id_get_an_empty_one() -> None:
    payload = {"success": True, "code": 200, "currentPage": 1, "total": 1,
               "StatutResponse_List": [{"phoneNumber": "+33612345678", "status": "Waiting", "stopSMS": False}]}
    _, _, items = parse.parse_status_page(payload)
    assert items[0].message_id == "" and items[0].status == "Waiting"
