"""The receiver over real sockets, the simulator calling it, on SQLite, PostgreSQL and MariaDB."""

from __future__ import annotations

import http.client
import json
import logging
import socket
import time
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import text

from etl.config import PushConfig, Secret
from etl.db.engine import make_engine, writer
from etl.push.apply import resolve_pending
from etl.push.receiver import PushReceiver
from etl.tracking import TrackedSend, track
from tests.jobs.helpers import make_client, make_config, run, sim_clock

TOKEN = "push-test-token-0123456789"
PHONE = "+33612345678"


def wait_for(condition: Callable[[], Any], timeout: float = 10.0) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(0.02)
    raise AssertionError("condition not met in time")


def rows(engine, sql: str, **params: Any) -> list[tuple[Any, ...]]:
    with engine.connect() as conn:
        out = [tuple(r) for r in conn.execute(text(sql), params)]
        conn.rollback()
    return out


def post(receiver: PushReceiver, path: str, payload: Any = None, *, raw: bytes | None = None, method: str = "POST",
         headers: dict[str, str] | None = None) -> tuple[int, dict[str, Any]]:
    conn = http.client.HTTPConnection("127.0.0.1", receiver.port, timeout=10)
    data = raw if raw is not None else (json.dumps(payload).encode() if payload is not None else None)
    conn.request(method, path, body=data, headers={"Content-Type": "application/json", **(headers or {})})
    answer = conn.getresponse()
    status, body = answer.status, answer.read()
    conn.close()
    return status, json.loads(body or b"{}")


@pytest.fixture
def env(migrated_db_url, simulator):
    engine = make_engine(migrated_db_url)
    sim = simulator.sim
    config = make_config(migrated_db_url, simulator.base_url)
    client = make_client(simulator.base_url)
    started: list[PushReceiver] = []

    def start(**push: Any) -> PushReceiver:
        settings = dict(enabled=True, port=0, path_token=Secret(TOKEN))
        settings.update(push)
        receiver = PushReceiver(PushConfig(**settings), engine, clock=sim_clock(sim), resolve_every=0, idle_seconds=0.1).start()
        started.append(receiver)
        return receiver

    yield engine, sim, config, client, start
    for receiver in started:
        receiver.stop()
    engine.dispose()


def attach(sim, receiver: PushReceiver, **kwargs: Any) -> Any:
    return sim.attach_callbacks(stop_url=receiver.url("stop"), dlr_url=receiver.url("dlr"), interval=0.02, **kwargs)


def periods(engine, phone: str = PHONE) -> list[tuple[Any, ...]]:
    return rows(engine, "SELECT api_stop_id, source, removed_at FROM stop_periods WHERE phone_e164 = :p ORDER BY id", p=phone)


def inbox(engine) -> list[tuple[Any, ...]]:
    return rows(engine, "SELECT kind, state, detail FROM push_inbox ORDER BY id")


def sync_stops(engine, config, client, sim):
    # On MariaDB the receiver gives the stops lock back just *after* committing what a test waits for
    # (etl/push/apply.py): a sync started in that instant is skipped as locked, so it is tried again.
    report = wait_for(lambda: (r := run("stops", engine, config, client, now=sim_clock(sim))).outcome != "skipped" and r)
    assert report.outcome == "success", report
    return report


def track_send(engine, config, sim, mid: str, phones: list[str]) -> None:
    now = sim_clock(sim)()
    track(engine, [TrackedSend(mid, phones, sent_at=now)], now=now, config=config.statuses)


# --- STOPs -------------------------------------------------------------------------------------------


def test_pushed_stop_opens_a_period_at_once_and_the_next_sync_adopts_it_as_the_same_period(env):
    engine, sim, config, client, start = env
    receiver = start()
    attach(sim, receiver)

    sim.inbound_sms(PHONE, "STOP", message_id=300001)

    assert wait_for(lambda: periods(engine)) == [(None, "push", None)]
    report = sync_stops(engine, config, client, sim)
    assert periods(engine) == [(sim.stop_id_of(PHONE), "push", None)]
    assert report.result.figures["adopted_pushed"] == 1 and report.result.added == 0
    assert rows(engine, "SELECT kind, text, message_id FROM replies") == [("stop", "STOP", "300001")]
    assert rows(engine, "SELECT COUNT(*) FROM current_stops") == [(1,)]


