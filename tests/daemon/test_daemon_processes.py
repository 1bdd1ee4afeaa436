"""Real `smspartner-etl run` processes against the simulator: cooperation, crashes, shutdown, health.

Two rules for instances on one database (docs/operations.md, "Several instances"): a job that *excludes*
(stops, and every job but statuses) runs in one instance at a time, the others skip it; a job that *splits*
(statuses, on PostgreSQL and MariaDB) runs its exclusive part in one instance at a time and its claimed work
in every instance at once.

Short intervals (1-2 s) and few cycles keep the wall time small; each daemon start costs ~1 s of imports.
"""

from __future__ import annotations

import json
import signal
import time
from datetime import datetime, timedelta, timezone

import pytest
from harness import TEST_API_KEY
from sqlalchemy import text

from etl.config import StatusesConfig
from etl.db.engine import make_engine
from etl.errors import LockHeld
from etl.locking import job_lock
from etl.tracking import TrackedSend, track
from tests.daemon.helpers import DaemonProcess, count, runs, start_daemon, wait_for
from tests.jobs.helpers import pairs_asked

EVERY = 1.5


def seed(sim, n: int = 5) -> None:  # type: ignore[no-untyped-def]
    for i in range(n):
        sim.add_stop(f"+3361234560{i}")


def wait_running(db_url: str) -> None:
    """Until a run is open, then a little longer: the daemon is inside its (delayed) list call."""
    wait_for(lambda: count(db_url, "SELECT COUNT(*) FROM sync_runs WHERE outcome = 'running'"), 20, "a run to start")
    time.sleep(0.3)


@pytest.mark.backends("postgresql", "mariadb")
def test_two_daemons_never_overlap_a_job_that_excludes_and_do_each_cycle_once(migrated_db_url, simulator, tmp_path, backend) -> None:  # type: ignore[no-untyped-def]
    seed(simulator.sim)
    # Each list call takes 0.4 s, so the two instances' runs would overlap without the lock.
    simulator.sim.faults.inject("stop-sms/list", "delay", count=None, rate=1.0, seconds=0.4)
    a = start_daemon(tmp_path, "a", migrated_db_url, simulator.base_url, every=EVERY)
    time.sleep(0.5)  # B's cycle is offset from A's
    b = start_daemon(tmp_path, "b", migrated_db_url, simulator.base_url, every=EVERY)
    try:
        # The bound is liveness only (a loaded CI box may delay fires); speed lives in bench/.
        wait_for(lambda: len([r for r in runs(migrated_db_url) if r.outcome == "success"]) >= 5, 120, "five successful cycles")
    finally:
        codes = (a.stop(), b.stop())
    assert codes == (0, 0), a.log_text()[-2000:] + b.log_text()[-2000:]

    done = runs(migrated_db_url)
    assert {r.outcome for r in done} == {"success"}
    for earlier, later in zip(done, done[1:]):
        assert earlier.finished_at is not None and earlier.finished_at <= later.started_at, f"runs {earlier.id} and {later.id} overlap"
        gap = (later.started_at - earlier.started_at).total_seconds()
        # never two runs in one cycle (fresh_within = EVERY/2)...
        assert gap >= EVERY / 2, (earlier, later)
    assert len({r.pid for r in done}) >= 1
    skipped = [line for d in (a, b) for line in d.log_lines() if line.get("outcome") == "skipped"]
    assert skipped, "the second instance never met the first one's lock or fresh run"
    assert TEST_API_KEY not in a.log_text() + b.log_text()


@pytest.mark.backends("sqlite", "postgresql")
def test_sigkilled_holder_is_taken_over_after_its_lease(migrated_db_url, simulator, tmp_path, backend) -> None:  # type: ignore[no-untyped-def]
    seed(simulator.sim)
    simulator.sim.faults.inject("stop-sms/list", "delay", count=1, seconds=30)
    lease = 3.0
    a = start_daemon(tmp_path, "a", migrated_db_url, simulator.base_url, every=EVERY, lease=lease)
    try:
        wait_for(lambda: count(migrated_db_url, "SELECT COUNT(*) FROM sync_runs WHERE outcome = 'running'"), 20, "A's run to start")
        time.sleep(0.5)  # A is inside its (delayed) list call
    finally:
        a.proc.kill()
        a.proc.wait(10)
    killed = time.monotonic()

    engine = make_engine(migrated_db_url)
    try:
        def lock_free() -> bool:
            try:
                with job_lock(engine, "stops", owner="probe", lease_seconds=lease):
                    return True
            except LockHeld:
                return False

        wait_for(lock_free, lease + 5, "the lock to come free")
        waited = time.monotonic() - killed
    finally:
        engine.dispose()
    if backend == "sqlite":
        assert waited > 0.5, "a live lease was taken over"  # the lease outlives its holder...
        assert waited < lease + 1.5  # ...by at most one lease
    else:
        assert waited < 1.5  # the advisory lock dies with the session

    b = start_daemon(tmp_path, "b", migrated_db_url, simulator.base_url, every=EVERY, lease=lease)
    try:
        wait_for(lambda: [r for r in runs(migrated_db_url) if r.outcome == "success"], 20, "B's first success")
    finally:
        assert b.stop() == 0
    outcomes = [r.outcome for r in runs(migrated_db_url)]
    assert outcomes[0] == "abandoned" and set(outcomes[1:]) == {"success"}
    assert count(migrated_db_url, "SELECT COUNT(*) FROM stop_periods WHERE removed_at IS NULL") == 5


