"""``[compliance] reply_intent_adds_stop``: a flagged reply adds its number to the stop list once, audited,
through the simulator, on three backends (docs/compliance.md, "STOP intent in replies")."""

from __future__ import annotations

import dataclasses

from etl.config_compliance import ComplianceConfig
from tests.jobs.helpers import run, sim_clock
from tests.push.test_receiver import PHONE, attach, env, rows, wait_for

__all__ = ["env"]


def _actions(engine, sim, config, client):
    report = run("actions", engine, config, client, now=sim_clock(sim))
    assert report.outcome == "success", report
    return report


def test_off_by_default_a_flagged_reply_is_only_listed(env):
    engine, sim, config, client, start = env
    attach(sim, start())
    sim.inbound_sms(PHONE, "stop svp")
    wait_for(lambda: rows(engine, "SELECT COUNT(*) FROM reply_stop_intents") == [(1,)])

    _actions(engine, sim, config, client)

    assert sim.stop_id_of(PHONE) is None
    assert rows(engine, "SELECT COUNT(*) FROM write_actions") == [(0,)]


def test_on_a_flagged_reply_adds_the_number_once_audited_as_reply_intent(env):
    engine, sim, config, client, start = env
    config = dataclasses.replace(config, compliance=ComplianceConfig(reply_intent_adds_stop=True))
    attach(sim, start())
    sim.inbound_sms(PHONE, "stop svp")
    sim.inbound_sms(PHONE, "désabonnez-moi !!")
    sim.inbound_sms("+33698765432", "Oui merci")
    wait_for(lambda: len(rows(engine, "SELECT id FROM replies")) == 3)

    report = _actions(engine, sim, config, client)
    again = _actions(engine, sim, config, client)

    assert report.result.figures["reply_intent_added"] == 1 and again.result.figures["reply_intent_added"] == 0
    assert sim.stop_id_of(PHONE) is not None and sim.stop_id_of("+33698765432") is None
    [(action, target, actor, reason, outcome)] = rows(engine, "SELECT action, target, actor, reason, outcome FROM write_actions")
    first_reply = rows(engine, "SELECT MIN(id) FROM replies")[0][0]
    assert (action, target, actor, reason, outcome) == ("stop_add", PHONE, "reply-intent", f"STOP intent in reply {first_reply}", "success")
    assert rows(engine, "SELECT source, api_stop_id FROM stop_periods") == [("reply-intent", sim.stop_id_of(PHONE))]
    assert rows(engine, "SELECT COUNT(*) FROM reply_stop_intents") == [(0,)]
    assert len(sim.calls_to("stop-sms/add")) == 1