def test_stop_pushed_for_a_number_already_stopped_opens_nothing(env):
    engine, sim, config, client, start = env
    sim.add_stop(PHONE)
    sync_stops(engine, config, client, sim)
    receiver = start()

    status, answer = post(receiver, f"/{TOKEN}/stop", {"type": "stop", "phone_number": "06 12 34 56 78", "text": "STOP"})

    assert status == 200 and answer == {"ok": True, "duplicate": False}
    wait_for(lambda: inbox(engine) == [("stop", "applied", "already_stopped")])
    assert [p[1] for p in periods(engine)] == ["sync"]


def test_replayed_and_reordered_duplicate_callbacks_are_stored_and_applied_once(env):
    engine, sim, config, client, start = env
    receiver = start()
    first = post(receiver, f"/{TOKEN}/stop", raw=b'{"type": "stop", "phone_number": "+33612345678", "message_id": 5, "text": "STOP"}')
    again = post(receiver, f"/{TOKEN}/stop", raw=b'{"text":"STOP","message_id":5,"phone_number":"+33612345678","type":"stop"}')

    assert first == (200, {"ok": True, "duplicate": False})
    assert again == (200, {"ok": True, "duplicate": True})
    wait_for(lambda: inbox(engine) == [("stop", "applied", "opened")])
    # A second, different STOP from the same number (another message) adds nothing either.
    post(receiver, f"/{TOKEN}/stop", {"type": "stop", "phone_number": PHONE, "message_id": 6, "text": "stop"})
    wait_for(lambda: [r[2] for r in inbox(engine)] == ["opened", "already_stopped"])
    assert len(periods(engine)) == 1
    assert receiver.counters.get("duplicate", "stop") == 1 and receiver.counters.get("accepted", "stop") == 2


def test_replies_are_stored_and_open_no_period(env):
    engine, sim, config, client, start = env
    receiver = start()
    attach(sim, receiver)

    sim.inbound_sms(PHONE, "Oui merci", message_id=300001)
    sim.inbound_sms("+33698765432", "STOP please", style="long")

    wait_for(lambda: len(rows(engine, "SELECT id FROM replies")) == 2)
    assert sorted(rows(engine, "SELECT kind, phone_e164, text FROM replies")) == [
        ("response", PHONE, "Oui merci"),
        ("text", "+33698765432", "STOP please"),
    ]
    assert rows(engine, "SELECT COUNT(*) FROM stop_periods") == [(0,)]


def test_a_sync_that_already_opened_the_number_wins_over_a_late_push(env):
    engine, sim, config, client, start = env
    sim.add_stop(PHONE)
    receiver = start()
    attach(sim, receiver)
    sync_stops(engine, config, client, sim)  # the poll saw the STOP before the callback came in

    sim.inbound_sms(PHONE, "STOP")

    wait_for(lambda: ("stop", "applied", "already_stopped") in inbox(engine))
    sync_stops(engine, config, client, sim)
    assert periods(engine) == [(sim.stop_id_of(PHONE), "sync", None)]


# --- delivery reports --------------------------------------------------------------------------------


def test_report_for_an_untracked_message_waits_in_the_inbox_and_is_resolved_once_tracked(env):
    engine, sim, config, client, start = env
    receiver = start()
    attach(sim, receiver)
    mid = sim.send([PHONE], "hello")
    sim.plan(mid, PHONE, [(timedelta(seconds=20), "Delivered")])

    sim.clock.advance(timedelta(minutes=1))

    wait_for(lambda: inbox(engine) == [("dlr", "waiting", "message not tracked yet")])
    track_send(engine, config, sim, mid, [PHONE])
    with writer(engine).begin() as conn:
        result = resolve_pending(conn, sim_clock(sim)())
    assert result.applied == 1
    assert inbox(engine) == [("dlr", "applied", "status_recorded")]
    assert rows(engine, "SELECT status, source FROM status_events") == [("Delivered", "push")]
    # The poll confirms: the recipient becomes final through polling, the source of truth.
    report = run("statuses", engine, config, client, now=sim_clock(sim))
    assert report.outcome == "success"
    assert rows(engine, "SELECT status, final FROM recipients") == [("Delivered", True)]


