"""`evidence NUMBER` shows STOP callbacks (text, message id) and replies flagged as STOP intents with the rule that
flags them, through the simulator's callbacks and the receiver, on three backends (docs/compliance.md)."""

from __future__ import annotations

import json

from etl.jobs.actions.reply_intent import add_flagged_replies
from tests.jobs.helpers import sim_clock
from tests.push.test_receiver import PHONE, attach, env, rows, wait_for

__all__ = ["env"]  # the receiver fixture, shared with tests/push

OTHER = "+33698765432"


def test_a_stop_callback_is_shown_with_its_text_message_id_and_the_period_it_opened(env, invoke) -> None:  # type: ignore[no-untyped-def]
    engine, sim, config, client, start = env
    attach(sim, start())
    sim.inbound_sms(PHONE, "STOP <svp>", kind="stop", message_id=300001)
    wait_for(lambda: rows(engine, "SELECT COUNT(*) FROM stop_periods") == [(1,)])

    report = json.loads(invoke("evidence", PHONE, "--format", "json").output)
    (reply,) = report["replies"]
    assert (reply["kind"], reply["text"], reply["message_id"], reply["stop_intent"]) == ("stop", "STOP <svp>", "300001", True)
    assert [p["source"] for p in report["stop_periods"]] == ["push"]
    text = invoke("evidence", PHONE).output
    assert "kind=stop" in text and "message_id=300001" in text
    page = invoke("evidence", PHONE, "--format", "html").output
    assert "STOP &lt;svp&gt;" in page and "<svp>" not in page


def test_a_flagged_reply_is_shown_with_its_rule_and_the_stop_add_it_led_to(env, invoke) -> None:  # type: ignore[no-untyped-def]
    engine, sim, config, client, start = env
    attach(sim, start())
    sim.inbound_sms(OTHER, "stop svp", message_id=300001)
    sim.inbound_sms(OTHER, "je ne veux plus recevoir vos SMS", style="long")
    sim.inbound_sms(OTHER, "Oui merci")
    wait_for(lambda: len(rows(engine, "SELECT id FROM replies")) == 3)

    before = json.loads(invoke("evidence", OTHER, "--format", "json").output)
    assert [(i["text"], i["rule"], i["listed"], i["stop_add_action_id"]) for i in before["stop_intents"]] == [
        ("stop svp", "keyword", True, None), ("je ne veux plus recevoir vos SMS", "phrase-1", True, None)]
    assert [r["stop_intent"] for r in before["replies"]] == [True, True, False]

    assert add_flagged_replies(client, engine, sim_clock(sim)) == 1
    after = json.loads(invoke("evidence", OTHER, "--format", "json").output)
    first, second = after["stop_intents"]
    assert (first["listed"], first["stop_add_outcome"]) == (False, "success")
    assert first["stop_add_action_id"] == after["stop_writes"][0]["id"]
    assert (second["listed"], second["stop_add_action_id"]) == (False, None)  # one add per number per run
    assert [p["source"] for p in after["stop_periods"]] == ["reply-intent"]