@pytest.mark.backends("sqlite", "postgresql")
def test_sigterm_during_a_sync_finishes_it_and_exits_zero_in_time(migrated_db_url, simulator, tmp_path, backend) -> None:  # type: ignore[no-untyped-def]
    seed(simulator.sim)
    simulator.sim.faults.inject("stop-sms/list", "delay", count=1, seconds=2)
    d = start_daemon(tmp_path, "d", migrated_db_url, simulator.base_url, every=60, shutdown_timeout=10)
    wait_running(migrated_db_url)
    signalled = time.monotonic()
    d.signal(signal.SIGTERM)
    assert d.proc.wait(15) == 0, d.log_text()[-2000:]
    assert time.monotonic() - signalled < 10
    assert [r.outcome for r in runs(migrated_db_url)] == ["success"]
    assert count(migrated_db_url, "SELECT COUNT(*) FROM stop_periods WHERE removed_at IS NULL") == 5
    assert count(migrated_db_url, "SELECT COUNT(*) FROM job_leases") == 0
    assert "daemon stopped cleanly" in d.log_text()


@pytest.mark.backends("sqlite")
def test_sync_longer_than_the_shutdown_timeout_is_rolled_back_and_a_second_signal_exits_at_once(migrated_db_url, simulator, tmp_path, backend) -> None:  # type: ignore[no-untyped-def]
    seed(simulator.sim)
    simulator.sim.faults.inject("stop-sms/list", "delay", count=2, seconds=30)
    d = start_daemon(tmp_path, "d", migrated_db_url, simulator.base_url, every=60, shutdown_timeout=1.5, lease=2)
    wait_running(migrated_db_url)
    signalled = time.monotonic()
    d.signal(signal.SIGTERM)
    assert d.proc.wait(10) == 1
    assert 1.4 < time.monotonic() - signalled < 4
    assert count(migrated_db_url, "SELECT COUNT(*) FROM stop_periods") == 0  # nothing half-written
    # The cut run held SQLite's write lock, so its lease is left to expire (2 s), as after a crash.

    e = start_daemon(tmp_path, "e", migrated_db_url, simulator.base_url, every=60, shutdown_timeout=30)
    wait_for(lambda: count(migrated_db_url, "SELECT COUNT(*) FROM sync_runs WHERE outcome = 'running' AND id > 1"), 20, "E's run")
    time.sleep(0.3)
    signalled = time.monotonic()
    e.signal(signal.SIGTERM)
    time.sleep(0.3)
    e.signal(signal.SIGTERM)
    assert e.proc.wait(10) == 1
    assert time.monotonic() - signalled < 2