def test_out_of_order_reports_never_move_a_status_backwards(env):
    engine, sim, config, client, start = env
    receiver = start()
    mid = sim.send([PHONE], "hello")
    track_send(engine, config, sim, mid, [PHONE])
    t0 = int(sim.clock.now().timestamp())
    late = {"messageId": mid, "phoneNumber": PHONE, "status": "DELIVRD", "date": str(t0 + 60)}
    early = {"messageId": mid, "phoneNumber": PHONE, "status": "ENROUTE", "date": str(t0 + 5)}

    assert post(receiver, f"/{TOKEN}/dlr", late)[0] == 200
    wait_for(lambda: inbox(engine) == [("dlr", "applied", "status_recorded")])
    assert post(receiver, f"/{TOKEN}/dlr", early)[0] == 200
    assert post(receiver, f"/{TOKEN}/dlr", late) == (200, {"ok": True, "duplicate": True})

    wait_for(lambda: [r[2] for r in inbox(engine)] == ["status_recorded", "stale"])
    assert rows(engine, "SELECT status, source FROM status_events") == [("Delivered", "push")]
    poll_at = rows(engine, "SELECT next_poll_at FROM recipients")[0][0]
    assert poll_at is not None  # only a poll makes it final


def test_simulated_reports_arrive_at_their_simulated_times(env):
    engine, sim, config, client, start = env
    receiver = start()
    mid = sim.send([PHONE, "+33698765432"], "hello")
    sim.plan(mid, PHONE, [(timedelta(seconds=5), "Waiting"), (timedelta(minutes=10), "Delivered")])
    sim.plan(mid, "+33698765432", [(timedelta(minutes=30), "Not delivered")])
    track_send(engine, config, sim, mid, [PHONE, "+33698765432"])
    dispatcher = attach(sim, receiver)

    sim.clock.advance(timedelta(minutes=11))
    wait_for(lambda: len(dispatcher.delivered("dlr")) == 2)
    time.sleep(0.2)
    assert len(dispatcher.delivered("dlr")) == 2  # the 30-minute report is not due yet
    sim.clock.advance(timedelta(minutes=20))
    wait_for(lambda: len(rows(engine, "SELECT id FROM status_events")) == 3)
    assert rows(engine, "SELECT r.phone_e164, e.status FROM status_events e JOIN recipients r ON r.id = e.recipient_id ORDER BY e.id") == [
        (PHONE, "Waiting"), (PHONE, "Delivered"), ("+33698765432", "Not delivered"),
    ]
    assert all(d.outcome == "200" for d in dispatcher.delivered("dlr"))


# --- refusals ----------------------------------------------------------------------------------------


