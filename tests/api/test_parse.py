"""Parse functions by table: one row per documented quirk, one failing row per PayloadError."""

from __future__ import annotations

import json
from datetime import datetime, timezone
from decimal import Decimal
from typing import Any

import pytest

from etl.api import parse
from etl.api.parse import MessageStatus, StatusItem, Stop, Unreadable
from etl.db.types import MONEY_SCALE, Money
from etl.errors import ApiRejected, AuthError, NotFound, PayloadError, UnreadableItem


def loads(text: str) -> Any:
    return json.loads(text, parse_float=Decimal)


UTC = timezone.utc

# --------------------------------------------------------------------------------------------------
# Dates (quirk 5)
# --------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("2015-02-07 22:39:46", datetime(2015, 2, 7, 21, 39, 46, tzinfo=UTC)),  # Paris winter, UTC+1
        ("2015-07-20 10:19:45", datetime(2015, 7, 20, 8, 19, 45, tzinfo=UTC)),  # Paris summer, UTC+2
        ("1534615206", datetime(2018, 8, 18, 18, 0, 6, tzinfo=UTC)),  # epoch string (GO)
        (1633039200, datetime(2021, 9, 30, 22, 0, tzinfo=UTC)),  # epoch int (cost-resume)
        ("2021-10-31 02:30:00", datetime(2021, 10, 31, 0, 30, tzinfo=UTC)),  # DST overlap: first occurrence
        ("2015-07-20T10:19:45+00:00", datetime(2015, 7, 20, 10, 19, 45, tzinfo=UTC)),  # explicit offset wins
        (None, None),
        ("", None),
        ("0000-00-00 00:00:00", None),  # PHP zero date
    ],
    ids=["ymd-winter", "ymd-summer", "epoch-str", "epoch-int", "dst-overlap", "iso-offset", "null", "empty", "zero-date"],
)
def test_parse_datetime_accepts_every_documented_form(value: Any, expected: datetime | None) -> None:
    result = parse.parse_datetime(value, "message-status", "date")
    assert result == expected
    if result is not None:
        assert result.tzinfo is UTC


@pytest.mark.parametrize("value", ["07/02/2015", "yesterday", True, [1]], ids=["dmy", "text", "bool", "list"])
def test_parse_datetime_rejects_garbage_naming_the_field(value: Any) -> None:
    with pytest.raises(PayloadError) as info:
        parse.parse_datetime(value, "message-status", "date")
    assert info.value.field == "date" and info.value.endpoint == "message-status"


# --------------------------------------------------------------------------------------------------
# Envelope and error codes (quirks 11, 13, 14, 15, 19)
# --------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("endpoint", "payload", "exc", "code", "text"),
    [
        ("me", {"success": False, "code": 10, "message": "Clé API incorrecte"}, AuthError, 10, "Clé API incorrecte"),
        ("me", {"success": False, "code": 1, "message": "Clé API requise"}, AuthError, 1, "Clé API requise"),
        ("send", {"success": False, "code": 10, "error": "Clé API incorrecte"}, AuthError, 10, "Clé API incorrecte"),
        (
            "send",
            {"success": False, "code": 9, "errors": [{"elementId": "message", "message": "vide"}]},
            ApiRejected,
            9,
            "message: vide",
        ),
        ("message-status", {"success": False, "code": 4, "message": "introuvable"}, NotFound, 4, "introuvable"),
        ("message-cancel", {"success": False, "code": 4, "message": "x"}, NotFound, 4, "x"),
        ("message-cancel", {"success": False, "code": 5, "message": "déjà annulé"}, ApiRejected, 5, "déjà annulé"),
        ("stop-sms/delete", {"success": False, "code": 4, "message": "x"}, NotFound, 4, "x"),
        ("stop-sms/add", {"success": False, "code": 3, "message": "déjà"}, ApiRejected, 3, "déjà"),
        ("stop-sms/add", {"success": False, "code": 4, "message": "x"}, ApiRejected, 4, "x"),  # 4 is not "not found" here
        ("location/status", {"success": False, "code": 32, "message": "x"}, NotFound, 32, "x"),
        ("location/file/download", {"success": False, "code": 33, "message": "x"}, NotFound, 33, "x"),
        ("location/file/download", {"success": False, "code": 34, "message": "x"}, ApiRejected, 34, "x"),
        ("me", {"success": False, "code": "10", "message": "x"}, AuthError, 10, "x"),  # code as a string
        ("me", {"success": False, "code": 96}, ApiRejected, 96, "(no message)"),
    ],
    ids=[
        "auth-10", "auth-1", "error-key-singular", "errors-array-code-9", "status-4-not-found", "cancel-4-not-found",
        "cancel-5-rejected", "delete-4-not-found", "add-3-rejected", "add-4-is-not-not-found", "rental-32",
        "rental-file-33", "rental-file-34", "code-as-string", "no-message",
    ],
)
def test_check_envelope_maps_codes_per_endpoint(
    endpoint: str, payload: dict[str, Any], exc: type[ApiRejected], code: int, text: str
) -> None:
    with pytest.raises(exc) as info:
        parse.check_envelope(endpoint, payload)
    assert type(info.value) is exc
    assert info.value.code == code and info.value.api_message == text and info.value.endpoint == endpoint


