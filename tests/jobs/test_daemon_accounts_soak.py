"""A short soak of the real scheduler over 50 sub-accounts on SQLite: each account fires at its own offset, and
one revoked key (code 10) never stops the others (issue 17; docs/accounts.md, "Cadence").

The daemon runs as it does in production (its APScheduler `BackgroundScheduler`, one entry per (job, account)
at `etl.cadence`'s hashed offset), with a compressed cadence: a stop sync every few seconds of wall time stands
for the 15 minutes of a deployment, and the spread shrinks with it. The jobs live in the simulator's time.
"""

from __future__ import annotations

import dataclasses
import threading
import time
from collections import defaultdict
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import text

from etl.account_directory import AccountDirectory
from etl.api.client import SmsPartnerClient
from etl.cadence import account_offset, entry_id
from etl.config import DaemonConfig, JobSchedule, Secret
from etl.config_accounts import AccountsConfig
from etl.daemon import Daemon
from etl.simulator.seedfile import add_subaccount
from tests.jobs.conftest import JobEnv
from tests.jobs.helpers import TEST_KEY, sim_clock

SUBACCOUNTS = 50
PERIOD, SPREAD = 5.0, 1.25  # seconds of wall time: the offsets fall in [0, 1.25)
ROUNDS = 2
#: Simulated seconds per wall second: a 5 s period is 15 simulated minutes, the stop sync's default.
COMPRESSION = 180.0


def _client(base_url: str, key: Secret) -> SmsPartnerClient:
    return SmsPartnerClient(base_url, key, connect_timeout=2.0, read_timeout=3.0, max_attempts=1, sleep=lambda _s: None)


def _drive_clock(sim: Any, stop: threading.Event) -> threading.Thread:
    """The simulator's clock moved on ``COMPRESSION`` times faster than the wall (the soak's driver, in small)."""

    def drive() -> None:
        last = time.monotonic()
        while not stop.wait(0.05):
            current = time.monotonic()
            sim.clock.advance(timedelta(seconds=(current - last) * COMPRESSION))
            last = current

    thread = threading.Thread(target=drive, name="sim-clock", daemon=True)
    thread.start()
    return thread


def _ids_by_token(engine: Any) -> dict[str, int]:
    with engine.connect() as conn:
        return {token: account_id for account_id, token in conn.execute(text("SELECT id, token FROM accounts WHERE id > 1"))}


def _outcomes(engine: Any) -> dict[int, list[str]]:
    found: dict[int, list[str]] = defaultdict(list)
    with engine.connect() as conn:
        for account_id, outcome in conn.execute(text("SELECT account_id, outcome FROM sync_runs WHERE job = 'stops' ORDER BY id")):
            found[account_id].append(outcome)
    return found


@pytest.mark.backends("sqlite")
def test_fifty_accounts_fire_apart_under_the_real_scheduler_and_a_revoked_key_stops_no_other(env: JobEnv) -> None:
    engine, sim, config, _client_unused = env
    for i in range(SUBACCOUNTS):
        add_subaccount(sim, {"email": f"shop{i:02d}@example.com", "token": f"tok-{i:02d}", "stops": {"explicit": [f"+336220{i:05d}"]}})
    config = dataclasses.replace(
        config, accounts=AccountsConfig(discover=True),
        jobs={"accounts": JobSchedule(every=3600.0, staleness=86400.0), "stops": JobSchedule(every=PERIOD, staleness=3600.0)},
        daemon=DaemonConfig(jitter=0.0, account_spread=SPREAD, misfire_grace=60.0, lease=60.0),
    )
    daemon = Daemon(config, engine, client_factory=lambda key: _client(config.api.base_url, key),
                    accounts=AccountDirectory(config, engine, Secret(TEST_KEY)), jobs=["accounts", "stops"],
                    job_clock=sim_clock(sim))
    assert [r.outcome for r in daemon.fire("accounts")] == ["success"]  # discovery, before the scheduler starts
    ids = _ids_by_token(engine)
    assert len(ids) == SUBACCOUNTS
    revoked = ids["tok-07"]
    sim.subaccounts.revoke("tok-07")

    # Two accounts whose offsets are far apart, and the revoked one: each must fire twice.
    offsets = {account_id: account_offset("stops", account_id, PERIOD, SPREAD) for account_id in ids.values()}
    early, late = min(offsets, key=offsets.__getitem__), max(offsets, key=offsets.__getitem__)
    watched = (early, late, revoked)
    started: dict[int, list[float]] = defaultdict(list)  # account id -> monotonic start of each scheduled run
    lock = threading.Lock()
    fire_account = daemon.fire_account

    def recorded(name: str, account_id: int) -> Any:
        if name == "stops":
            with lock:
                started[account_id].append(time.monotonic())
        return fire_account(name, account_id)

    daemon.fire_account = recorded  # type: ignore[method-assign]  # the entries call it as they would the method
    stop_clock = threading.Event()
    clock = _drive_clock(sim, stop_clock)
    scheduler = daemon.build_scheduler()
    scheduler.start()
    planned = {job.id: job.next_run_time for job in scheduler.get_jobs()}  # the scheduler's own next fire times
    try:
        deadline = time.monotonic() + 15.0
        while time.monotonic() < deadline:
            runs = _outcomes(engine)
            if len(runs) == SUBACCOUNTS + 1 and all(len(runs[a]) >= ROUNDS for a in watched):
                break
            time.sleep(0.2)
    finally:
        daemon.stopping.set()
        scheduler.shutdown(wait=True)
        stop_clock.set()
        clock.join(5)

    runs = _outcomes(engine)
    assert len(runs) == SUBACCOUNTS + 1, f"{len(runs)} accounts ran"
    assert all(len(runs[a]) >= ROUNDS for a in watched), {a: runs[a] for a in watched}
    # The revoked account fails every run; every other account, the parent included, succeeds every time,
    # those whose turn came after the revoked one's failures too.
    assert set(runs.pop(revoked)) == {"failed"}
    assert {outcome for outcomes in runs.values() for outcome in outcomes} == {"success"}
    first = {account_id: times[0] for account_id, times in started.items()}
    assert sum(first[a] > first[revoked] for a in runs if a != 1) >= 5

    span = max(first.values()) - min(first.values())
    print(f"first round: {len(first)} accounts started over {span:.2f} s (offsets over {max(offsets.values()):.2f} s)")
    # Fired apart: the first scheduled runs spread over the offsets, not one burst at the tick.
    assert len({round(t, 2) for t in first.values()}) >= 40
    gap = offsets[late] - offsets[early]
    assert gap > 0.8
    # In the scheduler's own fire times (whichever round each is at), the two are their offsets apart.
    phase = (planned[entry_id("stops", late)] - planned[entry_id("stops", early)]).total_seconds() % PERIOD
    assert abs(phase - gap) < 0.01, (phase, gap)
    # The later one never starts before its offset's distance from the earlier one.
    assert first[late] - first[early] >= gap - 0.15, (first[late] - first[early], gap)
    # And each keeps firing a period apart, the revoked one too (later only by the queue of the shared machine).
    for account_id in watched:
        apart = started[account_id][1] - started[account_id][0]
        assert PERIOD - SPREAD <= apart <= PERIOD + 3.0, (account_id, apart)
