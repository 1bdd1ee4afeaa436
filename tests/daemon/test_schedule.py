"""etl.daemon's pure decisions: which jobs, which trigger, when to run first after a restart."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest
from apscheduler.triggers.cron import CronTrigger
from apscheduler.triggers.interval import IntervalTrigger

from etl.config import Config, JobSchedule
from etl.daemon import build_trigger, capped_jitter, first_run_at, period_seconds, scheduled_jobs
from etl.errors import InputError

NOW = datetime(2026, 3, 2, 9, 0, tzinfo=timezone.utc)
EVERY_15M = JobSchedule(every=900.0)
DAILY = JobSchedule(cron="17 6 * * *", every=0.0)


@pytest.mark.parametrize(
    ("schedule", "last", "grace", "expected"),
    [
        (EVERY_15M, None, 3600, NOW),
        (EVERY_15M, NOW - timedelta(minutes=5), 3600, NOW + timedelta(minutes=10)),
        (EVERY_15M, NOW - timedelta(hours=5), 3600, NOW),
        (DAILY, None, 3600, NOW),
        (DAILY, NOW - timedelta(hours=2), 3600, None),  # succeeded at 07:00, after today's 06:17
        (DAILY, NOW - timedelta(hours=27), 3600, None),  # 06:17 missed 2h43m ago: beyond the grace
        (DAILY, NOW - timedelta(hours=27), 4 * 3600, NOW),  # ... within a 4 h grace: catch up now
    ],
    ids=[
        "interval-never-ran-runs-now",
        "interval-recent-success-waits-for-the-rest-of-the-period",
        "interval-overdue-runs-now",
        "cron-never-ran-runs-now",
        "cron-nothing-missed-waits-for-the-trigger",
        "cron-missed-beyond-grace-waits",
        "cron-missed-within-grace-runs-now",
    ],
)
def test_first_run_after_a_restart_catches_up_from_the_run_log(schedule, last, grace, expected) -> None:  # type: ignore[no-untyped-def]
    assert first_run_at(schedule, last, NOW, grace) == expected


def test_jitter_is_capped_to_a_quarter_of_a_short_interval() -> None:
    assert capped_jitter(JobSchedule(every=2.0), 20.0) == 0.5
    assert capped_jitter(EVERY_15M, 20.0) == 20.0
    assert capped_jitter(DAILY, 20.0) == 20.0


def test_triggers_come_from_every_or_cron_in_utc() -> None:
    interval = build_trigger(EVERY_15M, 0.0)
    assert isinstance(interval, IntervalTrigger) and interval.interval == timedelta(minutes=15)
    cron = build_trigger(DAILY, 5.0)
    assert isinstance(cron, CronTrigger)
    assert cron.get_next_fire_time(None, NOW).replace(microsecond=0) in {
        datetime(2026, 3, 3, 6, 17, tzinfo=timezone.utc) + timedelta(seconds=s) for s in range(0, 6)
    }


def test_period_of_a_cron_job_is_the_gap_between_fires() -> None:
    assert period_seconds(DAILY, NOW) == 86400.0
    assert period_seconds(JobSchedule(cron="*/5 * * * *"), NOW) == 300.0
    assert period_seconds(EVERY_15M, NOW) == 900.0


def test_scheduled_jobs_are_the_enabled_ones_present_in_the_registry() -> None:
    config = Config(jobs={"stops": JobSchedule(every=60.0), "rentals": JobSchedule(enabled=False)})
    assert list(scheduled_jobs(config, available=["stops", "rentals", "newjob"])) == ["stops", "newjob"]
    assert list(scheduled_jobs(config, ["rentals"], available=["stops", "rentals"])) == ["rentals"]
    with pytest.raises(InputError, match="unknown job 'nope'"):
        scheduled_jobs(config, ["nope"], available=["stops"])
