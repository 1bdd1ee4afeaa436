"""Replies flagged at intake, the ``reply_stop_intents`` and ``optout_attribution`` views, through the
simulator's callbacks and the receiver, on three backends (docs/compliance.md)."""

from __future__ import annotations

from datetime import timedelta

from etl.tracking import TrackedSend, track
from tests.jobs.helpers import sim_clock
from tests.push.test_receiver import PHONE, attach, env, rows, sync_stops, wait_for

__all__ = ["env"]  # the receiver fixture, shared with tests/push

OTHER = "+33698765432"


def test_replies_are_flagged_at_intake_and_only_those_not_already_stopped_are_listed(env):
    engine, sim, config, client, start = env
    receiver = start()
    attach(sim, receiver)

    sim.inbound_sms(PHONE, "STOP", message_id=300001)
    sim.inbound_sms(OTHER, "stop svp", message_id=300001)
    sim.inbound_sms("+33611111111", "arrêtez de m'appeler")
    sim.inbound_sms("+33622222222", "Oui merci")
    sim.inbound_sms("+33633333333", "je ne veux plus recevoir vos SMS", style="long")

    wait_for(lambda: len(rows(engine, "SELECT id FROM replies")) == 5)
    flags = dict(rows(engine, "SELECT text, stop_intent FROM replies"))
    assert {text: bool(flag) for text, flag in flags.items()} == {
        "STOP": True,
        "stop svp": True,
        "arrêtez de m'appeler": False,
        "Oui merci": False,
        "je ne veux plus recevoir vos SMS": True,
    }
    listed = rows(engine, "SELECT phone_e164, kind, text, account_label FROM reply_stop_intents ORDER BY phone_e164")
    assert listed == [("+33633333333", "text", "je ne veux plus recevoir vos SMS", "main"), (OTHER, "response", "stop svp", "main")]


def test_a_flagged_reply_from_a_number_already_stopped_is_not_listed(env):
    engine, sim, config, client, start = env
    sim.add_stop(OTHER)
    sync_stops(engine, config, client, sim)
    receiver = start()
    attach(sim, receiver)

    sim.inbound_sms(OTHER, "Stop svp !!")

    wait_for(lambda: rows(engine, "SELECT stop_intent FROM replies") != [])
    assert rows(engine, "SELECT COUNT(*) FROM reply_stop_intents") == [(0,)]


def test_a_stop_callback_is_attributed_to_its_message_and_a_synced_stop_to_the_last_send_before_it(env):
    engine, sim, config, client, start = env
    now = sim_clock(sim)()
    track(engine, [TrackedSend("300001", [PHONE], sent_at=now - timedelta(hours=2), tag="promo-noel")], now=now, config=config.statuses)
    track(engine, [TrackedSend("300002", [PHONE, OTHER], sent_at=now - timedelta(hours=1), tag="relance")], now=now, config=config.statuses)
    receiver = start()
    attach(sim, receiver)

    sim.inbound_sms(PHONE, "STOP", message_id=300001)  # replying to the older send: the message id wins
    wait_for(lambda: rows(engine, "SELECT COUNT(*) FROM stop_periods") == [(1,)])
    sim.add_stop(OTHER)
    sync_stops(engine, config, client, sim)

    found = rows(
        engine,
        "SELECT phone_e164, stop_source, attributed_by, message_id, tag, stop_message_id, account_label "
        "FROM optout_attribution ORDER BY phone_e164",
    )
    assert found == [
        (PHONE, "push", "message_id", "300001", "promo-noel", "300001", "main"),
        (OTHER, "sync", "last_send", "300002", "relance", None, "main"),
    ]
    for stopped, effective in rows(engine, "SELECT stopped_at, effective_at FROM optout_attribution"):
        assert stopped is not None and effective is not None


def test_a_stop_with_no_send_before_it_has_no_attribution(env):
    engine, sim, config, client, start = env
    sim.add_stop(OTHER)
    sync_stops(engine, config, client, sim)

    assert rows(engine, "SELECT attributed_by, send_id, tag FROM optout_attribution") == [(None, None, None)]
