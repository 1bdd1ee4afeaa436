"""The contacts job against the simulator over real sockets, on SQLite, PostgreSQL and MariaDB."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import Engine, text

from etl.api.client import SmsPartnerClient
from etl.config import ContactsConfig, Secret
from etl.runner import RunReport
from etl.simulator.seedfile import add_group
from tests.jobs.conftest import JobEnv
from tests.jobs.helpers import TEST_KEY, run, sim_clock


def sync(env: JobEnv, **kwargs: Any) -> RunReport:
    engine, sim, config, client = env
    return run("contacts", engine, config, client, now=sim_clock(sim), **kwargs)


def query(engine: Engine, sql: str) -> list[tuple[Any, ...]]:
    with engine.connect() as conn:
        rows = [tuple(r) for r in conn.execute(text(sql))]
        conn.rollback()
    return rows


def flagged(engine: Engine) -> list[str]:
    return [phone for (phone,) in query(engine, "SELECT phone_e164 FROM contact_stops ORDER BY phone_e164")]


def kinds(engine: Engine) -> list[tuple[Any, ...]]:
    return query(engine, "SELECT kind, phone_e164 FROM contact_events ORDER BY id")


@pytest.fixture
def env(job_env: Callable[..., JobEnv]) -> JobEnv:
    return job_env(contacts=ContactsConfig(max_calls_per_minute=0))


def _vip(sim: Any, *stopped: str, plain: tuple[str, ...] = ("+33611000001",), generate: int = 0) -> tuple[int, list[int]]:
    contacts = [*plain, *({"phone": p, "stop_sms": True} for p in stopped)]
    return add_group(sim, {"name": "VIP", "contacts": contacts, "generate": generate})  # type: ignore[no-any-return]


def test_first_sync_mirrors_groups_contacts_and_their_flags(env: JobEnv) -> None:
    engine, sim, _config, _client = env
    gid, _ = _vip(sim, "+33622000001", generate=30)
    report = sync(env)
    assert report.outcome == "success", report.detail
    assert report.result.added == 32
    assert query(engine, "SELECT group_id, name, followed, last_read FROM contact_groups") == [(str(gid), "VIP", True, "complete")]
    assert "+33622000001" in flagged(engine)
    assert query(engine, "SELECT COUNT(*) FROM contacts") == [(32,)]


def test_a_flag_flip_upstream_is_two_events_and_moves_the_block(env: JobEnv) -> None:
    engine, sim, _config, _client = env
    _gid, (plain, stopped) = _vip(sim, "+33622000001")
    sync(env)
    with sim.lock:
        sim.contacts.set_stop(plain, True)
        sim.contacts.set_stop(stopped, False)
    sim.clock.advance(timedelta(hours=6))
    report = sync(env)
    assert (report.outcome, report.result.changed) == ("success", 2)
    assert kinds(engine)[-2:] == [("stop_on", "+33611000001"), ("stop_off", "+33622000001")]
    assert flagged(engine) == ["+33611000001"]


def test_a_contact_deleted_upstream_is_gone(env: JobEnv) -> None:
    engine, sim, _config, _client = env
    _gid, (_plain, stopped) = _vip(sim, "+33622000001")
    sync(env)
    with sim.lock:
        sim.contacts.delete_contact(stopped)
    sim.clock.advance(timedelta(hours=6))
    assert sync(env).result.removed == 1
    assert kinds(engine)[-1] == ("gone", "+33622000001") and flagged(engine) == []


def test_a_group_deleted_upstream_is_gone_with_its_contacts(env: JobEnv) -> None:
    engine, sim, _config, _client = env
    gid, _ = _vip(sim, "+33622000001")
    add_group(sim, {"name": "Other", "contacts": [{"phone": "+33633000001", "stop_sms": True}]})
    sync(env)
    with sim.lock:
        sim.contacts.delete_group(gid)
    sim.clock.advance(timedelta(hours=6))
    report = sync(env)
    assert report.result.removed == 2 and report.result.figures["groups_gone"] == 1
    assert query(engine, "SELECT group_id FROM contact_groups WHERE gone_since IS NOT NULL") == [(str(gid),)]
    assert flagged(engine) == ["+33633000001"]


def test_an_unreadable_contact_is_quarantined_counted_stopped_and_its_group_keeps_its_flags(env: JobEnv) -> None:
    engine, sim, _config, _client = env
    _gid, (plain, stopped) = _vip(sim, "+33622000001")
    sync(env)
    with sim.lock:
        sim.contacts.set_stop(stopped, False)  # a flag off in a partial read: not cleared
    sim.faults.inject("contact/list", "malformed_item", index=0, field="stopSms", value="peut-être")
    sim.clock.advance(timedelta(hours=6))
    report = sync(env)
    assert report.outcome == "partial" and "flags kept for" in (report.result.detail or "")
    assert flagged(engine) == ["+33611000001", "+33622000001"]  # the unreadable flag counts as set
    assert query(engine, "SELECT endpoint, ref_kind, ref FROM rejected_items") == [("contact/list", "contact", str(plain))]
    sim.clock.advance(timedelta(hours=6))
    assert sync(env).outcome == "success"
    assert flagged(engine) == []  # the next complete read clears both


def _paced_client(sim: Any, base_url: str, on_sleep: Callable[[int], None]) -> tuple[SmsPartnerClient, list[float]]:
    slept: list[float] = []

    def sleep(seconds: float) -> None:
        slept.append(seconds)
        sim.clock.advance(timedelta(seconds=seconds))
        on_sleep(len(slept))

    client = SmsPartnerClient(base_url, Secret(TEST_KEY), sleep=sleep, connect_timeout=2.0, read_timeout=3.0,
                              max_attempts=3, max_retry_seconds=5.0)
    return client, slept


@pytest.mark.parametrize("fault", [{"kind": "api_error", "code": 404}, {"kind": "http_503", "count": 3}], ids=["refused", "transient"])
def test_a_read_failing_mid_paging_keeps_the_groups_flags_and_the_others_go_on(
    job_env: Callable[..., JobEnv], simulator: Any, fault: dict[str, Any]
) -> None:
    first = add_group(simulator.sim, {"name": "A", "contacts": [{"phone": "+33622000001", "stop_sms": True}], "generate": 25})
    second = add_group(simulator.sim, {"name": "B", "contacts": ["+33633000001"]})
    engine, sim, config, client = job_env(contacts=ContactsConfig(max_calls_per_minute=600))
    assert run("contacts", engine, config, client, now=sim_clock(sim)).outcome == "success"
    with sim.lock:
        sim.contacts.set_stop(first[1][0], False)
        sim.contacts.set_stop(second[1][0], True)
    # group/list, A page 1, then the fault on A's page 2 (the pacer's 2nd wait comes just before it).
    paced, _ = _paced_client(sim, simulator.base_url, lambda waits: waits == 2 and sim.faults.inject("contact/list", **fault))
    report = run("contacts", engine, config, paced, now=sim_clock(sim))
    assert report.outcome == "partial" and f"flags kept for {first[0]} (failed)" in (report.result.detail or "")
    assert flagged(engine) == ["+33622000001", "+33633000001"]
    assert query(engine, "SELECT last_read FROM contact_groups ORDER BY name") == [("failed",), ("complete",)]


def test_calls_are_spaced_by_the_budget_on_the_injected_clock(job_env: Callable[..., JobEnv], simulator: Any) -> None:
    add_group(simulator.sim, {"name": "A", "generate": 45})  # 3 pages
    engine, sim, config, _client = job_env(contacts=ContactsConfig(max_calls_per_minute=30))
    paced, slept = _paced_client(sim, simulator.base_url, lambda _waits: None)
    started = sim.clock.now()
    report = run("contacts", engine, config, paced, now=sim_clock(sim))
    assert report.outcome == "success" and report.result.figures["calls"] == 4
    assert slept == [2.0, 2.0, 2.0] and sim.clock.now() - started == timedelta(seconds=6)


def test_only_the_configured_groups_are_read(job_env: Callable[..., JobEnv], simulator: Any) -> None:
    kept, _ = add_group(simulator.sim, {"name": "A", "contacts": [{"phone": "+33622000001", "stop_sms": True}]})
    add_group(simulator.sim, {"name": "B", "contacts": [{"phone": "+33633000001", "stop_sms": True}]})
    engine, sim, config, client = job_env(contacts=ContactsConfig(groups=(str(kept),), max_calls_per_minute=0))
    assert run("contacts", engine, config, client, now=sim_clock(sim)).outcome == "success"
    assert flagged(engine) == ["+33622000001"]
    assert query(engine, "SELECT name, followed FROM contact_groups ORDER BY name") == [("A", True), ("B", False)]


def test_a_sub_accounts_groups_are_read_with_its_key_and_stored_under_its_account(
    job_env: Callable[..., JobEnv], simulator: Any
) -> None:
    from etl.accounts import AccountRef
    from etl.simulator.seedfile import add_subaccount

    engine, sim, config, client = job_env(contacts=ContactsConfig(max_calls_per_minute=0))
    add_group(sim, {"name": "Parent VIP", "contacts": [{"phone": "+33622000001", "stop_sms": True}]})
    sub = add_subaccount(sim, {"email": "shop@example.invalid", "groups": [
        {"name": "Shop VIP", "contacts": [{"phone": "+33633000001", "stop_sms": True}, "+33633000002"]}]})
    with engine.begin() as conn:
        conn.execute(text("INSERT INTO accounts (id, label, type, token, first_seen_at) VALUES (2, 'shop', 'simple', :t, :n)"),
                     {"t": sub.token, "n": sim.clock.now()})
    sub_client = SmsPartnerClient(simulator.base_url, Secret(sub.api_key), sleep=lambda _s: None, connect_timeout=2.0,
                                  read_timeout=3.0, max_attempts=3, max_retry_seconds=5.0)
    assert run("contacts", engine, config, client, now=sim_clock(sim)).outcome == "success"
    report = run("contacts", engine, config, sub_client, now=sim_clock(sim), account=AccountRef(2, "shop"))
    assert report.outcome == "success" and report.result.added == 2
    assert query(engine, "SELECT account_label, phone_e164 FROM contact_stops ORDER BY account_id") == [
        ("main", "+33622000001"), ("shop", "+33633000001")]
    # The parent's next run leaves the sub-account's groups alone.
    assert run("contacts", engine, config, client, now=sim_clock(sim)).result.removed == 0
    assert query(engine, "SELECT COUNT(*) FROM contact_groups WHERE gone_since IS NULL") == [(2,)]