@pytest.mark.backends("sqlite")
def test_metrics_and_healthz_answer_before_and_after_a_failing_job(migrated_db_url, simulator, tmp_path, backend) -> None:  # type: ignore[no-untyped-def]
    seed(simulator.sim)
    d = start_daemon(tmp_path, "d", migrated_db_url, simulator.base_url, health=True, every=1.0, staleness=3.0)
    try:
        wait_for(lambda: [r for r in runs(migrated_db_url) if r.outcome == "success"], 20, "a first success")
        wait_for(lambda: d.get("/healthz")[0] == 200, 10, "healthy")
        status, body = d.get("/healthz")
        health = json.loads(body)
        assert health["status"] == "ok" and health["jobs"]["stops"]["ok"]
        metrics = d.get("/metrics")[1].decode()
        assert 'smspartner_etl_runs_total{account="main",instance="d",job="stops",outcome="success"}' in metrics
        assert 'smspartner_etl_api_calls_total{endpoint="stop-sms/list",outcome="ok"}' in metrics
        assert "smspartner_etl_stop_list_size 5.0" in metrics
        assert 'smspartner_etl_last_success_timestamp_seconds{account="main",job="stops"}' in metrics

        simulator.sim.faults.inject("stop-sms/list", "http_500", count=None, rate=1.0)
        wait_for(lambda: d.get("/healthz")[0] == 503, 15, "unhealthy once stops is stale")
        health = json.loads(d.get("/healthz")[1])
        assert health["status"] == "unhealthy" and not health["jobs"]["stops"]["ok"]
        assert any("stops" in reason for reason in health["reasons"])
        # the stops job restarts a broken download twice (with pauses) before its run fails
        def metrics_with_a_failure() -> str | None:
            text = d.get("/metrics")[1].decode()
            return text if 'outcome="failed"}' in text else None

        metrics = wait_for(metrics_with_a_failure, 15, "a failed run in /metrics")
        assert 'smspartner_etl_runs_total{account="main",instance="d",job="stops",outcome="failed"}' in metrics
        assert 'smspartner_etl_job_failures_total{account="main",instance="d",job="stops"}' in metrics
        assert 'smspartner_etl_api_calls_total{endpoint="stop-sms/list",outcome="TransientApiError"}' in metrics

        simulator.sim.faults.clear()
        wait_for(lambda: d.get("/healthz")[0] == 200, 15, "healthy again after a success")
    finally:
        assert d.stop() == 0
    assert TEST_API_KEY not in d.log_text()


@pytest.mark.backends("sqlite")
def test_metrics_of_a_daemon_with_a_read_url_come_from_the_replica(migrated_db_url, simulator, tmp_path, backend) -> None:  # type: ignore[no-untyped-def]
    from etl.db.migrate import upgrade
    from tests.audience.conftest import seed as seed_stops

    replica = f"sqlite:///{tmp_path / 'replica.sqlite3'}"
    upgrade(replica)
    seed_stops(replica, ["+33699999901", "+33699999902", "+33699999903"])
    seed(simulator.sim, n=5)
    d = start_daemon(tmp_path, "d", migrated_db_url, simulator.base_url, health=True, every=60.0, read_url=replica)
    try:
        wait_for(lambda: [r for r in runs(migrated_db_url) if r.outcome == "success"], 20, "a first success on the primary")
        metrics = d.get("/metrics")[1].decode()
        assert "smspartner_etl_stop_list_size 3.0" in metrics  # the replica's 3, not the primary's 5
        assert count(migrated_db_url, "SELECT COUNT(*) FROM stop_periods") == 5  # the job wrote to the primary
        assert count(replica, "SELECT COUNT(*) FROM sync_runs WHERE outcome = 'success'") == 1  # the seed's only
    finally:
        assert d.stop() == 0


# --- a job that splits: statuses (claimed work, etl/db/claims.py) ---------------------------------------------------


def track_due(sim, db_url: str, sends: int, per_send: int) -> set[tuple[str, str]]:  # type: ignore[no-untyped-def]
    """Sends tracked as sent ten minutes ago (wall clock, the daemons'): every pair due for its first poll."""
    sent = datetime.now(timezone.utc) - timedelta(minutes=10)
    engine = make_engine(db_url, pool=False)
    pairs = set()
    try:
        for s in range(sends):
            phones = [f"+3361{s:02d}{i:05d}" for i in range(per_send)]
            mid = sim.send(phones)
            track(engine, [TrackedSend(mid, phones, sent_at=sent)], now=sent, config=StatusesConfig())
            pairs |= {(mid, p) for p in phones}
    finally:
        engine.dispose()
    return pairs


def statuses_daemon(tmp_path, name: str, db_url: str, base_url: str, *, claim_lease: float = 60.0):  # type: ignore[no-untyped-def]
    """``run statuses``, claims of 50 pairs, no bulk-status (every pair asked is listed in its multi-status call)."""
    extra = f'[statuses]\nclaim_batch = 50\nbulk_threshold = 1000000\nclaim_lease = "{claim_lease}s"\n'
    return start_daemon(tmp_path, name, db_url, base_url, job="statuses", every=EVERY, extra=extra)


def claimed_by(d: DaemonProcess) -> int:
    return sum(int(line.get("figures", {}).get("claimed", 0)) for line in d.log_lines())