@pytest.mark.parametrize(
    ("endpoint", "payload"),
    [
        ("me", {"success": True, "code": 200}),
        ("location/file/download", {"success": True, "phoneNumbers": 10, "datas": []}),  # quirk 19
        ("location/status", {"success": True, "token": "t"}),
        ("me", {"success": "true", "code": 200}),
        ("me", {"code": 200}),
    ],
    ids=["ok", "rental-download-no-code", "rental-status-no-code", "success-as-text", "success-missing-code-200"],
)
def test_check_envelope_accepts_success(endpoint: str, payload: dict[str, Any]) -> None:
    assert parse.check_envelope(endpoint, payload) is payload


@pytest.mark.parametrize(
    ("endpoint", "payload", "field"),
    [
        ("me", [1, 2], ""),
        ("me", {"success": "maybe", "code": 200}, "success"),
        ("me", {"success": True}, "code"),
        ("me", {"success": False}, "code"),
        ("me", {"user": {}}, "success"),
        ("me", {"success": True, "code": "n/a"}, "code"),
    ],
    ids=["not-an-object", "success-garbage", "success-without-code", "failure-without-code", "no-envelope", "code-garbage"],
)
def test_check_envelope_rejects_malformed(endpoint: str, payload: Any, field: str) -> None:
    with pytest.raises(PayloadError) as info:
        parse.check_envelope(endpoint, payload)
    assert info.value.field == field and info.value.endpoint == endpoint


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


def test_money_decimals_are_the_databases_scale() -> None:
    assert parse.MONEY_DECIMALS == MONEY_SCALE == Money.scale
    assert parse.MONEY_INTEGER_DIGITS == Money.precision - Money.scale


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


# --------------------------------------------------------------------------------------------------
# Stop list (SEED-001, quirk 17) and writes (quirks 1, 2, 18)
# --------------------------------------------------------------------------------------------------

SEED_001 = '{ "success": true, "code": 200, "nbData": 1, "data": [ { "id": 19, "phoneNumber": "+33612345678", "createdAt": "2015-07-20 10:19:45" } ] }'


@pytest.mark.parametrize(
    ("item", "expected"),
    [
        (loads(SEED_001)["data"][0],
         Stop(19, "+33612345678", "+33612345678", datetime(2015, 7, 20, 8, 19, 45, tzinfo=UTC))),
        ({"id": "19", "phoneNumber": "0612345678", "createdAt": "1437380385"},
         Stop(19, "0612345678", "+33612345678", datetime(2015, 7, 20, 8, 19, 45, tzinfo=UTC))),
        ({"id": 20, "phoneNumber": "+3361", "createdAt": None}, Stop(20, "+3361", "+3361", None)),
        ({"id": 21, "phoneNumber": "STOP", "createdAt": None}, Stop(21, "STOP", None, None)),
    ],
    ids=["seed-001", "id-str-national-epoch", "invalid-but-parseable-kept", "unparseable-kept-none"],
)
def test_parse_stop_item_never_drops_a_stop(item: dict[str, Any], expected: Stop) -> None:
    assert parse.parse_stop_item(item) == expected


