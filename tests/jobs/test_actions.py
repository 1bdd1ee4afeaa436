"""Write operations (stop add/remove, cancel) and their audit rows, against the simulator, on three backends."""

from __future__ import annotations

import time
from datetime import timedelta

import pytest
from sqlalchemy import text

from etl.errors import InputError, InvalidPhoneNumber
from etl.jobs import actions
from tests.jobs.helpers import run, sim_clock

NUMBER = "+33612345678"


@pytest.fixture
def env(job_env):
    return job_env(client_kwargs={"read_timeout": 2.0})


def query(engine, sql, **params):
    with engine.connect() as conn:
        rows = [tuple(r) for r in conn.execute(text(sql), params)]
        conn.rollback()
    return rows


def audit(engine):
    return query(engine, "SELECT id, action, target, actor, reason, outcome, api_code, api_message, api_stop_id, "
                         "requested_at IS NOT NULL, completed_at IS NOT NULL FROM write_actions ORDER BY id")


def open_periods(engine, phone=NUMBER):
    return query(engine, "SELECT api_stop_id, source FROM stop_periods WHERE removed_at IS NULL AND phone_e164 = :p", p=phone)


def stop_sync(engine, config, client, sim):
    report = run("stops", engine, config, client, now=sim_clock(sim), force=True)
    assert report.outcome == "success", report.error
    return report


def calls_after_delay(sim, endpoint, wait=5.0):
    """Calls to ``endpoint`` once delayed answers are out: the simulator logs a call when it answers."""
    deadline = time.monotonic() + wait
    while not sim.calls_to(endpoint) and time.monotonic() < deadline:
        time.sleep(0.05)
    time.sleep(0.3)
    return len(sim.calls_to(endpoint))


def kw(sim, **extra):
    return {"now": sim_clock(sim), "actor": "alice", "reason": "customer asked", **extra}


def removal(sim, **extra):
    """`kw` with the consent evidence a removal needs."""
    return kw(sim, consent_evidence="signed form 2026-12-01", **extra)


# --------------------------------------------------------------------------------------------------
# stops add
# --------------------------------------------------------------------------------------------------


def test_add_stop_audits_calls_once_and_opens_a_tool_period_the_stop_sync_keeps(env):
    engine, sim, config, client = env

    result = actions.add_stop(client, engine, "06 12 34 56 78", **kw(sim))

    assert result.outcome == "success" and result.ok
    stop_id = sim.stop_id_of(NUMBER)
    assert result.stop_id == stop_id
    [row] = audit(engine)
    assert row[1:7] == ("stop_add", NUMBER, "alice", "customer asked", "success", 200)
    assert row[8] == stop_id and row[9] and row[10]
    assert open_periods(engine) == [(stop_id, "tool")]
    assert calls_after_delay(sim, "stop-sms/add") == 1

    stop_sync(engine, config, client, sim)
    assert open_periods(engine) == [(stop_id, "tool")]  # recognised by its id: no second period


def test_add_stop_refuses_an_invalid_number_before_any_call_or_row(env):
    engine, sim, config, client = env
    with pytest.raises(InvalidPhoneNumber):
        actions.add_stop(client, engine, "06 12", **kw(sim))
    assert audit(engine) == [] and sim.calls_to("stop-sms/add") == []


def test_dry_run_makes_no_call_and_no_row(env):
    engine, sim, config, client = env
    sim.add_stop(NUMBER)
    stop_sync(engine, config, client, sim)
    sim.reset_calls()
    message_id = sim.send(["+33611111111"], scheduled_at=sim.clock.now() + timedelta(hours=2))

    results = [
        actions.add_stop(client, engine, "+33699999999", dry_run=True, **kw(sim)),
        actions.remove_stop(client, engine, NUMBER, dry_run=True, **removal(sim)),
        actions.cancel_message(client, engine, message_id, dry_run=True, **kw(sim)),
    ]

    assert [r.outcome for r in results] == ["dry_run"] * 3 and all(r.action_id is None for r in results)
    assert "would remove stop id" in results[1].message
    assert audit(engine) == []
    assert [c.endpoint for c in sim.calls] == []


STOP_ADD_CODES = [
    ("already listed", 3, "already in the account's stop list"),
    ("fault", 9, "refused the number as invalid"),
    ("fault", 2, "phone number is missing"),
    ("fault", 10, "API key is invalid"),
    ("fault", 1, "API key is missing"),
]


