"""Claimed work (etl/db/claims.py): instances running the statuses job at once split its polls and cost reads.

Each instance is a thread with its own engine and client, as a process would have, against one simulator;
what each pair was asked is counted at the simulator's call log.
"""

from __future__ import annotations

import dataclasses
import threading
from collections import Counter
from datetime import timedelta

import pytest
from sqlalchemy import text, update

from etl.db import claims
from etl.db.engine import make_engine
from etl.db.schema import recipients
from etl.db.schema.accounts import PARENT_ACCOUNT_ID
from etl.locking import job_lock
from etl.runner import RunReport
from etl.tracking import TrackedSend, track
from tests.jobs.helpers import make_client, pairs_asked, run, sim_clock

SENDS, PER_SEND = 2, 500


def _costs_read(sim) -> Counter[tuple[str, str]]:  # type: ignore[no-untyped-def]
    return Counter((str(c.params.get("messageId")), str(c.params.get("phoneNumber"))) for c in sim.calls_to("message-status"))


def _track(engine, config, sim, sends: int, per_send: int) -> set[tuple[str, str]]:  # type: ignore[no-untyped-def]
    now = sim_clock(sim)()
    pairs = set()
    for s in range(sends):
        phones = [f"+3361{s:02d}{i:05d}" for i in range(per_send)]
        mid = sim.send(phones)
        track(engine, [TrackedSend(mid, phones, sent_at=now)], now=now, config=config.statuses)
        pairs |= {(mid, p) for p in phones}
    return pairs


