"""One callback URL per account: ``/<token>/<label>/stop|dlr`` lands on that account's rows, over real sockets
from the simulator's sub-account, on three backends (docs/push.md, "One URL per account")."""

from __future__ import annotations

import logging
from datetime import datetime, timezone

from sqlalchemy import bindparam, text

from etl.audience.filter import filter_audience
from etl.audience.stops import load_stop_set
from etl.db.types import UtcDateTime
from etl.simulator.seedfile import add_subaccount
from tests.push.test_receiver import PHONE, TOKEN, env, inbox, post, rows, track_send, wait_for

__all__ = ["env"]  # the fixture, shared with test_receiver


def _follow(engine, sim, label: str = "shop") -> tuple[int, object]:
    sub = add_subaccount(sim, {"email": f"{label}@example.invalid", "token": f"tok-{label}"})
    with engine.begin() as conn:
        conn.execute(
            text("INSERT INTO accounts (label, type, parent_id, token, first_seen_at) VALUES (:l, 'simple', 1, :t, :n)")
            .bindparams(bindparam("n", datetime.now(timezone.utc), type_=UtcDateTime())),
            {"l": label, "t": sub.token},
        )
        account_id = conn.execute(text("SELECT id FROM accounts WHERE label = :l"), {"l": label}).scalar_one()
    return int(account_id), sub


def test_a_sub_account_stop_lands_on_its_rows_and_blocks_the_number_in_filter_audience(env, tmp_path):
    engine, sim, config, client, start = env
    receiver = start()
    shop_id, sub = _follow(engine, sim)
    sub.account.attach_callbacks(stop_url=receiver.url("stop", account="shop"), dlr_url=receiver.url("dlr", account="shop"),
                                 interval=0.02)

    sub.account.inbound_sms(PHONE, "STOP", message_id=300001)

    assert wait_for(lambda: rows(engine, "SELECT account_id, source FROM stop_periods")) == [(shop_id, "push")]
    assert rows(engine, "SELECT account_id, kind, state, detail FROM push_inbox") == [(shop_id, "stop", "applied", "opened")]
    assert rows(engine, "SELECT i.account_id, r.kind FROM replies r JOIN push_inbox i ON i.id = r.inbox_id") == [(shop_id, "stop")]
    assert [d.url or d.channel for d in sub.account.callbacks.delivered("stop")] == ["stop"]
    audience = tmp_path / "audience.csv"
    audience.write_text(f"phone\n{PHONE}\n+33698765432\n")
    with engine.connect() as conn:
        stops = load_stop_set(conn)
        conn.rollback()
    filter_audience(audience, tmp_path / "allowed.csv", tmp_path / "blocked.csv", stops, workers=0, progress=False)
    assert PHONE in (tmp_path / "blocked.csv").read_text() and PHONE not in (tmp_path / "allowed.csv").read_text()


def test_the_same_body_to_two_accounts_is_two_rows_and_the_parents_urls_still_work(env):
    engine, sim, config, client, start = env
    receiver = start()
    shop_id, _sub = _follow(engine, sim)
    body = {"type": "stop", "phone_number": PHONE, "text": "STOP", "message_id": "42"}

    assert post(receiver, f"/{TOKEN}/stop", body) == (200, {"ok": True, "duplicate": False})
    assert post(receiver, f"/{TOKEN}/shop/stop", body) == (200, {"ok": True, "duplicate": False})
    assert post(receiver, f"/{TOKEN}/shop/stop", body) == (200, {"ok": True, "duplicate": True})

    wait_for(lambda: len(rows(engine, "SELECT id FROM stop_periods")) == 2)
    assert rows(engine, "SELECT account_id, phone_e164 FROM stop_periods ORDER BY account_id") == [(1, PHONE), (shop_id, PHONE)]


def test_a_report_to_a_sub_accounts_url_never_touches_the_parents_recipient(env):
    engine, sim, config, client, start = env
    receiver = start()
    _follow(engine, sim)
    mid = sim.send([PHONE], "hello")
    track_send(engine, config, sim, mid, [PHONE])  # the parent's send
    report = {"messageId": mid, "phoneNumber": PHONE, "status": "DELIVRD", "date": str(int(sim.clock.now().timestamp()) + 5)}

    assert post(receiver, f"/{TOKEN}/shop/dlr", report)[0] == 200
    wait_for(lambda: inbox(engine) == [("dlr", "waiting", "message not tracked yet")])
    assert post(receiver, f"/{TOKEN}/dlr", report)[0] == 200
    wait_for(lambda: [r[1] for r in inbox(engine)] == ["waiting", "applied"])
    assert rows(engine, "SELECT status, source FROM status_events") == [("Delivered", "push")]


def test_an_unknown_label_is_a_404_like_a_bad_token_counted_apart_and_logged_without_the_path(env, caplog):
    engine, sim, config, client, start = env
    receiver = start()
    _follow(engine, sim)
    caplog.set_level(logging.DEBUG)

    unknown = post(receiver, f"/{TOKEN}/nobody/stop", {"type": "stop", "phone_number": PHONE})
    bad_token = post(receiver, "/wrong-token-0123456789/shop/stop", {"type": "stop", "phone_number": PHONE})

    assert unknown == bad_token == (404, {"error": "not found"})
    assert receiver.counters.get("refused", "unknown_account") == 1 and receiver.counters.get("refused", "bad_token") == 1
    assert rows(engine, "SELECT COUNT(*) FROM push_inbox") == [(0,)]
    assert "unknown_account" in caplog.text and TOKEN not in caplog.text and "nobody" not in caplog.text


def test_a_sub_account_recorded_after_the_receiver_started_is_routed_without_a_restart(env):
    engine, sim, config, client, start = env
    receiver = start()
    shop_id, _sub = _follow(engine, sim, "late")

    assert post(receiver, f"/{TOKEN}/late/stop", {"type": "stop", "phone_number": PHONE})[0] == 200
    assert wait_for(lambda: rows(engine, "SELECT account_id FROM stop_periods")) == [(shop_id,)]


def test_a_stop_for_a_gone_sub_account_is_still_stored_applied_and_blocks_the_number(env):
    # Fail-closed (docs/push.md): a removed or unfollowed sub-account keeps its row, so its URL stays routed.
    engine, sim, config, client, start = env
    receiver = start()
    shop_id, _sub = _follow(engine, sim)
    with engine.begin() as conn:
        conn.execute(text("UPDATE accounts SET gone_since = first_seen_at WHERE id = :i"), {"i": shop_id})

    assert post(receiver, f"/{TOKEN}/shop/stop", {"type": "stop", "phone_number": PHONE, "text": "STOP"})[0] == 200

    assert wait_for(lambda: rows(engine, "SELECT account_id, source FROM stop_periods")) == [(shop_id, "push")]
    assert rows(engine, "SELECT account_id, phone_e164 FROM current_stops") == [(shop_id, PHONE)]
