"""Every parser, fuzzed: any JSON in, a record or the project's own error out, never anything else.

Two strategies per parse function of `etl.api.parse`: any JSON value at all, and a documented
payload with one field (at any depth) replaced by any JSON value or deleted, which is what the
provider's type quirks (REFERENCE quirks 4-7, 20) and the simulator's ``wrong_types`` fault look like.
JSON as `requests` gives it (floats) and as the client decodes it (``parse_float=Decimal``) both.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Callable
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from etl.api import parse
from etl.errors import EtlError

SCALARS = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=True, allow_infinity=True),
    st.decimals(allow_nan=True, allow_infinity=True),
    st.text(max_size=30),
    st.sampled_from(["", "0", "1", "true", "n/a", "200", "2015-07-20 10:19:45", "1534615206", "+33612345678",
                     "0612345678", "0000-00-00 00:00:00", "eur", "EUR", "Delivered", "1e400", "-0", "NaN", "Infinity"]),
)
JSON = st.recursive(
    SCALARS,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=12), inner, max_size=5),
    max_leaves=20,
)

STATUS_ITEM = {"success": True, "code": 200, "phoneNumber": "+33612345678", "messageId": 307, "status": "Delivered",
               "date": "1517934416", "stopSms": "0", "isSpam": "0"}

#: One documented payload per parse function (REFERENCE seeds and quirks; see tests/api/test_parse_*.py).
SAMPLES: dict[str, tuple[Callable[[Any], Any], Any]] = {
    "account": (parse.parse_account, {
        "success": True, "code": 200, "user": {"id": 7, "username": "u", "firstname": "F", "lastname": "L"},
        "credits": {"creditSms": 10, "creditSmsECO": 5, "creditHlr": 1, "toSend": 0, "balance": "10225.119", "currency": "EUR"}}),
    "stop_list": (parse.parse_stop_list, {
        "success": True, "code": 200, "nbData": 1,
        "data": [{"id": 19, "phoneNumber": "+33612345678", "createdAt": "2015-07-20 10:19:45"}]}),
    "stop_item": (parse.parse_stop_item, {"id": 19, "phoneNumber": "+33612345678", "createdAt": "2015-07-20 10:19:45"}),
    "message_status": (parse.parse_message_status, {
        "success": True, "code": 200, "number": "+212620123456", "messageId": "2270142", "stopSms": False,
        "date": "1534615206", "statut": "Delivered", "cost": 0.045, "countryCode": "MA", "currency": "eur"}),
    "multi_status": (parse.parse_multi_status, {
        "success": True, "code": 200, "StatutResponse_List": [
            STATUS_ITEM,
            {"success": False, "code": 4, "phoneNumber": "+33612345679", "messageId": 307, "status": "Numéro introuvable"}]}),
    "bulk_status": (parse.parse_bulk_status, {
        "success": True, "code": 200, "message_id": "111", "StatutResponse_List": [
            {"phoneNumber": "+33612345678", "status": "Delivered", "stopSMS": False, "date": "1517934416"},
            {"phoneNumber": "0612345679", "status": "Not delivered", "stopSMS": True, "date": "1517934416"}]}),
    "status_page": (parse.parse_status_page, {
        "success": True, "code": 200, "currentPage": 2, "total": "1200", "StatutResponse_List": [
            {"phoneNumber": "+33612345678", "status": "Delivered", "stopSMS": False, "date": "1517934416", "messageId": "5"}]}),
    "cost_resume": (parse.parse_cost_resume, {
        "success": True, "code": 200, "datas": [
            {"month": "october", "year": "2021", "m": "10", "date": 1633039200, "type": "month", "cost": "49.174", "nb_send": "1210"}]}),
    "send": (parse.parse_send, {
        "success": True, "code": 200, "message_id": 3323, "nb_sms": 1, "cost": 0.045, "currency": "EUR"}),
    "write_stop_add": (lambda p: parse.parse_write(p, "stop-sms/add"), {"success": True, "code": 200, "stopId": 300}),
    "write_cancel": (lambda p: parse.parse_write(p, "message-cancel"), {"success": True, "code": 200, "message": "annulé"}),
    "rental_status": (parse.parse_rental_status, {
        "success": True, "token": "abc", "status": "File downloaded by user from api", "file": {"phoneNumbers": "10"}}),
    "rental_item": (parse.parse_rental_item, {"id": 4314, "phone": "+33612345678", "stopSms": False}),
    "rental_file": (parse.parse_rental_file, {
        "success": True, "token": "abc", "datas": [{"id": 4314, "phone": "+33612345678", "stopSms": False}]}),
    "envelope": (lambda p: parse.check_envelope("multi-status", p), {"success": True, "code": 200}),
    "datetime": (lambda p: parse.parse_datetime(p, "message-status", "date"), "2015-07-20 10:19:45"),
}


ANY_TOP = frozenset({"stop_item", "rental_item", "envelope", "datetime"})


def _paths(value: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    out = [prefix]
    if isinstance(value, dict):
        for k, v in value.items():
            out += _paths(v, (*prefix, k))
    elif isinstance(value, list):
        for i, v in enumerate(value):
            out += _paths(v, (*prefix, i))
    return out


def _mutate(sample: Any, path: tuple[Any, ...], new: Any, delete: bool) -> Any:
    if not path:
        return new
    doc = copy.deepcopy(sample)
    parent = doc
    for step in path[:-1]:
        parent = parent[step]
    if delete:
        del parent[path[-1]]
    else:
        parent[path[-1]] = new
    return doc


def _only_our_errors(fn: Callable[[Any], Any], payload: Any) -> None:
    try:
        fn(payload)
    except EtlError:
        pass  # PayloadError, ApiRejected, AuthError, NotFound: the caller knows each
    # Anything else (TypeError, KeyError, ValueError, decimal.InvalidOperation, OverflowError...) fails the test.


def test_every_sample_parses() -> None:
    for fn, sample in SAMPLES.values():
        assert fn(copy.deepcopy(sample)) is not None or sample is None


@pytest.mark.parametrize("name", sorted(SAMPLES))
@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_any_json_parses_or_raises_an_etl_error(name: str, data: st.DataObject) -> None:
    fn, _ = SAMPLES[name]
    # Functions typed ``payload: Mapping`` get any JSON object (the client has checked the envelope is
    # one); those typed ``Any`` (items, envelope, dates) get any JSON value at all.
    top = JSON if name in ANY_TOP else st.dictionaries(st.text(max_size=12), JSON, max_size=6)
    _only_our_errors(fn, data.draw(top))


@pytest.mark.parametrize("name", sorted(SAMPLES))
@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_documented_payload_with_one_field_wrong_parses_or_raises_an_etl_error(name: str, data: st.DataObject) -> None:
    fn, sample = SAMPLES[name]
    path = data.draw(st.sampled_from([p for p in _paths(sample) if p or name in ANY_TOP]))
    delete = bool(path) and data.draw(st.booleans())
    payload = _mutate(sample, path, data.draw(JSON), delete)
    _only_our_errors(fn, payload)
    # The same payload as the client decodes it: floats as Decimal (json parse_float=Decimal).
    try:
        text = json.dumps(payload, default=str)
    except (ValueError, TypeError):
        return
    _only_our_errors(fn, json.loads(text, parse_float=Decimal))
