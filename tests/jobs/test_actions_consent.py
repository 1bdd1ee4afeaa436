"""Removing a stop needs consent evidence, and waits out the cool-off after a STOP reply unless overridden
(etl/jobs/actions/consent.py), through the simulator's STOP callbacks and the receiver, on three backends."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
from sqlalchemy import text

from etl.compliance.verify import verify
from etl.config_compliance import DEFAULT_STOP_REPLY_COOLOFF
from etl.db.engine import make_engine
from etl.errors import InputError
from etl.jobs import actions
from tests.jobs.helpers import sim_clock
from tests.push.test_receiver import PHONE, attach, env, periods, rows, sync_stops, wait_for

__all__ = ["env"]  # the receiver fixture, shared with tests/push

EVIDENCE = "web form #4711, 2026-12-01"


def kw(sim, **extra):
    return {"now": sim_clock(sim), "actor": "alice", "reason": "customer asked", **extra}


def removals(engine):
    return rows(engine, "SELECT target, actor, reason, consent_evidence, cooloff_override, outcome FROM write_actions "
                        "WHERE action = 'stop_remove' ORDER BY id")


def intact(engine):
    with engine.connect() as conn:
        report = verify(conn)
        conn.rollback()
    return report


def pushed_stop(env):
    """``PHONE`` replied STOP by callback; the stop sync has confirmed it (the period keeps source ``push``)."""
    engine, sim, config, client, start = env
    attach(sim, start())
    sim.inbound_sms(PHONE, "STOP", message_id=300001)
    wait_for(lambda: periods(engine))
    sync_stops(engine, config, client, sim)
    assert [p[:2] for p in periods(engine)] == [(sim.stop_id_of(PHONE), "push")]
    return engine, sim, client


@pytest.mark.parametrize("evidence", ["", "   "], ids=["empty", "blank"])
def test_removal_without_consent_evidence_is_refused_before_any_call_or_row(env, evidence):
    engine, sim, config, client, _start = env
    sim.add_stop(PHONE)
    sync_stops(engine, config, client, sim)
    sim.reset_calls()

    with pytest.raises(InputError, match="only with consent evidence"):
        actions.remove_stop(client, engine, PHONE, consent_evidence=evidence, **kw(sim))

    assert removals(engine) == [] and sim.calls_to("stop-sms/delete") == []


def test_a_stop_from_the_api_list_only_is_removed_with_its_evidence_on_the_row_and_in_the_chain(env):
    engine, sim, config, client, _start = env
    sim.add_stop(PHONE)
    sync_stops(engine, config, client, sim)

    result = actions.remove_stop(client, engine, PHONE, consent_evidence=f"  {EVIDENCE} ", **kw(sim))

    assert result.outcome == "success" and sim.stop_id_of(PHONE) is None
    assert removals(engine) == [(PHONE, "alice", "customer asked", EVIDENCE, False, "success")]
    [(body,)] = rows(engine, "SELECT body FROM audit_chain WHERE kind = 'action_open'")
    assert json.loads(body)["consent_evidence"] == EVIDENCE
    assert intact(engine).intact


def test_a_push_stop_is_refused_within_the_cooloff_saying_until_when_and_removed_after_it(env):
    engine, sim, client = pushed_stop(env)
    until = (sim_clock(sim)() + timedelta(seconds=DEFAULT_STOP_REPLY_COOLOFF)).strftime("%Y-%m-%d")

    with pytest.raises(InputError, match=rf"opted out by STOP reply \(push\) .* cannot be removed before {until} "):
        actions.remove_stop(client, engine, PHONE, consent_evidence=EVIDENCE, **kw(sim))
    assert removals(engine) == [] and sim.calls_to("stop-sms/delete") == []

    sim.clock.advance(timedelta(days=30, minutes=1))
    result = actions.remove_stop(client, engine, PHONE, consent_evidence=EVIDENCE, **kw(sim))

    assert result.outcome == "success"
    assert removals(engine) == [(PHONE, "alice", "customer asked", EVIDENCE, False, "success")]
    [(_stop_id, source, removed_at)] = periods(engine)
    assert source == "push" and removed_at is not None


def test_an_override_within_the_cooloff_needs_a_reason_and_is_audited_and_chained(env):
    engine, sim, client = pushed_stop(env)
    with pytest.raises(InputError, match="--override needs --reason"):
        actions.remove_stop(client, engine, PHONE, consent_evidence=EVIDENCE, override=True, **kw(sim, reason=" "))

    result = actions.remove_stop(
        client, engine, PHONE, consent_evidence=EVIDENCE, override=True, **kw(sim, actor="dpo", reason="signed paper form, checked")
    )

    assert result.outcome == "success" and "cool-off after a STOP reply overridden" in result.message
    assert removals(engine) == [(PHONE, "dpo", "signed paper form, checked", EVIDENCE, True, "success")]
    [(ref, body)] = rows(engine, "SELECT ref_id, body FROM audit_chain WHERE kind = 'cooloff_override'")
    recorded = json.loads(body)
    assert (recorded["actor"], recorded["reason"], recorded["consent_evidence"], recorded["cooloff_override"]) == (
        "dpo", "signed paper form, checked", EVIDENCE, True,
    )
    [(action_id,)] = rows(engine, "SELECT id FROM write_actions WHERE action = 'stop_remove'")
    assert ref == str(action_id)
    report = intact(engine)
    assert report.intact, report.findings


def test_an_override_flag_outside_any_cooloff_is_not_recorded_as_an_override(env):
    engine, sim, config, client, _start = env
    sim.add_stop(PHONE)
    sync_stops(engine, config, client, sim)

    actions.remove_stop(client, engine, PHONE, consent_evidence=EVIDENCE, override=True, **kw(sim))

    assert not removals(engine)[0][4]
    assert rows(engine, "SELECT COUNT(*) FROM audit_chain WHERE kind = 'cooloff_override'") == [(0,)]


def test_a_reply_intent_stop_waits_out_the_cooloff_and_none_is_configured_with_zero(env):
    engine, sim, config, client, _start = env
    actions.add_stop(client, engine, PHONE, period_source="reply-intent", **kw(sim))

    with pytest.raises(InputError, match=r"STOP reply \(reply-intent\)"):
        actions.remove_stop(client, engine, PHONE, consent_evidence=EVIDENCE, **kw(sim))
    result = actions.remove_stop(client, engine, PHONE, consent_evidence=EVIDENCE, cooloff=0, **kw(sim))

    assert result.outcome == "success"


def test_the_cli_refuses_a_removal_without_evidence_or_within_the_cooloff_in_one_sentence(invoke, migrated_db_url, simulator):
    sim = simulator.sim
    assert invoke("stops", "add", PHONE).exit_code == 0

    missing = invoke("stops", "remove", PHONE)
    assert missing.exit_code == 65 and missing.output.strip().endswith("e.g. a form reference, a URL or a date")
    assert "Traceback" not in missing.output

    engine = make_engine(migrated_db_url, pool=False)
    with engine.begin() as conn:
        conn.execute(text("UPDATE stop_periods SET source = 'push'"))
    engine.dispose()
    refused = invoke("stops", "remove", PHONE, "--consent-evidence", EVIDENCE)
    assert refused.exit_code == 65 and "cannot be removed before " in refused.output and len(refused.output.strip().splitlines()) == 1

    done = invoke("stops", "remove", PHONE, "--consent-evidence", EVIDENCE, "--override", "--reason", "paper form")
    assert done.exit_code == 0, done.output
    assert sim.stop_id_of(PHONE) is None
