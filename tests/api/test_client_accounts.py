"""The sub-account, group and contact calls over real sockets: paging edge cases, routing by key, writes never
retried blindly, and sub-account keys masked once read (docs/accounts.md)."""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal
from typing import Any

import pytest

from etl.api import SmsPartnerClient
from etl.api.parse import Contact, SubAccount, Unreadable
from etl.api.redact import SecretBook
from etl.errors import ApiRejected, AuthError, NotFound, UnknownOutcome
from etl.secrets import Secret
from etl.simulator.seedfile import add_group, add_subaccount


def _subs(sim: Any, n: int) -> list[Any]:
    return [add_subaccount(sim, {"email": f"s{i}@example.invalid", "balance": "1.5"}) for i in range(n)]


def test_29_subaccounts_are_read_in_two_calls_with_their_keys_as_secrets(client: SmsPartnerClient, sim: Any) -> None:
    made = _subs(sim, 29)
    got = list(client.iter_subaccounts())
    assert all(isinstance(s, SubAccount) for s in got) and len(got) == 29
    assert [c.params.get("page") for c in sim.calls_to("subaccount/list")] == ["1", "2"]
    first = got[0]
    assert isinstance(first, SubAccount)
    assert (first.token, first.api_key.reveal(), first.balance) == (made[0].token, made[0].api_key, Decimal("1.500"))


def test_40_subaccounts_stop_at_total_without_asking_a_third_page(client: SmsPartnerClient, sim: Any) -> None:
    _subs(sim, 40)
    assert len(list(client.iter_subaccounts())) == 40
    assert len(sim.calls_to("subaccount/list")) == 2


@pytest.mark.parametrize("past_end", ["empty", "last"])
def test_a_page_past_the_end_ends_the_listing_whatever_it_holds(client: SmsPartnerClient, sim: Any, past_end: str) -> None:
    _subs(sim, 40)
    sim.quirks.page_past_end = past_end
    sim.faults.inject("subaccount/list", "wrong_types", count=3, field="total", value=999)  # a total that lies
    assert len({s.token for s in client.iter_subaccounts() if isinstance(s, SubAccount)}) == 40
    assert len(sim.calls_to("subaccount/list")) == 3


def test_no_subaccounts_is_one_call_and_nothing(client: SmsPartnerClient, sim: Any) -> None:
    assert list(client.iter_subaccounts()) == []
    assert len(sim.calls_to("subaccount/list")) == 1


def test_an_unreadable_subaccount_is_yielded_with_its_key_masked(client: SmsPartnerClient, sim: Any) -> None:
    made = _subs(sim, 3)
    sim.faults.inject("subaccount/list", "malformed_item", index=1, field="token", value=None)
    got = list(client.iter_subaccounts())
    bad = [g for g in got if isinstance(g, Unreadable)]
    assert len(got) == 3 and len(bad) == 1
    assert made[1].api_key not in repr(bad[0].item) and bad[0].item["apiKey"] == "***"


def test_each_key_reads_its_own_account_and_a_revoked_one_is_auth_error_10(
    make_client: Callable[..., SmsPartnerClient], sim: Any
) -> None:
    sub = add_subaccount(sim, {"email": "a@example.invalid", "balance": "7.25", "stops": ["+33611000001", "+33611000002"]})
    own = make_client(key=sub.api_key)
    assert own.me().balance == Decimal("7.250")
    assert own.find_stop_by_phone("+33611000002") is not None
    assert make_client().find_stop_by_phone("+33611000002") is None  # the parent's list is its own
    sim.subaccounts.revoke(sub.token)
    with pytest.raises(AuthError) as refused:
        own.me()
    assert refused.value.code == 10 and sub.api_key not in str(refused.value)


def test_create_then_remove_by_delete(client: SmsPartnerClient, sim: Any) -> None:
    created = client.subaccount_create("new@example.invalid", credit=Decimal("2.5"))
    assert created.email == "new@example.invalid"
    (listed,) = client.iter_subaccounts()
    assert isinstance(listed, SubAccount) and listed.token == created.token and listed.balance == Decimal("2.500")
    assert client.subaccount_remove(created.token).code == 200
    assert sim.calls_to("subaccount/remove")[0].method == "DELETE"
    with pytest.raises(NotFound):
        client.subaccount_remove(created.token, method="POST")
    with pytest.raises(ApiRejected) as taken:
        client.subaccount_create("simulator@example.invalid")
    assert taken.value.code == 7


def test_credit_moves_return_both_balances_and_refuse_a_short_source(client: SmsPartnerClient, sim: Any) -> None:
    sub = add_subaccount(sim, {"email": "a@example.invalid", "balance": "1"})
    parent = sim.balance
    moved = client.credit_add(sub.token, Decimal("10"))
    assert (moved.parent_balance, moved.subaccount_balance, moved.currency) == (parent - 10, Decimal("11"), "EUR")
    back = client.credit_remove(sub.token, Decimal("0.5"))
    assert (back.parent_balance, back.subaccount_balance) == (parent - Decimal("9.5"), Decimal("10.5"))
    assert sim.calls_to("subaccount/credit/add")[0].params["credit"] == "10"
    with pytest.raises(ApiRejected) as short:
        client.credit_remove(sub.token, Decimal("100"))
    assert short.value.code == 8
    with pytest.raises(NotFound):
        client.credit_add("no-such-token", Decimal("1"))
    with pytest.raises(ValueError):
        client.credit_add(sub.token, Decimal("0"))


