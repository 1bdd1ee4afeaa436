"""Every endpoint and every quirk switch, over a real socket against the simulator."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, datetime, timedelta, timezone
from decimal import Decimal
from typing import Any

import pytest

from etl.api import MessageStatus, RetryPolicy, SmsPartnerClient, StatusItem, Stop
from etl.errors import ApiRejected, AuthError, NotFound, PayloadError
from tests.api.helpers import rental_numbers

UTC = timezone.utc
A, B, C = "+33612345678", "+33698765432", "+33611223344"


def _delivered_message(sim: Any, phones: list[str], **send: Any) -> str:
    mid = sim.send(phones, "hello", **send)
    for phone in phones:
        sim.plan(mid, phone, [(timedelta(0), "Waiting"), (timedelta(minutes=2), "Delivered")], cost_after=timedelta(0))
    sim.clock.advance(timedelta(minutes=10))
    return str(mid)


# ---------------------------------------------------------------------------------------------- /me


@pytest.mark.parametrize("names", ["doc", "go"], ids=["creditSmsECO", "creditSmsLowCost-solde"])
def test_me_reads_account_and_credits_under_both_spellings(client: SmsPartnerClient, sim: Any, names: str) -> None:
    sim.quirks.update(me_credit_names=names)
    account = client.me()
    assert account.username == "simulator@example.invalid"
    assert account.balance == Decimal("10225.119") and account.currency == "EUR"
    assert account.credit_sms is not None and account.credit_sms_eco is not None


@pytest.mark.parametrize("style", ["documented", "strings", "floats"])
def test_me_balance_is_an_exact_decimal_whatever_the_json_type(client: SmsPartnerClient, sim: Any, style: str) -> None:
    sim.quirks.update(decimal_style=style)
    assert client.me().balance == Decimal("10225.119")


@pytest.mark.parametrize("http_status", [200, 400], ids=["error-with-200", "error-with-400"])
@pytest.mark.parametrize("error_key", ["message", "error"])
def test_bad_key_is_auth_error_whatever_the_http_status_and_error_key(
    make_client: Callable[..., SmsPartnerClient], sim: Any, http_status: int, error_key: str
) -> None:
    sim.quirks.update(error_http_status=http_status, error_key=error_key)
    with pytest.raises(AuthError) as info:
        make_client(key="wrong-key").me()
    assert info.value.code == 10 and info.value.api_message == "Clé API incorrecte"
    assert len(sim.calls_to("me")) == 1  # never retried


def test_empty_key_is_auth_error_code_1(make_client: Callable[..., SmsPartnerClient]) -> None:
    with pytest.raises(AuthError) as info:
        make_client(key="").me()
    assert info.value.code == 1


def test_client_asks_json_with_key_in_query_for_get_and_body_for_post(client: SmsPartnerClient, sim: Any) -> None:
    client.me()
    client.add_stop(A)
    me_call, add_call = sim.calls_to("me")[0], sim.calls_to("stop-sms/add")[0]
    assert me_call.method == "GET" and add_call.method == "POST"
    assert "_format" not in me_call.params and me_call.params["apiKey"] == "***"
    assert add_call.params["phoneNumber"] == A and "phoneNumbers" not in add_call.params  # quirk 2


# ---------------------------------------------------------------------------------------------- stop list


@pytest.mark.parametrize("id_style", ["documented", "strings"])
def test_iter_stops_small_list_matches_ground_truth(client: SmsPartnerClient, sim: Any, id_style: str) -> None:
    sim.quirks.update(id_style=id_style)
    created = datetime(2015, 7, 20, 10, 19, 45, tzinfo=UTC)
    sim.add_stop(A, created_at=created)
    sim.add_stop("0698765432")
    stops = list(client.iter_stops())
    assert [type(s) for s in stops] == [Stop, Stop]
    assert {(s.stop_id, s.phone_e164) for s in stops} == {(sid, phone) for sid, phone, _ in sim.stops()}
    first = next(s for s in stops if s.phone_e164 == A)
    assert first.created_at == created and first.phone_raw == A and isinstance(first.stop_id, int)


def test_iter_stops_streams_a_list_bigger_than_the_head(client: SmsPartnerClient, sim: Any) -> None:
    sim.generate_stops(5000)
    stops = list(client.iter_stops())
    truth = sim.stops()
    assert len(stops) == 5000
    assert [(s.stop_id, s.phone_e164) for s in stops] == [(sid, phone) for sid, phone, _ in truth]
    assert [s.created_at for s in stops] == [created.astimezone(UTC) for _, _, created in truth]
    assert all(s.created_at is not None and s.created_at.tzinfo is UTC for s in stops)


def test_iter_stops_empty_list(client: SmsPartnerClient) -> None:
    assert list(client.iter_stops()) == []


def test_add_stop_returns_the_new_id(client: SmsPartnerClient, sim: Any) -> None:
    result = client.add_stop(A)
    assert result.code == 200 and result.stop_id == sim.stop_id_of(A)


def test_add_stop_twice_is_rejected_with_code_3(client: SmsPartnerClient, sim: Any) -> None:
    client.add_stop(A)
    with pytest.raises(ApiRejected) as info:
        client.add_stop(A)
    assert info.value.code == 3 and type(info.value) is ApiRejected


def test_add_stop_twice_idempotent_quirk(client: SmsPartnerClient, sim: Any) -> None:
    sim.quirks.update(stop_add_duplicate="idempotent")
    first = client.add_stop(A)
    assert client.add_stop(A).stop_id == first.stop_id


def test_delete_stop_by_id_then_not_found(client: SmsPartnerClient, sim: Any) -> None:
    stop_id = sim.add_stop(A)
    assert client.delete_stop(stop_id).code == 200
    assert sim.stop_id_of(A) is None and not client.stop_exists(stop_id)
    with pytest.raises(NotFound) as info:
        client.delete_stop(stop_id)
    assert info.value.code == 4


# ---------------------------------------------------------------------------------------------- statuses


@pytest.mark.parametrize(
    "quirks",
    [
        {},
        {"message_status_key": "status"},
        {"message_status_date": "epoch"},
        {"message_status_number": "international"},
        {"id_style": "ints"},
        {"stop_flag_style": "string"},
        {"stop_flag_key": "stopSMS"},
        {"decimal_style": "strings"},
    ],
    ids=["documented", "status-key", "epoch-date", "intl-number", "int-ids", "stop-flag-string", "stopSMS-key",
         "cost-string"],
)
def test_message_status_reads_every_quirk_alike(client: SmsPartnerClient, sim: Any, quirks: dict[str, Any]) -> None:
    sim.quirks.update(**quirks)
    mid = _delivered_message(sim, [A])
    status = client.message_status(mid, A)
    truth = sim.recipient_truth(mid, A)
    assert isinstance(status, MessageStatus)
    assert status.message_id == mid and status.phone_e164 == A
    assert status.status == "Delivered" == truth["status"] and status.final
    assert status.status_at == truth["date"].astimezone(UTC)
    assert status.cost == truth["cost"] and isinstance(status.cost, Decimal)
    assert status.currency == "EUR" and status.country == "FR" and status.stop_sms is False


@pytest.mark.parametrize("style", ["absent", "null", "zero"])
def test_message_status_cost_missing_at_first_then_appearing(client: SmsPartnerClient, sim: Any, style: str) -> None:
    sim.quirks.update(cost_missing_style=style)
    mid = sim.send([A], "hello")
    sim.plan(mid, A, [(timedelta(0), "Waiting"), (timedelta(minutes=1), "Delivered")], cost_after=timedelta(hours=1))
    sim.clock.advance(timedelta(minutes=5))
    early = client.message_status(mid, A)
    assert early.cost == (Decimal(0) if style == "zero" else None)
    sim.clock.advance(timedelta(hours=2))
    assert client.message_status(mid, A).cost == Decimal("0.045")


def test_message_status_unknown_pair_is_not_found(client: SmsPartnerClient, sim: Any) -> None:
    mid = sim.send([A], "hello")
    with pytest.raises(NotFound) as info:
        client.message_status(mid, B)
    assert info.value.code == 4 and info.value.endpoint == "message-status"


def test_multi_status_flags_unknown_pairs_never_as_a_status(client: SmsPartnerClient, sim: Any) -> None:
    mid = _delivered_message(sim, [A, B])
    items = client.multi_status([(mid, A), (mid, B), (mid, C), ("999999", A)])
    assert [type(i) for i in items] == [StatusItem] * 4
    assert [(i.message_id, i.phone_e164, i.ok, i.status) for i in items] == [
        (mid, A, True, "Delivered"),
        (mid, B, True, "Delivered"),
        (mid, C, False, None),
        ("999999", A, False, None),
    ]
    assert items[2].not_found and items[2].error == "Numéro introuvable"
    assert sim.calls_to("multi-status")[0].method == "POST"


def test_multi_status_still_works_when_get_is_refused(client: SmsPartnerClient, sim: Any) -> None:
    sim.quirks.update(multi_status_get=False)  # quirk 8: the client always POSTs
    mid = _delivered_message(sim, [A])
    assert client.multi_status([(mid, A)])[0].status == "Delivered"


def test_multi_status_refuses_more_than_500_pairs_without_calling(client: SmsPartnerClient, sim: Any) -> None:
    with pytest.raises(ValueError):
        client.multi_status([("1", A)] * 501)
    assert client.multi_status([]) == []
    assert sim.calls_to("multi-status") == []


def test_bulk_status_lists_every_recipient(client: SmsPartnerClient, sim: Any) -> None:
    mid = _delivered_message(sim, [A, B])
    sim.add_stop(B)
    items = client.bulk_status(mid)
    assert sorted((i.message_id, i.phone_e164, i.status, i.stop_sms) for i in items) == [
        (mid, A, "Delivered", False),
        (mid, B, "Delivered", True),
    ]
    with pytest.raises(NotFound):
        client.bulk_status("424242")


@pytest.mark.parametrize("total_meaning", ["items", "pages"])
@pytest.mark.parametrize("with_ids", [False, True], ids=["documented-no-ids", "ids"])
@pytest.mark.parametrize("page_size", [2, 3, 500])
def test_iter_bulk_status_by_tag_reads_every_page_once(
    client: SmsPartnerClient, sim: Any, total_meaning: str, with_ids: bool, page_size: int
) -> None:
    sim.quirks.update(tag_page_size=page_size, tag_total_meaning=total_meaning, tag_items_message_id=with_ids)
    phones = [f"+3361234{n:04d}" for n in range(7)]
    first = _delivered_message(sim, phones[:4], tag="promo")
    second = _delivered_message(sim, phones[4:], tag="promo")
    _delivered_message(sim, [A], tag="other")
    items = list(client.iter_bulk_status_by_tag("promo"))
    assert sorted(i.phone_e164 for i in items) == sorted(phones)
    if with_ids:
        assert sorted({i.message_id for i in items}) == sorted({first, second})
    else:
        assert {i.message_id for i in items} == {""}
    pages = -(-7 // page_size)
    assert len(sim.calls_to("bulk-status-by-tag")) <= pages + 1


def test_iter_bulk_status_by_tag_refuses_a_repeated_page(client: SmsPartnerClient, sim: Any) -> None:
    sim.quirks.update(tag_page_size=2)
    _delivered_message(sim, [f"+3361234{n:04d}" for n in range(6)], tag="promo")
    pages = client.iter_bulk_status_by_tag("promo")
    next(pages), next(pages)  # page 1 read
    sim.faults.inject("bulk-status-by-tag", "wrong_types", field="currentPage", value=1)
    with pytest.raises(PayloadError) as info:
        list(pages)
    assert info.value.field == "currentPage"


def test_iter_bulk_status_by_tag_unknown_tag_is_not_found(client: SmsPartnerClient) -> None:
    with pytest.raises(NotFound):
        list(client.iter_bulk_status_by_tag("nothing"))


# ---------------------------------------------------------------------------------------------- costs


def test_cost_resume_last_month_and_custom(client: SmsPartnerClient, sim: Any) -> None:
    sim.clock.set(datetime(2024, 3, 10, 12, tzinfo=UTC))
    _delivered_message(sim, [A, B])
    sim.clock.set(datetime(2024, 4, 10, 12, tzinfo=UTC))
    [march] = client.cost_resume()
    assert (march.year, march.month, march.nb_send) == (2024, 3, 2)
    assert march.cost == Decimal("0.090")
    months = client.cost_resume("custom", date(2024, 2, 1), date(2024, 4, 30))
    assert [(m.year, m.month) for m in months] == [(2024, 2), (2024, 3), (2024, 4)]
    with pytest.raises(ValueError):
        client.cost_resume("custom")


def test_cost_resume_rate_limit_is_waited_out_with_retry_after(
    make_client: Callable[..., SmsPartnerClient], sim: Any
) -> None:
    waits: list[float] = []

    def sleep(seconds: float) -> None:  # time passes on the simulator's clock
        waits.append(seconds)
        sim.clock.advance(seconds)

    client = make_client(sleep=sleep, retry_policy=RetryPolicy(max_attempts=3, max_seconds=300, wait_max=120))
    for _ in range(6):
        client.cost_resume()
    assert waits == [60.0]  # the 6th call in the same simulated minute waits the full Retry-After
    assert [c.http_status for c in sim.calls_to("statistics/cost-resume")].count(429) == 1


# ---------------------------------------------------------------------------------------------- rentals


@pytest.mark.parametrize("numeric", [False, True], ids=["status-text", "status-numeric"])
def test_rental_status(client: SmsPartnerClient, sim: Any, numeric: bool) -> None:
    sim.quirks.update(rental_status_numeric=numeric)
    sim.add_rental("tok", [A, B], status=2)
    status = client.rental_status("tok")
    assert status.token == "tok" and status.count == 2
    if numeric:
        assert status.state == 2 and status.status_text is None
    else:
        assert status.state is None and status.status_text
    with pytest.raises(NotFound) as info:
        client.rental_status("nope")
    assert info.value.code == 32


@pytest.mark.parametrize("with_code", [False, True], ids=["no-code-quirk-19", "code-200"])
def test_rental_file_streams_rows_and_stop_flags(client: SmsPartnerClient, sim: Any, with_code: bool) -> None:
    sim.quirks.update(rental_download_code=with_code)
    sim.add_rental("tok", [A, B])
    sim.set_rental_stop("tok", B, True)
    rows = rental_numbers(client, "tok")
    assert [(r.rental_id, r.phone_e164, r.stop) for r in rows] == [
        (str(rid), phone, stop) for rid, phone, stop in sim.rental_rows("tok")
    ]
    assert [r.stop for r in rows] == [False, True]


def test_rental_file_big_file_is_streamed(client: SmsPartnerClient, sim: Any) -> None:
    sim.add_rental("big", 3000, stop_share=0.1)
    rows = rental_numbers(client, "big")
    assert [(r.rental_id, r.phone_e164, r.stop) for r in rows] == [
        (str(rid), phone, stop) for rid, phone, stop in sim.rental_rows("big")
    ]


@pytest.mark.parametrize(
    ("setup", "code", "exc"),
    [
        (lambda sim: sim.add_rental("t", [A], status=1), 35, ApiRejected),
        (lambda sim: sim.add_rental("t", [A], status=3), 36, ApiRejected),
        (lambda sim: (sim.add_rental("t", [A]), sim.remove_rental_file("t")), 33, NotFound),
        (lambda sim: None, 32, NotFound),
    ],
    ids=["generating-35", "failed-36", "file-missing-33", "unknown-32"],
)
def test_rental_file_codes(client: SmsPartnerClient, sim: Any, setup: Any, code: int, exc: type) -> None:
    setup(sim)
    with pytest.raises(exc) as info:
        rental_numbers(client, "t")
    assert info.value.code == code and type(info.value) is exc


def test_rental_file_second_download_of_single_use_file_is_34(client: SmsPartnerClient, sim: Any) -> None:
    sim.add_rental("t", [A], single_download=True)
    assert len(rental_numbers(client, "t")) == 1
    with pytest.raises(ApiRejected) as info:
        rental_numbers(client, "t")
    assert info.value.code == 34


# ---------------------------------------------------------------------------------------------- send, cancel


def test_send_returns_a_string_id_and_exact_cost(client: SmsPartnerClient, sim: Any) -> None:
    result = client.send([A, B], "hello", tag="promo")
    assert result.message_id.isdigit() and result.nb_sms == 2
    assert result.cost == Decimal("0.090") and result.currency == "EUR"
    assert {i.phone_e164 for i in client.bulk_status(result.message_id)} == {A, B}


def test_send_scheduled_then_cancel_then_already_cancelled(client: SmsPartnerClient, sim: Any) -> None:
    sim.clock.set(datetime(2024, 5, 6, 8, 0, tzinfo=UTC))
    when = datetime(2024, 5, 6, 12, 30, tzinfo=UTC)
    result = client.send([A], "later", scheduled_at=when)
    assert result.scheduled_at == when
    cancelled = client.cancel_message(result.message_id)
    assert cancelled.code == 200 and cancelled.message
    with pytest.raises(ApiRejected) as info:
        client.cancel_message(result.message_id)
    assert info.value.code == 5
    with pytest.raises(NotFound):
        client.cancel_message("999999")


def test_send_validation_error_array_is_one_rejection(client: SmsPartnerClient, sim: Any) -> None:
    with pytest.raises(ApiRejected) as info:
        client.send([A], "hi", tag="has space")
    assert info.value.code == 9 and "tag" in info.value.api_message


def test_send_refuses_bad_arguments_locally(client: SmsPartnerClient) -> None:
    with pytest.raises(ValueError):
        client.send([], "x")
    with pytest.raises(ValueError):
        client.send([A], "x", scheduled_at=datetime(2030, 1, 1, 10, 3, tzinfo=UTC))
    with pytest.raises(ValueError):
        client.send([A], "x", scheduled_at=datetime(2030, 1, 1, 10, 5))


def test_sandbox_message_purged_next_day_is_not_found(client: SmsPartnerClient, sim: Any) -> None:
    result = client.send([A], "test", sandbox=True)
    assert client.message_status(result.message_id, A).message_id == result.message_id
    sim.clock.advance(timedelta(days=1))
    with pytest.raises(NotFound):
        client.message_status(result.message_id, A)
