"""Per-account cadence: one scheduler entry per (job, account), each at a stable offset in the job's period."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime, timedelta, timezone

from apscheduler.triggers.cron import CronTrigger
from apscheduler.triggers.interval import IntervalTrigger
from sqlalchemy import insert

from etl.accounts import PARENT, AccountRef, Followed
from etl.cadence import OffsetTrigger, account_offset
from etl.config import Config, DaemonConfig, JobSchedule, Secret
from etl.daemon import RECONCILE_ENTRY, Daemon
from etl.db.engine import make_engine
from etl.db.schema import sync_runs

NOW = datetime(2026, 3, 2, 9, 0, tzinfo=timezone.utc)


class Accounts:
    """A followed list the test edits between reconciles."""

    def __init__(self, refs: list[AccountRef]) -> None:
        self.refs = refs

    def followed(self) -> list[Followed]:
        return [Followed(ref, Secret(f"key-{ref.id}")) for ref in self.refs]

    def learn(self, keys: Iterable[tuple[str, Secret]]) -> None:
        """Nothing to learn."""


def subs(n: int) -> list[AccountRef]:
    return [AccountRef(i, f"shop-{i}") for i in range(2, n + 2)]


def test_offsets_are_stable_bounded_and_spread_over_fifty_accounts() -> None:
    offsets = [account_offset("stops", ref.id, 900.0, 300.0) for ref in subs(50)]
    assert account_offset("stops", PARENT.id, 900.0, 300.0) == 0.0
    assert offsets == [account_offset("stops", ref.id, 900.0, 300.0) for ref in subs(50)]  # same after a restart
    assert all(0.0 <= o < 225.0 for o in offsets)  # a quarter of 15 min caps the 300 s spread
    assert len({int(o) for o in offsets}) >= 40  # not one second for everyone
    assert account_offset("stops", 7, 900.0, 300.0) != account_offset("statuses", 7, 900.0, 300.0)
    assert account_offset("stops", 7, 900.0, 0.0) == 0.0


def test_offset_trigger_shifts_interval_and_cron_fire_times() -> None:
    cron = OffsetTrigger(CronTrigger.from_crontab("17 6 * * *", timezone=timezone.utc), 42.0)
    assert cron.get_next_fire_time(None, NOW) == datetime(2026, 3, 3, 6, 17, 42, tzinfo=timezone.utc)
    # Just after the unshifted fire, before the shifted one: that same day's shifted fire still comes.
    assert cron.get_next_fire_time(None, datetime(2026, 3, 3, 6, 17, 10, tzinfo=timezone.utc)) == datetime(
        2026, 3, 3, 6, 17, 42, tzinfo=timezone.utc)
    interval = OffsetTrigger(IntervalTrigger(seconds=900, timezone=timezone.utc), 42.0)
    fired = datetime(2026, 3, 2, 9, 0, 42, tzinfo=timezone.utc)
    assert interval.get_next_fire_time(fired, fired) == fired + timedelta(minutes=15)


def daemon_over(migrated_db_url: str, accounts: Accounts) -> Daemon:
    config = Config(
        jobs={"accounts": JobSchedule(every=3600.0), "stops": JobSchedule(every=900.0)},
        daemon=DaemonConfig(jitter=0.0, account_spread=300.0),
    )
    return Daemon(config, make_engine(migrated_db_url), client_factory=lambda _key: None,  # type: ignore[arg-type,return-value]
                  accounts=accounts, jobs=["accounts", "stops"], wall_clock=lambda: NOW)


def entries(daemon: Daemon) -> dict[str, datetime]:
    assert daemon.scheduler is not None
    return {job.id: job.next_run_time for job in daemon.scheduler.get_jobs() if job.id != RECONCILE_ENTRY}


def test_each_followed_account_gets_its_own_entry_at_its_offset_and_lost_ones_lose_theirs(migrated_db_url) -> None:  # type: ignore[no-untyped-def]
    accounts = Accounts([PARENT, *subs(3)])
    daemon = daemon_over(migrated_db_url, accounts)
    daemon.build_scheduler()

    first = entries(daemon)
    assert sorted(first) == ["accounts@1", "stops@1", "stops@2", "stops@3", "stops@4"]  # accounts: the parent only
    for ref in accounts.refs:  # never ran: due now, each at its own offset
        assert first[f"stops@{ref.id}"] == NOW + timedelta(seconds=account_offset("stops", ref.id, 900.0, 300.0))
    assert len({first[f"stops@{ref.id}"] for ref in accounts.refs}) == len(accounts.refs)
    assert first["stops@1"] == first["accounts@1"] == NOW  # the parent at the tick, as with one account

    accounts.refs = [PARENT, AccountRef(2, "shop-2"), AccountRef(4, "shop-4"), AccountRef(9, "shop-9")]
    daemon.reconcile()
    second = entries(daemon)
    assert sorted(second) == ["accounts@1", "stops@1", "stops@2", "stops@4", "stops@9"]
    assert second["stops@2"] == first["stops@2"]  # the kept ones are not moved
    assert [ref.label for ref in daemon._fanned_out] == ["main", "shop-2", "shop-4", "shop-9"]  # what /healthz reports


def test_an_account_that_ran_recently_keeps_its_phase_from_the_run_log(migrated_db_url) -> None:  # type: ignore[no-untyped-def]
    daemon = daemon_over(migrated_db_url, Accounts([PARENT]))
    with daemon.engine.begin() as conn:
        conn.execute(insert(sync_runs).values(job="stops", started_at=NOW - timedelta(minutes=6),
                                              finished_at=NOW - timedelta(minutes=5), outcome="success", account_id=1))
    daemon.build_scheduler()
    assert entries(daemon)["stops@1"] == NOW + timedelta(minutes=10)