@pytest.mark.parametrize("endpoint", ["subaccount/credit/add", "subaccount/create", "subaccount/remove"])
def test_a_write_that_may_have_reached_the_server_is_not_retried(client: SmsPartnerClient, sim: Any, endpoint: str) -> None:
    sub = add_subaccount(sim, {"email": "a@example.invalid"})
    sim.faults.inject(endpoint, "http_503")
    with pytest.raises(UnknownOutcome):
        if endpoint == "subaccount/credit/add":
            client.credit_add(sub.token, Decimal("1"))
        elif endpoint == "subaccount/create":
            client.subaccount_create("b@example.invalid")
        else:
            client.subaccount_remove(sub.token)
    assert len(sim.calls_to(endpoint)) == 1


def test_group_list_success_false_is_read_as_the_groups(client: SmsPartnerClient, sim: Any) -> None:
    gid, _ = add_group(sim, {"name": "VIP", "generate": 2})
    groups = client.group_list()
    assert [(g.group_id, g.name) for g in groups.items] == [(str(gid), "VIP")] and groups.unreadable == ()


@pytest.mark.parametrize(
    "size,past_end,calls",
    [(45, "empty", 3), (40, "empty", 3), (40, "last", 3), (0, "empty", 1), (19, "empty", 1)],
    ids=["45-short-third-page", "40-empty-third-page", "40-repeated-third-page", "empty-group", "one-short-page"],
)
def test_group_contacts_page_until_an_empty_short_or_repeated_page(
    client: SmsPartnerClient, sim: Any, size: int, past_end: str, calls: int
) -> None:
    gid, ids = add_group(sim, {"name": "VIP", "generate": size, "stop_share": 0.5})
    sim.quirks.page_past_end = past_end
    got = list(client.iter_group_contacts(str(gid)))
    assert [c.contact_id for c in got if isinstance(c, Contact)] == [str(i) for i in ids]
    assert len(sim.calls_to("contact/list")) == calls
    flags = {c.contact_id: c.stop_sms for c in got if isinstance(c, Contact)}
    assert flags == {str(c.id): c.stop_sms for c in sim.contacts.contacts.values()}


def test_contact_detail_and_an_unknown_contact(client: SmsPartnerClient, sim: Any) -> None:
    gid, (cid,) = add_group(sim, {"name": "VIP", "contacts": [{"phone": "0611000001", "stop_sms": True}]})
    contact = client.contact_detail(str(cid))
    assert (contact.group_id, contact.phone_e164, contact.stop_sms) == (str(gid), "+33611000001", True)
    with pytest.raises(NotFound):
        client.contact_detail("1")


def test_a_subaccount_key_read_from_the_list_is_masked_in_any_later_error(client: SmsPartnerClient, sim: Any) -> None:
    (sub,) = _subs(sim, 1)
    list(client.iter_subaccounts())
    sim.faults.inject("me", "api_error", code=77, message=f"compte lié {sub.api_key} refusé")
    with pytest.raises(ApiRejected) as refused:
        client.me()
    assert sub.api_key not in str(refused.value) and sub.api_key not in repr(vars(refused.value))
    assert "***" in str(refused.value)


def test_a_second_listing_still_reads_the_keys_it_has_learnt(client: SmsPartnerClient, sim: Any) -> None:
    (sub,) = _subs(sim, 1)
    for _ in range(2):
        (listed,) = client.iter_subaccounts()
        assert isinstance(listed, SubAccount) and listed.api_key.reveal() == sub.api_key


def test_clients_sharing_a_secret_book_mask_each_others_keys(make_client: Callable[..., SmsPartnerClient], sim: Any) -> None:
    a, b = _subs(sim, 2)
    book = SecretBook()
    client_a, client_b = make_client(key=a.api_key, secrets=book), make_client(key=b.api_key, secrets=book)
    assert a.api_key in book and b.api_key in book
    sim.faults.inject("me", "api_error", code=77, message=f"voir {a.api_key}")
    with pytest.raises(ApiRejected) as refused:
        client_b.me()
    assert a.api_key not in str(refused.value)
    client_a.learn_secrets([Secret("sim-sub-learnt-later-0000000000")])
    assert "sim-sub-learnt-later-0000000000" in book


def test_key_echo_of_a_subaccount_key_is_masked(make_client: Callable[..., SmsPartnerClient], sim: Any) -> None:
    (sub,) = _subs(sim, 1)
    own = make_client(key=sub.api_key)
    sim.faults.inject("group/list", "key_echo", style="all")
    with pytest.raises(AuthError) as refused:
        own.group_list()
    assert sub.api_key.lower() not in str(refused.value).lower()