def test_wrong_token_other_network_oversized_malformed_and_unknown_types_are_refused_and_counted(env, caplog):
    engine, sim, config, client, start = env
    receiver = start(max_body_bytes=512)
    secret_text = "Mon code secret 4242"
    caplog.set_level(logging.DEBUG, logger="etl.push")

    assert post(receiver, "/wrong-token-0123456789/stop", {"type": "stop", "phone_number": PHONE})[0] == 404
    assert post(receiver, f"/{TOKEN}/stop/extra/more", {"type": "stop", "phone_number": PHONE})[0] == 404
    assert post(receiver, f"/{TOKEN}/other", {"type": "stop", "phone_number": PHONE})[0] == 404
    assert post(receiver, f"/{TOKEN}/stop", raw=b"x" * 513)[0] == 413
    assert post(receiver, f"/{TOKEN}/stop", raw=b'{"type": "stop", "phone_number": ')[0] == 400
    assert post(receiver, f"/{TOKEN}/stop", {"type": "mms", "phone_number": PHONE, "text": secret_text})[0] == 422
    assert post(receiver, f"/{TOKEN}/stop", method="GET")[0] == 405
    closed = start(allowed_networks=("10.0.0.0/8",))
    assert post(closed, f"/{TOKEN}/stop", {"type": "stop", "phone_number": PHONE})[0] == 404

    counts = {reason: receiver.counters.get("refused", reason) for reason in
              ("bad_token", "unknown_channel", "too_large", "bad_json", "unknown_type", "method")}
    assert counts == {"bad_token": 2, "unknown_channel": 1, "too_large": 1, "bad_json": 1, "unknown_type": 1, "method": 1}
    assert closed.counters.get("refused", "network") == 1
    assert rows(engine, "SELECT COUNT(*) FROM push_inbox") == [(0,)]
    logged = caplog.text
    assert "bad_token" in logged and "too_large" in logged and "unknown_type" in logged
    assert TOKEN not in logged and "wrong-token" not in logged and secret_text not in logged and PHONE not in logged


def raw_request(receiver: PushReceiver, request: bytes) -> bytes:
    with socket.create_connection(("127.0.0.1", receiver.port), timeout=5) as sock:
        sock.sendall(request)
        return sock.recv(4096)


def test_chunked_bodies_and_requests_the_http_parser_refuses_are_counted_and_logged_without_the_path(env, caplog):
    engine, sim, config, client, start = env
    receiver = start()
    caplog.set_level(logging.DEBUG)
    body = b'{"type": "stop", "phone_number": "+33612345678"}'

    chunked = raw_request(receiver, f"POST /{TOKEN}/stop HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n".encode()
                          + b"%x\r\n%s\r\n0\r\n\r\n" % (len(body), body))
    not_http = raw_request(receiver, f"POST /{TOKEN}/stop HTTP/1.1\r\nHost: x\r\nContent-Length: {PHONE}\r\n\r\n".encode())

    assert chunked.startswith(b"HTTP/1.1 411 ")
    assert not_http.split(b"\r\n", 1)[0].endswith(b" 400 Bad Request")  # aiohttp's parser answers it itself
    assert receiver.counters.get("refused", "length_required") == 1 and receiver.counters.get("refused", "bad_http") == 1
    assert "bad_http" in caplog.text and TOKEN not in caplog.text and PHONE not in caplog.text
    assert rows(engine, "SELECT COUNT(*) FROM push_inbox") == [(0,)]


@pytest.mark.backends("sqlite")
def test_a_stuck_database_is_answered_503_after_the_answer_timeout_and_the_retry_is_stored(env, migrated_db_url):
    engine, sim, config, client, start = env
    settings = PushConfig(enabled=True, port=0, path_token=Secret(TOKEN))
    receiver = PushReceiver(settings, engine, clock=sim_clock(sim), answer_timeout=0.5, idle_seconds=0.1).start()
    blocker = writer(make_engine(migrated_db_url, pool=False)).connect()
    try:
        lock = blocker.begin()  # BEGIN IMMEDIATE: another writer holds SQLite's write lock
        started = time.monotonic()
        assert post(receiver, f"/{TOKEN}/stop", {"type": "stop", "phone_number": PHONE}) == (503, {"ok": False, "error": "db_error"})
        assert time.monotonic() - started < 5
        lock.rollback()
        status, answer = post(receiver, f"/{TOKEN}/stop", {"type": "stop", "phone_number": PHONE})
    finally:
        blocker.close()
        receiver.stop()
    assert status == 200  # stored now (or already stored by the stuck batch: then a duplicate)
    assert receiver.counters.get("refused", "db_error") == 1
    assert rows(engine, "SELECT kind, state FROM push_inbox") == [("stop", "applied")]


# --- robustness --------------------------------------------------------------------------------------


