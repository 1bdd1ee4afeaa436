"""Sub-account, group and contact parsers on odd types, and the envelopes that lie (ACCOUNTS.md §2, §3, §6)."""

from __future__ import annotations

from datetime import datetime, timezone
from decimal import Decimal
from typing import Any

import pytest

from etl.api.parse import (
    check_envelope,
    parse_contact_detail,
    parse_contact_item,
    parse_contact_page,
    parse_credit_move,
    parse_group_list,
    parse_subaccount_created,
    parse_subaccount_item,
    parse_subaccount_page,
)
from etl.errors import ApiRejected, AuthError, NotFound, PayloadError

KEY = "sim-sub-0123456789abcdef0123456789abcdef"
ITEM = {
    "id": 1,
    "email": "shop@example.invalid",
    "type": "simple",
    "token": "tok123",
    "apiKey": KEY,
    "createdAt": "2016-03-04 11:23:14",
    "credits": {"balance": "0.800", "currency": "EUR"},
}


def test_subaccount_item_reads_paris_time_as_utc_balance_as_decimal_and_hides_the_key() -> None:
    sub = parse_subaccount_item(ITEM)
    assert (sub.api_id, sub.email, sub.type, sub.token) == ("1", "shop@example.invalid", "simple", "tok123")
    assert sub.created_at == datetime(2016, 3, 4, 10, 23, 14, tzinfo=timezone.utc)
    assert (sub.balance, sub.currency) == (Decimal("0.800"), "EUR")
    assert sub.api_key.reveal() == KEY and KEY not in repr(sub)


@pytest.mark.parametrize(
    "change,expected",
    [
        ({"id": "7"}, ("api_id", "7")),
        ({"credits": {"balance": 10.245, "currency": "eur"}}, ("balance", Decimal("10.245"))),
        ({"credits": None}, ("balance", None)),
        ({"type": "Advanced"}, ("type", "advanced")),
        ({"createdAt": None}, ("created_at", None)),
    ],
    ids=["id-as-string", "balance-as-float", "no-credits", "type-case", "no-date"],
)
def test_subaccount_item_tolerates(change: dict[str, Any], expected: tuple[str, Any]) -> None:
    field, value = expected
    assert getattr(parse_subaccount_item({**ITEM, **change}), field) == value


def test_a_page_keeps_unreadable_items_with_their_key_masked() -> None:
    broken = {**ITEM, "token": None}
    page = parse_subaccount_page({"success": True, "code": 200, "total": "29", "nb_per_page": "20", "page": 2, "data": [ITEM, broken, "n/a"]})
    assert (page.total, page.per_page, page.page, len(page.items)) == (29, 20, 2, 1)
    assert len(page.unreadable) == 2
    assert KEY not in repr(page.unreadable) and page.unreadable[0].item["apiKey"] == "***"


@pytest.mark.parametrize("data", [[], None, {}], ids=["empty-list", "null", "empty-object"])
def test_a_page_past_the_end_is_empty_whatever_its_shape(data: Any) -> None:
    page = parse_subaccount_page({"success": True, "code": 200, "total": 29, "page": 3, "data": data})
    assert (page.items, page.unreadable, page.per_page) == ((), (), 20)


def test_a_page_whose_data_is_not_a_list_is_a_payload_error() -> None:
    with pytest.raises(PayloadError):
        parse_subaccount_page({"data": "n/a"})


def test_create_and_credit_moves() -> None:
    created = parse_subaccount_created({"subaccount": {"email": "a@example.invalid", "token": "t1"}, "sendConfirmMailTo": "a@example.invalid"})
    assert (created.email, created.token) == ("a@example.invalid", "t1")
    move = parse_credit_move({"credit": Decimal("2869.2"), "subaccountCredit": 61.8, "currency": "EUR"}, "subaccount/credit/add")
    assert (move.parent_balance, move.subaccount_balance, move.currency) == (Decimal("2869.2"), Decimal("61.8"), "EUR")


CONTACT = {"contactId": "6364", "phone": "+33611111111", "firstname": "", "lastname": "Lopez", "createdAt": "2020-10-02T16:40:05+02:00", "stopSms": False}