@pytest.mark.parametrize(
    ("item", "field"),
    [
        ({"id": "x19", "phoneNumber": "+33612345678"}, "data[].id"),
        ({"phoneNumber": "+33612345678"}, "data[].id"),
        ({"id": 19, "phoneNumber": 33612345678}, "data[].phoneNumber"),
        ({"id": 19, "phoneNumber": "+33612345678", "createdAt": "20/07/2015"}, "data[].createdAt"),
        ("19", "data[]"),
    ],
    ids=["id-text", "id-missing", "phone-int", "date-garbage", "not-an-object"],
)
def test_parse_stop_item_rejects(item: Any, field: str) -> None:
    with pytest.raises(PayloadError) as info:
        parse.parse_stop_item(item)
    assert info.value.field == field and info.value.endpoint == "stop-sms/list"


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
# /send (quirks 6, 7, 20), cost-resume (quirks 5, 20)
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


COST = """{"success": true, "code": 200, "datas": [
 {"month": "october", "year": "2021", "m": "10", "date": 1633039200, "type": "month", "cost": "49.174", "nb_send": "1210"},
 {"month": "november", "year": 2021, "date": 1635721200, "type": "month", "cost": 0.5, "nb_send": 3}]}"""


def test_parse_cost_resume_strings_and_numbers() -> None:
    assert parse.parse_cost_resume(loads(COST)) == [
        parse.MonthlyCost(2021, 10, Decimal("49.174"), 1210),
        parse.MonthlyCost(2021, 11, Decimal("0.5"), 3),
    ]


@pytest.mark.parametrize(
    ("item", "field"),
    [
        ({"year": "2021", "m": "13", "cost": "1", "nb_send": "1"}, "datas[].m"),
        ({"year": "2021", "month": "brumaire", "cost": "1", "nb_send": "1"}, "datas[].m"),
        ({"m": "1", "cost": "1", "nb_send": "1"}, "year"),
        ({"year": "2021", "m": "1", "cost": "cheap", "nb_send": "1"}, "datas[].cost"),
        ({"year": "2021", "m": "1", "cost": "1", "nb_send": "many"}, "datas[].nb_send"),
        ({"year": "2021", "m": "1", "cost": "-1", "nb_send": "1"}, "datas[].cost"),
        ({"year": "2021", "m": "1", "cost": "0.123456789", "nb_send": "1"}, "datas[].cost"),
        ("n/a", "datas[0]"),
    ],
    ids=["month-13", "month-name-unknown", "year-missing", "cost-text", "nb-send-text", "cost-negative",
         "cost-9-decimals", "not-an-object"],
)
def test_unreadable_month_of_cost_resume_is_set_aside_and_the_others_read(item: Any, field: str) -> None:
    good = {"year": "2021", "m": "2", "cost": "10225.119", "nb_send": "3"}
    months = parse.parse_cost_resume({"datas": [item, good]})
    assert [(m.year, m.month, m.cost) for m in months] == [(2021, 2, Decimal("10225.119"))]
    [bad] = months.unreadable
    assert bad.item == item and f"field {field!r}" in bad.reason and bad.endpoint == "statistics/cost-resume"


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


def test_records_are_frozen() -> None:
    stop = Stop(1, "x", None, None)
    with pytest.raises(AttributeError):
        stop.stop_id = 2  # type: ignore[misc]


def test_status_page_items_without_any_message_id_get_an_empty_one() -> None:
    payload = {"success": True, "code": 200, "currentPage": 1, "total": 1,
               "StatutResponse_List": [{"phoneNumber": "+33612345678", "status": "Waiting", "stopSMS": False}]}
    _, _, items = parse.parse_status_page(payload)
    assert items[0].message_id == "" and items[0].status == "Waiting"


@pytest.mark.parametrize("value", [Decimal("Infinity"), Decimal("-Infinity"), Decimal("NaN"), Decimal("sNaN")],
                         ids=["inf", "-inf", "nan", "snan"])
def test_integer_field_given_a_non_finite_decimal_is_a_payload_error(value: Decimal) -> None:
    # Found by tests/api/test_parse_fuzz.py: OverflowError / InvalidOperation escaped from _int.
    with pytest.raises(PayloadError):
        parse.parse_stop_item({"id": value, "phoneNumber": "+33612345678", "createdAt": "2015-07-20 10:19:45"})
