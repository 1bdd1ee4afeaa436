"""`stops add/remove --account` and `messages cancel --account`: a sub-account's writes with its own key, on its
own rows, end to end (click, the simulator over real sockets, three backends)."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import text

from etl.simulator.seedfile import add_subaccount

NUMBER = "+33612345678"


@pytest.fixture
def engine(migrated_engine):
    return migrated_engine


@pytest.fixture
def shop(invoke, tmp_path, simulator):
    """A sub-account discovered into ``accounts`` as shop-1; the config follows every sub-account."""
    sub = add_subaccount(simulator.sim, {"email": "shop@example.com", "token": "tok-shop", "balance": "50"})
    (tmp_path / "config.toml").write_text("[accounts]\ndiscover = true\n")
    assert invoke("sync", "accounts").exit_code == 0
    simulator.sim.reset_calls()
    return sub


def _by_label(engine, columns, table):
    """``columns`` of ``table``'s rows, each with its account's label first, in id order."""
    with engine.connect() as conn:
        rows = conn.execute(text(f"SELECT a.label, {columns} FROM {table} t JOIN accounts a ON a.id = t.account_id "
                                 "ORDER BY t.id")).all()
        conn.rollback()
    return [tuple(r) for r in rows]


def audit(engine):
    return _by_label(engine, "t.action, t.target, t.outcome", "write_actions")


def periods(engine):
    return _by_label(engine, "t.phone_e164, t.source, t.removed_how", "stop_periods")


def test_stop_add_and_remove_on_a_sub_account_write_its_list_and_rows_not_the_parents(invoke, engine, simulator, shop):
    sim = simulator.sim
    sim.add_stop(NUMBER)  # stopped in the parent's list: says nothing about the shop's
    assert invoke("sync", "stops").exit_code == 0

    added = invoke("stops", "add", NUMBER, "--account", "shop-1", "--reason", "asked the shop")

    assert added.exit_code == 0, added.output
    assert added.output.startswith(f"{NUMBER} added to the stop list of shop-1 (stop id ")
    assert shop.account.stop_id_of(NUMBER) is not None
    assert [c.account for c in sim.calls_to("stop-sms/add")] == [shop.token], "made with the shop's key"
    assert audit(engine) == [("shop-1", "stop_add", NUMBER, "success")]
    assert periods(engine) == [("main", NUMBER, "sync", None), ("shop-1", NUMBER, "tool", None)]

    removed = invoke("stops", "remove", NUMBER, "--account", "shop-1", "--consent-evidence", "form 4711")

    assert removed.exit_code == 0, removed.output
    assert shop.account.stop_id_of(NUMBER) is None and sim.stop_id_of(NUMBER) is not None
    assert audit(engine)[1] == ("shop-1", "stop_remove", NUMBER, "success")
    assert periods(engine) == [("main", NUMBER, "sync", None), ("shop-1", NUMBER, "tool", "tool")]


def test_messages_cancel_on_a_sub_account_cancels_its_send(invoke, engine, simulator, shop):
    later = shop.account.send(["+33622222222"], scheduled_at=shop.account.clock.now() + timedelta(hours=3))

    done = invoke("messages", "cancel", later, "--account", "shop-1", "--reason", "wrong text")

    assert done.exit_code == 0, done.output
    assert done.output.startswith(f"send {later} of shop-1 cancelled")
    assert [c.account for c in simulator.sim.calls_to("message-cancel")] == [shop.token]
    assert audit(engine) == [("shop-1", "message_cancel", later, "success")]


def test_an_unknown_or_removed_account_label_is_one_sentence_and_nothing_sent(invoke, engine, simulator, shop):
    unknown = invoke("stops", "add", NUMBER, "--account", "nope")
    assert unknown.exit_code == 65
    assert unknown.output.strip().splitlines() == [
        "error: --account: 'nope' is not the label of an account here (`smspartner-etl accounts list` shows them)"
    ]

    simulator.sim.subaccounts.remove(shop.token)
    assert invoke("sync", "accounts").exit_code == 0
    simulator.sim.reset_calls()
    gone = invoke("messages", "cancel", "300001", "--account", "shop-1")
    assert gone.exit_code == 65 and "shop-1 left subaccount/list on " in gone.output
    assert audit(engine) == [] and simulator.sim.calls == []


def test_a_sub_account_not_followed_is_a_config_error_naming_what_to_set(invoke, engine, tmp_path, simulator, shop):
    (tmp_path / "config.toml").write_text("")  # recorded in accounts, but this config follows the parent alone

    result = invoke("stops", "remove", NUMBER, "--account", "shop-1", "--consent-evidence", "form 4711")

    assert result.exit_code == 78 and "shop-1 is not followed, so its key is unknown" in result.output
    assert audit(engine) == [] and simulator.sim.calls == []


def test_an_unknown_outcome_on_a_sub_account_is_settled_from_its_own_list(invoke, engine, simulator, shop):
    sim = simulator.sim
    sim.faults.inject("stop-sms/add", "act_then_delay", seconds=6)
    sim.faults.inject("stop-sms/list", "http_500", count=None)

    unknown = invoke("stops", "add", NUMBER, "--account", "shop-1")
    assert unknown.exit_code == 75, unknown.output
    assert audit(engine) == [("shop-1", "stop_add", NUMBER, "unknown")]

    sim.faults.clear()
    sim.reset_calls()
    assert invoke("sync", "actions").exit_code == 0

    assert audit(engine) == [("shop-1", "stop_add", NUMBER, "resolved_success")]
    assert {c.account for c in sim.calls_to("stop-sms/list")} == {shop.token}, "read back with the shop's key only"
    assert periods(engine) == [("shop-1", NUMBER, "tool", None)]


def test_no_sub_account_key_in_the_output_or_rows_of_its_writes_even_when_echoed(invoke, engine, simulator, shop):
    later = shop.account.send(["+33622222222"], scheduled_at=shop.account.clock.now() + timedelta(hours=3))
    simulator.sim.faults.inject("stop-sms/add", "key_echo", on="success", style="all")
    simulator.sim.faults.inject("message-cancel", "key_echo", code=6, style="all")

    outputs = [
        invoke("stops", "add", NUMBER, "--account", "shop-1").output,
        invoke("messages", "cancel", later, "--account", "shop-1").output,
        invoke("stops", "remove", "--id", "424242", "--account", "shop-1", "--consent-evidence", "form 4711").output,
    ]

    assert not any(shop.api_key in out for out in outputs)
    with engine.connect() as conn:
        rows = conn.execute(text("SELECT * FROM write_actions")).all()
    assert len(rows) == 3 and not any(shop.api_key in str(value) for row in rows for value in row)
