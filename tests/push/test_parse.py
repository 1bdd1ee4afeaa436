"""Callback bodies → records, one row per documented spelling (REFERENCE §3.14, quirks 4-7, 17)."""

from __future__ import annotations

import json
from datetime import datetime, timezone
from decimal import Decimal

import pytest

from etl.push.apply import supersedes
from etl.push.parse import CallbackRejected, parse_callback


def body(payload: object) -> bytes:
    return json.dumps(payload).encode()


STOP_ROWS = [
    pytest.param({"type": "stop", "phone_number": "+33612345678", "text": "STOP", "message_id": 123},
                 ("stop", "+33612345678", "123", "STOP"), id="web-stop-int-id"),
    pytest.param({"type": "response", "phone_number": "+33612345678", "text": "oui", "message_id": "123"},
                 ("reply", "+33612345678", "123", "oui"), id="doc-reply-string-id"),
    pytest.param({"type": "response", "phone_number": "0612345678", "text": "oui"},
                 ("reply", "+33612345678", None, "oui"), id="national-number-no-id"),
    pytest.param({"type": "STOP", "phoneNumber": "+32470123456", "text": "stop"},
                 ("stop", "+32470123456", None, "stop"), id="type-case-and-camel-phone"),
    pytest.param({"msisdn": "33612345678", "to": "33700000000", "messageId": "0200000012AB", "text": "hello",
                  "type": "text", "keyword": "HELLO", "message-timestamp": "2016-03-10 09:51:46"},
                 ("reply", "+33612345678", "0200000012AB", "hello"), id="long-number"),
    pytest.param({"msisdn": "447700900123", "messageId": "5f0c6f5e-1d2b-4c1e-9a57-3f6a5a2f9c10", "text": "part 2",
                  "concat": "true", "concat-ref": "17", "concat-total": "2", "concat-part": "2"},
                 ("reply", "+447700900123", "5f0c6f5e-1d2b-4c1e-9a57-3f6a5a2f9c10", "part 2"), id="long-number-uuid-concat-no-type"),
]


@pytest.mark.parametrize("payload, expected", STOP_ROWS)
def test_stop_channel_accepts_every_documented_spelling(payload, expected):
    cb = parse_callback("stop", body(payload))
    assert (cb.kind, cb.phone_e164, cb.message_id, cb.text) == expected


def test_long_number_timestamp_is_paris_time_and_concat_fields_are_ints():
    cb = parse_callback("stop", body({"msisdn": "33612345678", "text": "a", "type": "text", "message-timestamp": "2016-03-10 09:51:46",
                                      "concat-ref": "9", "concat-part": "1", "concat-total": "3"}))
    assert cb.event_at == datetime(2016, 3, 10, 8, 51, 46, tzinfo=timezone.utc)
    assert (cb.concat_ref, cb.concat_part, cb.concat_total) == ("9", 1, 3)


def test_form_encoded_long_number_reply_is_accepted():
    cb = parse_callback("stop", b"msisdn=33612345678&text=hi&type=text&messageId=02", "application/x-www-form-urlencoded")
    assert (cb.kind, cb.phone_e164, cb.message_id) == ("reply", "+33612345678", "02")


DLR_ROWS = [
    pytest.param({"messageId": "300001", "phoneNumber": "+33612345678", "status": "DELIVRD", "date": "1767600000"},
                 ("Delivered", "300001", datetime(2026, 1, 5, 8, 0, tzinfo=timezone.utc)), id="operator-code-epoch-string"),
    pytest.param({"message_id": 300001, "number": "0612345678", "statut": "Not delivered", "date": "2026-01-05 09:00:00"},
                 ("Not delivered", "300001", datetime(2026, 1, 5, 8, 0, tzinfo=timezone.utc)), id="statut-national-ymd"),
    pytest.param({"messageId": 7, "msisdn": "33612345678", "status": "EXPIRED", "date": 1767600000},
                 ("Not delivered", "7", datetime(2026, 1, 5, 8, 0, tzinfo=timezone.utc)), id="expired-msisdn-epoch-int"),
    pytest.param({"messageId": "7", "phone_number": "+33612345678", "status": "ENROUTE"}, ("Waiting", "7", None), id="enroute-no-date"),
    pytest.param({"messageId": "7", "phoneNumber": "+33612345678", "status": "REJECTD"}, ("Not delivered", "7", None), id="rejectd"),
    pytest.param({"messageId": "7", "phoneNumber": "+33612345678", "status": "ko"}, ("ko", "7", None), id="ko"),
    pytest.param({"messageId": "7", "phoneNumber": "+33612345678", "status": "SOMETHING"}, (None, "7", None), id="unknown-status-kept"),
]


@pytest.mark.parametrize("payload, expected", DLR_ROWS)
def test_dlr_channel_accepts_the_status_endpoints_field_names(payload, expected):
    cb = parse_callback("dlr", body(payload))
    assert (cb.status, cb.message_id, cb.event_at) == expected
    assert cb.phone_e164 == "+33612345678"


def test_dlr_cost_is_exact_and_currency_upper_case():
    cb = parse_callback("dlr", body({"messageId": "1", "phoneNumber": "+33612345678", "status": "DELIVRD", "cost": 0.045,
                                     "currency": "eur", "countryCode": "fr"}))
    assert (cb.cost, cb.currency, cb.country) == (Decimal("0.045"), "EUR", "FR")