@pytest.mark.parametrize(("setup", "code", "words"), STOP_ADD_CODES, ids=[f"code-{c[1]}" for c in STOP_ADD_CODES])
def test_add_stop_rejection_is_audited_with_its_code_and_a_plain_message(env, setup, code, words):
    engine, sim, config, client = env
    if setup == "already listed":
        sim.add_stop(NUMBER)
    else:
        sim.faults.inject("stop-sms/add", "api_error", code=code)

    result = actions.add_stop(client, engine, NUMBER, **kw(sim))

    assert (result.outcome, result.api_code) == ("rejected", code) and not result.ok
    assert words in result.message
    [row] = audit(engine)
    assert (row[5], row[6]) == ("rejected", code) and words in row[7] and row[10]
    assert open_periods(engine) == []


def test_add_stop_timeout_after_the_server_acted_is_resolved_by_rereading_never_resent(env):
    engine, sim, config, client = env
    sim.faults.inject("stop-sms/add", "act_then_delay", seconds=5)

    result = actions.add_stop(client, engine, NUMBER, **kw(sim))

    assert result.outcome == "resolved_success"
    assert calls_after_delay(sim, "stop-sms/add") == 1
    stop_id = sim.stop_id_of(NUMBER)
    [row] = audit(engine)
    assert row[5] == "resolved_success" and row[8] == stop_id and "re-read" in row[7]
    assert open_periods(engine) == [(stop_id, "tool")]


# --------------------------------------------------------------------------------------------------
# stops remove
# --------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("by", ["number", "id"])
def test_remove_stop_closes_the_period_as_removed_by_this_tool(env, by):
    engine, sim, config, client = env
    stop_id = sim.add_stop(NUMBER)
    stop_sync(engine, config, client, sim)

    if by == "number":
        result = actions.remove_stop(client, engine, "0612345678", **removal(sim))
    else:
        result = actions.remove_stop(client, engine, stop_id=stop_id, **removal(sim))

    assert result.outcome == "success" and sim.stop_id_of(NUMBER) is None
    [row] = audit(engine)
    assert row[1:7] == ("stop_remove", NUMBER, "alice", "customer asked", "success", 200) and row[8] == stop_id
    closed = query(engine, "SELECT removed_how, removed_by_action_id FROM stop_periods WHERE api_stop_id = :i", i=stop_id)
    assert closed == [("tool", row[0])]
    assert query(engine, "SELECT removed_how, actor FROM stop_removals") == [("tool", "alice")]
    stop_sync(engine, config, client, sim)
    assert query(engine, "SELECT removed_how FROM stop_periods") == [("tool",)]


def test_remove_stop_looks_the_number_up_in_the_account_when_our_copy_lacks_it(env):
    engine, sim, config, client = env
    stop_id = sim.add_stop(NUMBER)
    result = actions.remove_stop(client, engine, NUMBER, **removal(sim))
    assert result.outcome == "success" and result.stop_id == stop_id
    assert "no open period" in result.message


def test_remove_stop_of_a_number_not_listed_is_refused_without_a_write(env):
    engine, sim, config, client = env
    with pytest.raises(InputError, match="not in the account's stop list"):
        actions.remove_stop(client, engine, NUMBER, **removal(sim))
    assert audit(engine) == [] and sim.calls_to("stop-sms/delete") == []


STOP_DELETE_CODES = [
    ("unknown id", 4, "not in the account's stop list"),
    ("fault", 3, "stop id is missing"),
    ("fault", 2, "takes a stop id"),
    ("fault", 10, "API key is invalid"),
]


@pytest.mark.parametrize(("setup", "code", "words"), STOP_DELETE_CODES, ids=[f"code-{c[1]}" for c in STOP_DELETE_CODES])
def test_remove_stop_rejection_is_audited_and_leaves_the_period_open(env, setup, code, words):
    engine, sim, config, client = env
    stop_id = sim.add_stop(NUMBER)
    stop_sync(engine, config, client, sim)
    if setup == "unknown id":
        stop_id = 987654
    else:
        sim.faults.inject("stop-sms/delete", "api_error", code=code)

    result = actions.remove_stop(client, engine, stop_id=stop_id, **removal(sim))

    assert (result.outcome, result.api_code) == ("rejected", code) and words in result.message
    [row] = audit(engine)
    assert (row[5], row[6]) == ("rejected", code) and row[10]
    assert len(open_periods(engine)) == 1


def test_remove_stop_timeout_after_the_server_acted_is_resolved_by_rereading_never_resent(env):
    engine, sim, config, client = env
    stop_id = sim.add_stop(NUMBER)
    stop_sync(engine, config, client, sim)
    sim.faults.inject("stop-sms/delete", "act_then_delay", seconds=5)

    result = actions.remove_stop(client, engine, NUMBER, **removal(sim))

    assert result.outcome == "resolved_success"
    assert calls_after_delay(sim, "stop-sms/delete") == 1
    [row] = audit(engine)
    assert row[5] == "resolved_success"
    assert query(engine, "SELECT removed_how, removed_by_action_id FROM stop_periods WHERE api_stop_id = :i", i=stop_id) == [
        ("tool", row[0])
    ]