@pytest.mark.backends("postgresql", "mariadb")
def test_two_daemons_split_a_job_that_splits_and_never_overlap_its_exclusive_part(migrated_db_url, simulator, tmp_path, backend) -> None:  # type: ignore[no-untyped-def]
    pairs = track_due(simulator.sim, migrated_db_url, 2, 500)
    simulator.sim.faults.inject("multi-status", "delay", count=None, rate=1.0, seconds=0.2)  # the runs overlap
    a = statuses_daemon(tmp_path, "a", migrated_db_url, simulator.base_url)
    b = statuses_daemon(tmp_path, "b", migrated_db_url, simulator.base_url)
    try:
        wait_for(lambda: count(migrated_db_url, "SELECT COUNT(*) FROM recipients WHERE poll_count > 0") == len(pairs), 120,
                 "every pair polled")
        wait_for(lambda: count(migrated_db_url, "SELECT COUNT(*) FROM sync_runs WHERE outcome = 'running'") == 0, 30,
                 "the runs to end")
    finally:
        codes = (a.stop(), b.stop())
    assert codes == (0, 0), a.log_text()[-2000:] + b.log_text()[-2000:]

    asked = pairs_asked(simulator.sim)
    assert set(asked) == pairs and max(asked.values()) == 1  # each pair once: the second poll is 5 min away
    assert claimed_by(a) > 0 and claimed_by(b) > 0, "both instances polled"
    assert claimed_by(a) + claimed_by(b) == len(pairs)
    exclusive = runs(migrated_db_url, "statuses")
    assert exclusive and {r.outcome for r in exclusive} == {"success"}
    for earlier, later in zip(exclusive, exclusive[1:]):
        assert earlier.finished_at is not None and earlier.finished_at <= later.started_at, f"runs {earlier.id} and {later.id} overlap"
    assert runs(migrated_db_url, "statuses:claimed"), "the instance without the lock did claimed work"
    assert TEST_API_KEY not in a.log_text() + b.log_text()


@pytest.mark.backends("postgresql", "mariadb")
def test_sigkilled_instance_with_claims_held_loses_nothing_and_is_taken_over_within_one_lease(migrated_db_url, simulator, tmp_path, backend) -> None:  # type: ignore[no-untyped-def]
    pairs = track_due(simulator.sim, migrated_db_url, 1, 300)
    lease = 15.0  # longer than a loaded box takes to start B
    polled, held = "SELECT COUNT(*) FROM recipients WHERE poll_count > 0", "FROM recipients WHERE poll_claimed_by IS NOT NULL"
    simulator.sim.faults.inject("multi-status", "delay", count=1, seconds=120)  # A's first call never returns in time
    a = statuses_daemon(tmp_path, "a", migrated_db_url, simulator.base_url, claim_lease=lease)
    b = None
    try:
        wait_for(lambda: count(migrated_db_url, f"SELECT COUNT(*) {held}") == 50, 30, "A's first claim")
        b = statuses_daemon(tmp_path, "b", migrated_db_url, simulator.base_url, claim_lease=lease)
        # B, without the lock (A holds it), polls the rest; A's 50 stay held.
        wait_for(lambda: count(migrated_db_url, polled) == len(pairs) - 50, 40, "B polling what A does not hold")
    finally:
        a.proc.kill()
        a.proc.wait(10)
    lease_end = stamp(migrated_db_url, f"SELECT MAX(next_poll_at) {held}")
    assert count(migrated_db_url, f"SELECT COUNT(*) {held}") == 50
    try:
        wait_for(lambda: count(migrated_db_url, polled) == len(pairs), lease + 30, "every pair polled")
        wait_for(lambda: count(migrated_db_url, "SELECT COUNT(*) FROM sync_runs WHERE outcome = 'running'") == 0, 30,
                 "B's runs to end and A's to be marked abandoned")
    finally:
        assert b.stop() == 0, b.log_text()[-2000:]

    # Nothing lost: every pair polled, none held; A's 50 taken over once their lease ended, in B's next cycle.
    assert count(migrated_db_url, f"SELECT COUNT(*) {held}") == 0
    assert sum(int(line.get("figures", {}).get("claims_taken_over", 0)) for line in b.log_lines()) == 50
    taken = stamp(migrated_db_url, "SELECT MAX(last_polled_at) FROM recipients")
    assert 0 < (taken - lease_end).total_seconds() < EVERY + 3, (lease_end, taken)
    asked = pairs_asked(simulator.sim, completed_only=True)  # A's call died with it
    assert set(asked) == pairs and max(asked.values()) == 1
    assert [r.outcome for r in runs(migrated_db_url, "statuses")][0] == "abandoned"


def stamp(db_url: str, sql: str) -> datetime:
    """One timestamp, as aware UTC (SQLite and MariaDB give naive UTC, PostgreSQL aware)."""
    engine = make_engine(db_url, pool=False)
    try:
        with engine.connect() as conn:
            value = conn.execute(text(sql)).scalar()
            conn.rollback()
    finally:
        engine.dispose()
    assert isinstance(value, datetime), value
    return value if value.tzinfo else value.replace(tzinfo=timezone.utc)