REFUSED = [
    pytest.param("stop", b"{not json", (400, "bad_json"), id="bad-json"),
    pytest.param("stop", b"[1, 2]", (400, "bad_json"), id="json-not-object"),
    pytest.param("stop", body({"type": "mms", "phone_number": "+33612345678"}), (422, "unknown_type"), id="unknown-type"),
    pytest.param("stop", body({"phone_number": "+33612345678", "text": "x"}), (422, "unknown_type"), id="no-type"),
    pytest.param("stop", body({"type": "stop", "text": "STOP"}), (422, "missing_field"), id="no-phone"),
    pytest.param("stop", body({"type": "stop", "phone_number": {"a": 1}}), (422, "bad_field"), id="phone-object"),
    pytest.param("dlr", body({"phoneNumber": "+33612345678", "status": "DELIVRD"}), (422, "missing_field"), id="dlr-no-id"),
    pytest.param("dlr", body({"messageId": "1", "phoneNumber": "+33612345678"}), (422, "missing_field"), id="dlr-no-status"),
    pytest.param("dlr", body({"messageId": 1.5, "phoneNumber": "+33612345678", "status": "DELIVRD"}), (422, "bad_field"), id="dlr-float-id"),
    pytest.param("dlr", body({"messageId": "1", "phoneNumber": "+33612345678", "status": "DELIVRD", "date": "yesterday"}),
                 (422, "bad_field"), id="dlr-bad-date"),
    pytest.param("other", body({}), (404, "unknown_channel"), id="unknown-channel"),
]


@pytest.mark.parametrize("channel, raw, expected", REFUSED)
def test_unusable_bodies_are_refused_with_a_status_and_reason(channel, raw, expected):
    with pytest.raises(CallbackRejected) as info:
        parse_callback(channel, raw)
    assert (info.value.status, info.value.reason) == expected


def test_same_callback_with_keys_reordered_has_the_same_hash():
    a = parse_callback("stop", b'{"type": "stop", "phone_number": "+33612345678", "message_id": 1}')
    b = parse_callback("stop", b'{"message_id":1,"phone_number":"+33612345678","type":"stop"}')
    c = parse_callback("dlr", b'{"messageId": "1", "phoneNumber": "+33612345678", "status": "DELIVRD"}')
    assert a.content_hash == b.content_hash != c.content_hash


T1 = datetime(2026, 1, 5, 9, tzinfo=timezone.utc)
T2 = datetime(2026, 1, 5, 10, tzinfo=timezone.utc)


@pytest.mark.parametrize(
    "current, current_at, new, new_at, expected",
    [
        pytest.param(None, None, "Waiting", None, True, id="first-status"),
        pytest.param("Waiting", T1, "Delivered", T2, True, id="progress"),
        pytest.param("Waiting", T2, "Delivered", T1, False, id="older-than-current"),
        pytest.param("Delivered", T2, "Waiting", None, False, id="final-never-flipped-back"),
        pytest.param("Delivered", T1, "Not delivered", T2, False, id="final-never-changed-by-push"),
        pytest.param("Waiting", T1, "Waiting", T2, False, id="same-status"),
        pytest.param("Waiting", None, "Delivered", None, True, id="no-dates"),
    ],
)
def test_supersedes_orders_reports_and_never_overrides_a_final_status(current, current_at, new, new_at, expected):
    assert supersedes(current, current_at, new, new_at) is expected


def test_a_body_in_canonical_form_hashes_as_before_the_dedupe_rule_so_stored_hashes_stay_valid():
    import hashlib

    from etl.push.parse import canonical_body

    for channel, payload in (
        ("stop", {"type": "stop", "phone_number": "+33612345678", "message_id": "5", "text": "STOP"}),
        ("stop", {"msisdn": "33612345678", "messageId": "02", "text": "hi", "type": "text"}),
        ("dlr", {"messageId": "300001", "phoneNumber": "+33612345678", "status": "DELIVRD", "date": "1767600000"}),
    ):
        legacy = hashlib.sha256(f"{channel}\n{canonical_body(payload)}".encode()).hexdigest()
        assert parse_callback(channel, body(payload)).content_hash == legacy


@pytest.mark.parametrize("a, b", [
    pytest.param({"message_id": 42}, {"message_id": "42"}, id="int-and-string-id"),
    pytest.param({"phone_number": "0612345678"}, {"phone_number": "+33612345678"}, id="national-and-e164"),
    pytest.param({"phone_number": "06 12 34 56 78", "message_id": 42}, {"phone_number": "+33612345678", "message_id": " 42 "},
                 id="spaces"),
])
def test_the_same_reply_in_another_spelling_has_the_same_content_hash_and_keeps_its_raw_body(a, b):
    base = {"type": "response", "phone_number": "+33612345678", "message_id": "1", "text": "oui"}
    first, second = parse_callback("stop", body({**base, **a})), parse_callback("stop", body({**base, **b}))
    assert first.content_hash == second.content_hash
    assert first.body != second.body


@pytest.mark.parametrize("raw", [b'{"messageId": "1", "phoneNumber": "+33612345678", "status": "DELIVRD", "cost": NaN}',
                                 b'{"messageId": "1", "phoneNumber": "+33612345678", "status": "DELIVRD", "cost": "Infinity"}',
                                 b'{"messageId": "1", "phoneNumber": "+33612345678", "status": "DELIVRD", "x": [1, -Infinity]}'],
                         ids=["nan", "infinity-string", "nested-minus-infinity"])
def test_a_non_finite_number_is_refused_as_a_bad_field_to_quarantine(raw):
    with pytest.raises(CallbackRejected) as refused:
        parse_callback("dlr", raw)
    assert (refused.value.status, refused.value.reason, refused.value.quarantine) == (422, "bad_field", True)


def test_nesting_past_the_limit_is_bad_json_not_a_recursion_error():
    for raw in (b"[" * 100_000, b'{"a": ' + b"[" * 40 + b"]" * 40 + b"}"):
        with pytest.raises(CallbackRejected) as refused:
            parse_callback("stop", raw)
        assert (refused.value.status, refused.value.reason, refused.value.quarantine) == (400, "bad_json", False)