def _instances(url: str, base_url: str, config, sim, n: int) -> list[RunReport]:  # type: ignore[no-untyped-def]
    """``n`` instances (own engine, client and owner) starting one statuses run each at the same moment."""
    reports: list[RunReport | None] = [None] * n
    gate = threading.Barrier(n)

    def instance(i: int) -> None:
        engine = make_engine(url)
        client = make_client(base_url)
        try:
            gate.wait()
            reports[i] = run("statuses", engine, config, client, now=sim_clock(sim), owner=f"instance-{i}")
        finally:
            client.close()
            engine.dispose()

    threads = [threading.Thread(target=instance, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    assert all(r is not None for r in reports)
    return [r for r in reports if r is not None]


def _figure(report: RunReport, name: str) -> int:
    assert report.result is not None, report
    return int(report.result.figures.get(name, 0))


def _claims_left(engine) -> int:  # type: ignore[no-untyped-def]
    with engine.connect() as conn:
        left = conn.execute(text("SELECT COUNT(*) FROM recipients WHERE poll_claimed_by IS NOT NULL OR cost_claimed_by IS NOT NULL")).scalar()
        conn.rollback()
    return int(left or 0)


@pytest.mark.backends("postgresql", "mariadb")
@pytest.mark.parametrize("n", [2, 4])
def test_instances_claim_disjoint_batches_and_poll_each_due_pair_once(job_env, migrated_db_url, simulator, n) -> None:  # type: ignore[no-untyped-def]
    engine, sim, config, _ = job_env()
    # No bulk-status (it answers for a whole send): every pair asked is then listed in a multi-status call.
    config = dataclasses.replace(config, statuses=dataclasses.replace(config.statuses, claim_batch=50, bulk_threshold=10**6))
    pairs = _track(engine, config, sim, SENDS, PER_SEND)
    sim.clock.advance(timedelta(minutes=2))  # every pair due (first poll a minute after the send)
    # Each call takes a while, so that the instances' runs overlap.
    sim.faults.inject("multi-status", "delay", count=None, rate=1.0, seconds=0.15)

    reports = _instances(migrated_db_url, simulator.base_url, config, sim, n)

    assert {r.outcome for r in reports} == {"success"}, reports
    asked = pairs_asked(sim)
    assert set(asked) == pairs and max(asked.values()) == 1  # every due pair once, none twice
    claimed = [_figure(r, "claimed") for r in reports]
    assert sum(claimed) == len(pairs) and min(claimed) > 0, claimed  # disjoint batches, every instance a share
    assert sum(_figure(r, "polled") for r in reports) == len(pairs)
    assert sorted(r.job for r in reports).count("statuses") >= 1  # someone did the exclusive phases
    assert _claims_left(engine) == 0

    # The next due period: the pairs still pending are due again, and asked once more, once.
    pending = {(m, p) for m, p in _rows(engine, "SELECT message_id, phone_e164 FROM recipients WHERE next_poll_at IS NOT NULL")}
    assert pending, "the simulator's default plans leave some pairs pending after two minutes"
    sim.reset_calls()
    sim.clock.advance(timedelta(minutes=6))
    reports = _instances(migrated_db_url, simulator.base_url, config, sim, n)
    asked = pairs_asked(sim)
    assert set(asked) == pending and max(asked.values()) == 1


@pytest.mark.backends("postgresql", "mariadb")
@pytest.mark.parametrize("n", [2, 4])
def test_instances_split_the_cost_reads_and_read_each_due_cost_once(job_env, migrated_db_url, simulator, n) -> None:  # type: ignore[no-untyped-def]
    engine, sim, config, client = job_env()
    config = dataclasses.replace(config, statuses=dataclasses.replace(config.statuses, cost_claim_batch=20))
    _track(engine, config, sim, 1, 300)
    sim.clock.advance(timedelta(minutes=2))
    assert run("statuses", engine, config, client, now=sim_clock(sim)).outcome == "success"  # finals, their cost reads scheduled
    sim.clock.advance(timedelta(hours=3, minutes=1))
    due = {(m, p) for m, p in _rows(engine, "SELECT message_id, phone_e164 FROM recipients WHERE next_cost_at IS NOT NULL")}
    assert len(due) > 200
    sim.reset_calls()
    sim.faults.inject("message-status", "delay", count=None, rate=1.0, seconds=0.01)

    reports = _instances(migrated_db_url, simulator.base_url, config, sim, n)

    assert {r.outcome for r in reports} == {"success"}, reports
    read = _costs_read(sim)
    assert set(read) == due and max(read.values()) == 1
    claimed = [_figure(r, "cost_claimed") for r in reports]
    assert sum(claimed) == len(due) and min(claimed) > 0, claimed
    assert sum(_figure(r, "cost_reads") for r in reports) == len(due)
    assert _claims_left(engine) == 0


@pytest.mark.backends("postgresql", "mariadb")
def test_without_the_lock_an_instance_polls_claimed_work_and_leaves_intake_to_the_holder(job_env) -> None:  # type: ignore[no-untyped-def]
    engine, sim, config, client = job_env()
    pairs = _track(engine, config, sim, 1, 20)
    sim.clock.advance(timedelta(minutes=2))
    with engine.begin() as conn:
        conn.execute(text("INSERT INTO track_intake (message_id, phone, account_id) VALUES ('999', '+33699999999', 1)"))

    with job_lock(engine, "statuses", owner="holder"):  # another instance's exclusive run
        report = run("statuses", engine, config, client, now=sim_clock(sim), owner="second")

    assert report.outcome == "success" and report.job == "statuses:claimed", report
    assert set(pairs_asked(sim)) == pairs
    assert _rows(engine, "SELECT processed_at FROM track_intake") == [(None,)]  # intake is the holder's
    assert _rows(engine, "SELECT job, outcome FROM sync_runs") == [("statuses:claimed", "success")]


@pytest.mark.backends("sqlite")
def test_sqlite_runs_the_statuses_job_in_one_instance_and_skips_it_while_locked(job_env) -> None:  # type: ignore[no-untyped-def]
    engine, sim, config, client = job_env()
    _track(engine, config, sim, 1, 20)
    sim.clock.advance(timedelta(minutes=2))

    with job_lock(engine, "statuses", owner="holder"):
        report = run("statuses", engine, config, client, now=sim_clock(sim), owner="second")
    assert report.outcome == "skipped" and report.error == "locked"
    assert not pairs_asked(sim)

    report = run("statuses", engine, config, client, now=sim_clock(sim), owner="second")
    assert report.outcome == "success" and report.job == "statuses"
    assert sum(pairs_asked(sim).values()) == 20
    assert _rows(engine, "SELECT COUNT(*) FROM recipients WHERE poll_claimed_by IS NOT NULL") == [(0,)]


def _rows(engine, sql: str) -> list[tuple]:  # type: ignore[no-untyped-def, type-arg]
    with engine.connect() as conn:
        out = [tuple(r) for r in conn.execute(text(sql))]
        conn.rollback()
    return out


@pytest.mark.backends("postgresql", "mariadb")
def test_a_fault_that_ends_the_cycle_gives_the_claimed_pairs_back_due_at_once(job_env) -> None:  # type: ignore[no-untyped-def]
    engine, sim, config, client = job_env(client_kwargs={"max_attempts": 1})
    pairs = _track(engine, config, sim, 1, 300)
    sim.clock.advance(timedelta(minutes=2))
    due_before = _rows(engine, "SELECT id, next_poll_at FROM recipients ORDER BY id")
    sim.faults.inject("multi-status", "http_500", count=None, rate=1.0)
    config = dataclasses.replace(config, statuses=dataclasses.replace(config.statuses, bulk_threshold=10**6))

    report = run("statuses", engine, config, client, now=sim_clock(sim), owner="faulty")
    assert report.outcome == "failed" and _figure(report, "claimed") == 300 and _figure(report, "polled") == 0

    # Given back as they were: due at their own time, held by no one (not left for the lease to end).
    assert _rows(engine, "SELECT id, next_poll_at FROM recipients ORDER BY id") == due_before
    assert _claims_left(engine) == 0
    sim.faults.clear()
    assert run("statuses", engine, config, client, now=sim_clock(sim), owner="next").outcome == "success"
    asked = pairs_asked(sim, completed_only=True)
    assert set(asked) == pairs and max(asked.values()) == 1


@pytest.mark.backends("postgresql", "mariadb")
def test_instances_whose_bulk_answers_cover_the_same_sends_all_finish_and_leave_nothing_claimed(job_env, migrated_db_url, simulator) -> None:  # type: ignore[no-untyped-def]
    engine, sim, config, _ = job_env()
    # Claims of 300 cut the sends of 500: two instances ask bulk-status for one send, and both answers write its
    # rows nobody holds; on InnoDB one write is then a deadlock's victim, and is tried again.
    config = dataclasses.replace(config, statuses=dataclasses.replace(config.statuses, claim_batch=300))
    pairs = _track(engine, config, sim, 8, 500)
    sim.clock.advance(timedelta(minutes=2))
    sim.faults.inject("bulk-status", "delay", count=None, rate=1.0, seconds=0.05)

    reports = _instances(migrated_db_url, simulator.base_url, config, sim, 4)

    assert {r.outcome for r in reports} == {"success"}, [r.error for r in reports]
    # A bulk answer also polls the send's due pairs nobody had claimed yet: fewer claimed than polled, none left.
    assert 0 < sum(_figure(r, "claimed") for r in reports) <= len(pairs)
    assert _rows(engine, "SELECT COUNT(*) FROM recipients WHERE poll_count = 0") == [(0,)]
    assert _claims_left(engine) == 0


@pytest.mark.backends("postgresql", "mariadb")
@pytest.mark.parametrize("work", [claims.POLL, claims.COST], ids=lambda w: w.name)
def test_lapsed_claims_are_taken_over_ahead_of_an_older_backlog(job_env, work) -> None:  # type: ignore[no-untyped-def]
    engine, sim, config, _ = job_env()
    t0 = sim_clock(sim)()
    phones = [f"+3362{i:07d}" for i in range(5030)]
    track(engine, [TrackedSend("backlog", phones, sent_at=t0)], now=t0, config=config.statuses)
    # 5,030 pairs all due before the dead instance's lease ends, the 30 it claimed the oldest of them.
    with engine.begin() as conn:
        conn.execute(update(recipients).values({work.due: t0 - timedelta(hours=1)}))
    given = {"account_id": PARENT_ACCOUNT_ID, "lease": 60.0}
    dead = claims.claim(engine, work, owner="dead", due_by=t0, now=t0, limit=30, **given)
    assert len(dead.rows) == 30 and dead.taken_over == 0

    # The survivor's cycle started before the lease ended (``due_by``, its start); now the lease has ended.
    started, later = t0 + timedelta(seconds=1), t0 + timedelta(seconds=61)
    first = claims.claim(engine, work, owner="alive", due_by=started, now=later, limit=100, **given)
    # The lapsed 30 first, then the oldest of the queue: not the 30 behind 5,000 pairs.
    assert [row.id for row in first.rows[:30]] == [row.id for row in dead.rows]
    assert first.taken_over == 30 and len(first.rows) == 100 and len({row.id for row in first.rows}) == 100
    assert [row.due_at for row in first.rows[30:]] == sorted(row.due_at for row in first.rows[30:])
    assert all(row.due_at < dead.until for row in first.rows[30:])  # type: ignore[operator]

    second = claims.claim(engine, work, owner="alive", due_by=started, now=later, limit=100, **given)
    assert second.taken_over == 0 and len(second.rows) == 100
    assert not {row.id for row in second.rows} & {row.id for row in first.rows}
    assert _rows(engine, f"SELECT COUNT(*) FROM recipients WHERE {work.owner.name} = 'alive'") == [(200,)]
    assert _rows(engine, f"SELECT COUNT(*) FROM recipients WHERE {work.owner.name} = 'dead'") == [(0,)]