def test_receiver_down_while_the_simulator_pushes_the_next_poll_still_gets_everything(env):
    engine, sim, config, client, start = env
    receiver = start()
    url_stop, url_dlr = receiver.url("stop"), receiver.url("dlr")
    receiver.stop()  # nothing listens on that port any more
    dispatcher = sim.attach_callbacks(stop_url=url_stop, dlr_url=url_dlr, interval=0.02, timeout=0.5)
    mid = sim.send([PHONE], "hello")
    sim.plan(mid, PHONE, [(timedelta(seconds=30), "Delivered")])
    track_send(engine, config, sim, mid, [PHONE])

    sim.inbound_sms("+33698765432", "STOP")
    sim.clock.advance(timedelta(minutes=2))
    wait_for(lambda: len(dispatcher.delivered()) == 2 and all(d.outcome != "pending" for d in dispatcher.delivered()))

    assert all(not d.outcome.startswith("2") for d in dispatcher.delivered())
    assert rows(engine, "SELECT COUNT(*) FROM push_inbox") == [(0,)]
    sync_stops(engine, config, client, sim)
    run("statuses", engine, config, client, now=sim_clock(sim))
    assert periods(engine, "+33698765432") == [(sim.stop_id_of("+33698765432"), "sync", None)]
    assert rows(engine, "SELECT status, final FROM recipients") == [("Delivered", True)]


def test_callbacks_stored_but_not_applied_before_a_crash_are_applied_at_the_next_start(env):
    engine, sim, config, client, start = env
    settings = PushConfig(enabled=True, port=0, path_token=Secret(TOKEN))
    crashed = PushReceiver(settings, engine, clock=sim_clock(sim), apply=False).start()
    assert post(crashed, f"/{TOKEN}/stop", {"type": "stop", "phone_number": PHONE})[0] == 200
    crashed.stop()
    assert inbox(engine) == [("stop", "new", None)]

    start()

    wait_for(lambda: inbox(engine) == [("stop", "applied", "opened")])
    assert periods(engine) == [(None, "push", None)]


# --- unreadable bodies: refused, quarantined, deduplicated ---------------------------------------------


def rejected(engine) -> list[tuple[Any, ...]]:
    return rows(engine, "SELECT endpoint, ref_kind, ref, reason, times_seen FROM rejected_items ORDER BY id")


def test_deeply_nested_json_is_refused_400_and_counted_with_nothing_stored_and_no_traceback(env, caplog):
    engine, sim, config, client, start = env
    receiver = start(max_body_bytes=200_000)
    caplog.set_level(logging.DEBUG)
    nested_field = b'{"type": "stop", "phone_number": "+33612345678", "x": ' + b"[" * 40 + b"]" * 40 + b"}"

    assert post(receiver, f"/{TOKEN}/stop", raw=b"[" * 100_000) == (400, {"ok": False, "error": "bad_json"})
    assert post(receiver, f"/{TOKEN}/dlr", raw=b'{"a": ' * 30_000) == (400, {"ok": False, "error": "bad_json"})
    assert post(receiver, f"/{TOKEN}/stop", raw=nested_field) == (400, {"ok": False, "error": "bad_json"})

    assert receiver.counters.get("refused", "bad_json") == 3
    assert rows(engine, "SELECT COUNT(*) FROM push_inbox") == [(0,)]
    assert rows(engine, "SELECT COUNT(*) FROM rejected_items") == [(0,)]
    assert "Traceback" not in caplog.text and "RecursionError" not in caplog.text
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]