# --------------------------------------------------------------------------------------------------
# messages cancel
# --------------------------------------------------------------------------------------------------


def test_cancel_message_succeeds_before_the_five_minute_limit(env):
    engine, sim, config, client = env
    message_id = sim.send(["+33611111111"], scheduled_at=sim.clock.now() + timedelta(hours=1))

    result = actions.cancel_message(client, engine, message_id, **kw(sim))

    assert result.outcome == "success"
    [row] = audit(engine)
    assert row[1:7] == ("message_cancel", message_id, "alice", "customer asked", "success", 200)


CANCEL_CODES = [
    ("within 5 minutes", 6, "less than 5 minutes before its scheduled time"),
    ("already cancelled", 5, "already cancelled"),
    ("already sent", 7, "already sent"),
    ("unknown id", 4, "no such message"),
    ("fault", 3, "message id is missing"),
    ("fault", 10, "API key is invalid"),
]


@pytest.mark.parametrize(("setup", "code", "words"), CANCEL_CODES, ids=[f"code-{c[1]}" for c in CANCEL_CODES])
def test_cancel_rejection_is_reported_plainly_and_audited(env, setup, code, words):
    engine, sim, config, client = env
    now = sim.clock.now()
    message_id = sim.send(["+33611111111"], scheduled_at=now + (timedelta(minutes=3) if code == 6 else timedelta(hours=1)))
    if setup == "already cancelled":
        sim.cancel(message_id)
    elif setup == "already sent":
        message_id = sim.send(["+33622222222"])
    elif setup == "unknown id":
        message_id = "999999"
    elif setup == "fault":
        sim.faults.inject("message-cancel", "api_error", code=code)

    result = actions.cancel_message(client, engine, message_id, **kw(sim))

    assert (result.outcome, result.api_code) == ("rejected", code)
    assert words in result.message
    [row] = audit(engine)
    assert (row[5], row[6]) == ("rejected", code) and words in row[7]


def test_cancel_timeout_after_the_server_acted_is_resolved_by_rereading_never_resent(env):
    engine, sim, config, client = env
    message_id = sim.send(["+33611111111", "+33622222222"], scheduled_at=sim.clock.now() + timedelta(hours=1))
    sim.faults.inject("message-cancel", "act_then_delay", seconds=5)

    result = actions.cancel_message(client, engine, message_id, **kw(sim))

    assert result.outcome == "resolved_success", result.message
    assert calls_after_delay(sim, "message-cancel") == 1
    assert audit(engine)[0][5] == "resolved_success"


def test_cancel_outcome_reads_statuses():
    assert actions.cancel_outcome(["Waiting", "Not delivered"])[0] == "resolved_not_done"
    assert actions.cancel_outcome(["Delivered"])[0] == "resolved_not_done"
    assert actions.cancel_outcome(["Not delivered", "ko"])[0] == "resolved_success"
    assert actions.cancel_outcome([]) is None


# --------------------------------------------------------------------------------------------------
# Unknown and pending rows: the actions job
# --------------------------------------------------------------------------------------------------


def test_unknown_outcome_that_cannot_be_reread_yet_is_resolved_by_the_actions_job(env):
    engine, sim, config, client = env
    sim.faults.inject("stop-sms/add", "act_then_delay", seconds=5)
    sim.faults.inject("stop-sms/list", "http_500", count=None)

    result = actions.add_stop(client, engine, NUMBER, **kw(sim))

    assert result.outcome == "unknown" and "re-reads it every cycle" in result.message
    assert audit(engine)[0][5] == "unknown"
    sim.faults.clear()
    report = run("actions", engine, config, client, now=sim_clock(sim))
    assert report.outcome == "success" and report.result.changed == 1
    assert audit(engine)[0][5] == "resolved_success"
    assert open_periods(engine) == [(sim.stop_id_of(NUMBER), "tool")]
    assert calls_after_delay(sim, "stop-sms/add") == 1


def test_pending_row_left_by_a_crash_is_resolved_after_the_grace_period(env):
    engine, sim, config, client = env
    requested = sim_clock(sim)()
    actions._open_action(engine, "stop_add", NUMBER, "bob", "crash test", requested)

    assert run("actions", engine, config, client, now=sim_clock(sim)).result.changed == 0
    assert audit(engine)[0][5] == "pending"  # may still be in flight
    sim.clock.advance(actions.PENDING_GRACE + timedelta(minutes=1))
    report = run("actions", engine, config, client, now=sim_clock(sim))
    assert report.result.changed == 1
    assert audit(engine)[0][5] == "resolved_not_done"
    assert sim.calls_to("stop-sms/add") == []