@pytest.mark.parametrize(
    "flag,expected",
    [(False, False), (True, True), ("0", False), ("1", True), ("true", True), (0, False)],
    ids=["false", "true", "str-0", "str-1", "str-true", "int-0"],
)
def test_contact_stop_sms_reads_every_flag_form(flag: Any, expected: bool) -> None:
    assert parse_contact_item({**CONTACT, "stopSms": flag}).stop_sms is expected


def test_contact_fields_ids_as_strings_and_the_offset_date_in_utc() -> None:
    contact = parse_contact_item({**CONTACT, "contactId": 6364})
    assert (contact.contact_id, contact.phone_e164, contact.firstname, contact.lastname) == ("6364", "+33611111111", None, "Lopez")
    assert contact.created_at == datetime(2020, 10, 2, 14, 40, 5, tzinfo=timezone.utc)
    detail = parse_contact_detail({"success": True, "code": 200, "contact": {**CONTACT, "groupId": 6363}})
    assert detail.group_id == "6363"


def test_a_contact_page_reads_total_as_a_string_and_keeps_a_contact_without_flag_unreadable() -> None:
    no_flag = {k: v for k, v in CONTACT.items() if k != "stopSms"}
    page = parse_contact_page({"success": True, "code": 200, "currentPage": 1, "total": "45", "datas": [CONTACT, no_flag, {**CONTACT, "stopSms": "maybe"}]})
    assert (page.total, page.page, len(page.items), len(page.unreadable)) == (45, 1, 1, 2)
    assert parse_contact_page({"currentPage": 3, "total": "45", "datas": None}).items == ()


def test_group_list_ids_as_strings_or_ints_and_an_unreadable_group() -> None:
    groups = parse_group_list(
        {
            "success": False,
            "groups": [
                {"id": "6363", "name": "VIP", "createdAt": "2020-10-02T16:40:05+02:00", "isSpecialFile": False, "isLocationFile": True},
                {"id": 6364, "name": "B"},
                {"name": "no id"},
            ],
        }
    )
    assert [g.group_id for g in groups.items] == ["6363", "6364"]
    assert groups.items[0].location_file is True and groups.items[1].special_file is None
    assert len(groups.unreadable) == 1


@pytest.mark.parametrize(
    "endpoint,payload",
    [
        ("group/add", {"success": True, "code": 2, "name": "VIP", "groupId": "6363"}),
        ("group/add", {"success": True, "code": 200, "name": "VIP", "groupId": "6363"}),
        ("group/list", {"success": False, "groups": []}),
        ("group/list", {"success": True, "code": 200, "groups": []}),
        ("contact/add", {"groupe": {"name": "VIP", "token": "6363"}, "results": [], "rapport": {"nbline": 1}}),
    ],
    ids=["group-add-code-2", "group-add-honest", "group-list-success-false", "group-list-honest", "batch-add-no-envelope"],
)
def test_documented_successes_that_break_the_rule_are_judged_by_payload(endpoint: str, payload: dict[str, Any]) -> None:
    assert check_envelope(endpoint, payload) is payload


@pytest.mark.parametrize(
    "endpoint,payload,error",
    [
        ("group/add", {"success": False, "code": 2, "message": "La Clé API est requise"}, AuthError),
        ("group/add", {"success": False, "code": 1, "message": "Le nom est requis"}, ApiRejected),
        ("group/list", {"success": False, "code": 10, "message": "Clé API incorrecte"}, AuthError),
        ("group/list", {"success": False}, PayloadError),
        ("contact/list", {"success": False, "code": 1, "message": "L'ID du groupe est requis"}, ApiRejected),
        ("contact/detail", {"success": False, "code": 404, "message": "Contact introuvable"}, NotFound),
        ("subaccount/remove", {"success": False, "code": 404, "message": "Sous-compte introuvable"}, NotFound),
        ("subaccount/credit/add", {"success": False, "code": 8, "message": "Crédit insuffisant"}, ApiRejected),
        ("subaccount/list", {"success": False, "code": 10, "message": "Clé API incorrecte"}, AuthError),
    ],
    ids=[
        "group-add-key",
        "group-add-name",
        "group-list-key",
        "group-list-nothing",
        "contact-list-1-not-auth",
        "detail-404",
        "remove-404",
        "credit-8",
        "list-10",
    ],
)
def test_errors_of_the_new_endpoints_map_per_endpoint(endpoint: str, payload: dict[str, Any], error: type[Exception]) -> None:
    with pytest.raises(error):
        check_envelope(endpoint, payload)