def test_nan_or_infinity_in_a_callback_is_refused_and_the_body_quarantined_not_stored(env):
    engine, sim, config, client, start = env
    receiver = start()
    report = b'{"messageId": "7", "phoneNumber": "+33612345678", "status": "DELIVRD", "cost": NaN}'
    reply = b'{"type": "response", "phone_number": "+33612345678", "text": "oui", "message_id": Infinity}'

    assert post(receiver, f"/{TOKEN}/dlr", raw=report) == (422, {"ok": False, "error": "bad_field"})
    assert post(receiver, f"/{TOKEN}/dlr", raw=report)[0] == 422
    assert post(receiver, f"/{TOKEN}/stop", raw=reply)[0] == 422
    assert post(receiver, f"/{TOKEN}/dlr", {"messageId": "8", "phoneNumber": PHONE, "status": "DELIVRD", "cost": "-Infinity"})[0] == 422

    wait_for(lambda: len(rejected(engine)) == 3 and sum(r[4] for r in rejected(engine)) == 4)
    assert rejected(engine) == [
        ("push/dlr", "push", None, "bad_field: cost: NaN is not a number", 2),
        ("push/stop", "push", None, "bad_field: message_id: Infinity is not a number", 1),
        ("push/dlr", "push", None, "bad_field: cost: -Infinity is not a number", 1),
    ]
    assert rows(engine, "SELECT item FROM rejected_items ORDER BY id")[0] == (report.decode(),)
    assert receiver.counters.get("refused", "bad_field") == 4
    assert rows(engine, "SELECT COUNT(*) FROM push_inbox") == [(0,)]


def test_a_reply_with_int_or_string_id_and_national_or_e164_number_is_stored_once(env):
    engine, sim, config, client, start = env
    receiver = start()
    national = {"type": "response", "phone_number": "06 12 34 56 78", "message_id": 42, "text": "Oui"}
    e164 = {"type": "response", "phone_number": PHONE, "message_id": "42", "text": "Oui"}

    assert post(receiver, f"/{TOKEN}/stop", national) == (200, {"ok": True, "duplicate": False})
    assert post(receiver, f"/{TOKEN}/stop", e164) == (200, {"ok": True, "duplicate": True})
    assert post(receiver, f"/{TOKEN}/stop", {**national, "message_id": "42"}) == (200, {"ok": True, "duplicate": True})
    long_a = {"msisdn": "33612345678", "messageId": 9, "text": "hi", "type": "text"}
    assert post(receiver, f"/{TOKEN}/stop", long_a) == (200, {"ok": True, "duplicate": False})
    assert post(receiver, f"/{TOKEN}/stop", {**long_a, "messageId": "9"}) == (200, {"ok": True, "duplicate": True})
    report = {"messageId": 77, "phoneNumber": "0612345678", "status": "DELIVRD", "date": "1767600000"}
    assert post(receiver, f"/{TOKEN}/dlr", report) == (200, {"ok": True, "duplicate": False})
    assert post(receiver, f"/{TOKEN}/dlr", {**report, "messageId": "77", "phoneNumber": PHONE}) == (200, {"ok": True, "duplicate": True})

    wait_for(lambda: len(rows(engine, "SELECT id FROM replies")) == 2)
    assert rows(engine, "SELECT phone_e164, phone_raw, message_id FROM replies ORDER BY id") == [
        (PHONE, "06 12 34 56 78", "42"), (PHONE, "33612345678", "9"),
    ]
    assert rows(engine, "SELECT COUNT(*) FROM push_inbox") == [(3,)]
    assert receiver.counters.get("duplicate", "stop") == 3 and receiver.counters.get("duplicate", "dlr") == 1


def test_an_accepted_body_that_cannot_be_applied_is_failed_in_the_inbox_and_quarantined(env):
    engine, sim, config, client, start = env
    receiver = start()

    assert post(receiver, f"/{TOKEN}/stop", {"type": "stop", "phone_number": "+999", "text": "STOP"})[0] == 200
    assert post(receiver, f"/{TOKEN}/dlr", {"messageId": "5", "phoneNumber": PHONE, "status": "SOMETHING"})[0] == 200

    wait_for(lambda: len(rejected(engine)) == 2)
    failed = rows(engine, "SELECT id, kind, state, detail FROM push_inbox ORDER BY id")
    assert [r[1:] for r in failed] == [("stop", "failed", "unparseable number"), ("dlr", "failed", "unknown status")]
    assert rejected(engine) == [
        ("push/stop", "push", str(failed[0][0]), "unparseable number", 1),
        ("push/dlr", "push", str(failed[1][0]), "unknown status", 1),
    ]
    assert rows(engine, "SELECT COUNT(*) FROM stop_periods") == [(0,)]
