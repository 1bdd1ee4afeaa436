"""The write and rental commands end to end: click, config from the environment, simulator, three backends."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import text

from etl.db.engine import make_engine

NUMBER = "+33612345678"


@pytest.fixture
def engine(migrated_db_url):
    engine = make_engine(migrated_db_url)
    yield engine
    engine.dispose()


def audit(engine):
    with engine.connect() as conn:
        rows = conn.execute(text("SELECT action, target, actor, reason, outcome, api_code FROM write_actions ORDER BY id")).all()
        conn.rollback()
    return [tuple(r) for r in rows]


def test_stops_add_then_remove_with_actor_and_reason(invoke, engine, simulator):
    added = invoke("stops", "add", "06 12 34 56 78", "--actor", "alice", "--reason", "asked by phone")
    assert added.exit_code == 0, added.output
    assert "+33612345678 added to the stop list" in added.output and "[audit #1]" in added.output

    removed = invoke("stops", "remove", NUMBER, "--reason", "opt back in", "--consent-evidence", "form 4711")
    assert removed.exit_code == 0, removed.output
    assert audit(engine)[0] == ("stop_add", NUMBER, "alice", "asked by phone", "success", 200)
    action, target, actor, reason, outcome, code = audit(engine)[1]
    assert (action, target, reason, outcome) == ("stop_remove", NUMBER, "opt back in", "success")
    assert actor  # the OS user
    assert simulator.sim.stop_id_of(NUMBER) is None


def test_invalid_number_is_refused_before_any_call(invoke, engine, simulator):
    result = invoke("stops", "add", "12")
    assert result.exit_code == 65 and "'12'" in result.output
    assert audit(engine) == [] and simulator.sim.calls == []


def test_dry_run_prints_the_plan_without_call_or_row(invoke, engine, simulator):
    result = invoke("stops", "add", NUMBER, "--dry-run")
    assert result.exit_code == 0 and "would add +33612345678" in result.output and "dry run" in result.output
    assert invoke("stops", "remove", "--id", "5", "--dry-run", "--consent-evidence", "form 4711").exit_code == 0
    assert invoke("messages", "cancel", "300001", "--dry-run").exit_code == 0
    assert audit(engine) == [] and simulator.sim.calls == []


def test_rejections_exit_1_with_a_plain_message(invoke, engine, simulator):
    simulator.sim.add_stop(NUMBER)
    result = invoke("stops", "add", NUMBER)
    assert result.exit_code == 1
    assert "rejected: this number is already in the account's stop list (API code 3)" in result.output
    assert invoke("stops", "remove", "--id", "424242", "--consent-evidence", "form 4711").exit_code == 1
    assert [row[4:] for row in audit(engine)] == [("rejected", 3), ("rejected", 4)]


def test_messages_cancel_within_five_minutes_reports_code_6_plainly(invoke, engine, simulator):
    sim = simulator.sim
    soon = sim.send(["+33611111111"], scheduled_at=sim.clock.now() + timedelta(minutes=3))
    later = sim.send(["+33622222222"], scheduled_at=sim.clock.now() + timedelta(hours=3))

    too_late = invoke("messages", "cancel", soon, "--reason", "wrong text")
    done = invoke("messages", "cancel", later)

    assert too_late.exit_code == 1
    assert "too late to cancel: a send cannot be cancelled less than 5 minutes before its scheduled time (API code 6)" in too_late.output
    assert done.exit_code == 0 and f"send {later} cancelled" in done.output
    assert [row[4:] for row in audit(engine)] == [("rejected", 6), ("success", 200)]


def test_unknown_outcome_exits_75_and_says_it_will_be_resolved(invoke, engine, simulator):
    simulator.sim.faults.inject("stop-sms/add", "act_then_delay", seconds=6)
    simulator.sim.faults.inject("stop-sms/list", "http_500", count=None)
    result = invoke("stops", "add", NUMBER)
    assert result.exit_code == 75 and "re-reads it every cycle" in result.output
    assert audit(engine)[0][4] == "unknown"


def test_rentals_add_list_remove(invoke, engine):
    assert invoke("rentals", "add", "tok-cli-000123", "--label", "Paris 25-40").exit_code == 0
    again = invoke("rentals", "add", "tok-cli-000123")
    assert again.exit_code == 65 and "already followed" in again.output

    listed = invoke("rentals", "list")
    assert listed.exit_code == 0 and "tok-cli-000123" in listed.output and "Paris 25-40" in listed.output
    assert "never synced" in listed.output

    assert invoke("rentals", "remove", "tok-cli-000123").exit_code == 0
    assert "tok-cli-000123" not in invoke("rentals", "list").output
    assert "removed" in invoke("rentals", "list", "--all").output
    assert invoke("rentals", "remove", "tok-cli-000123").exit_code == 65
    assert invoke("rentals", "add", "tok-cli-000123").exit_code == 0


def test_stops_add_of_a_number_already_in_the_synced_list_is_refused_unless_forced(invoke, engine, simulator):
    first = simulator.sim.add_stop(NUMBER)
    assert invoke("sync", "stops").exit_code == 0
    simulator.sim.reset_calls()

    refused = invoke("stops", "add", "06 12 34 56 78")
    assert refused.exit_code == 65
    assert f"{NUMBER} is already in the stop list since " in refused.output and f"(stop id {first}, source sync)" in refused.output
    assert "nothing sent; --force sends it anyway" in refused.output
    assert simulator.sim.calls_to("stop-sms/add") == [] and audit(engine) == []

    forced = invoke("stops", "add", NUMBER, "--force", "--reason", "re-send on purpose")
    assert len(simulator.sim.calls_to("stop-sms/add")) == 1
    assert [row[:4] for row in audit(engine)] == [("stop_add", NUMBER, audit(engine)[0][2], "re-send on purpose")]
    assert forced.exit_code in (0, 1)  # whatever the API answers, the forced write is sent and audited
