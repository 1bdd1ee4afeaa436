"""A number that opts out, is texted after its STOP, and one whose stop is removed: shared by the compliance tests."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from etl.jobs import actions
from etl.tracking import TrackedSend, track
from tests.jobs.helpers import run, sim_clock

STOPPED = "+33612345678"  # opted out, texted within the grace, then after it
OTHER = "+33698765432"  # never opted out
REMOVED = "+33611112222"  # opted out, texted, then removed from the list and texted again


@dataclass(frozen=True)
class Scenario:
    within_grace: str
    after_stop: str
    after_removal: str


def sync(name: str, engine: Any, config: Any, client: Any, sim: Any) -> None:
    report = run(name, engine, config, client, now=sim_clock(sim))
    assert report.ok, report


def send_and_track(engine: Any, config: Any, sim: Any, phones: list[str]) -> str:
    mid = sim.send(phones)
    now = sim_clock(sim)()
    track(engine, [TrackedSend(mid, phones, sent_at=now)], now=now, config=config.statuses)
    return str(mid)


def play(engine: Any, config: Any, client: Any, sim: Any) -> Scenario:
    """Two stops in the list, sends 10 min and 3 h after them, a removal by the tool, a send after the removal."""
    sim.quirks.send_to_stopped = "deliver"
    sim.add_stop(STOPPED)
    sim.add_stop(REMOVED)
    sync("stops", engine, config, client, sim)
    sim.clock.advance(timedelta(minutes=10))
    within = send_and_track(engine, config, sim, [STOPPED])
    sim.clock.advance(timedelta(hours=3))
    after = send_and_track(engine, config, sim, [STOPPED, OTHER, REMOVED])
    sim.clock.advance(timedelta(minutes=5))
    sync("statuses", engine, config, client, sim)
    sim.clock.advance(timedelta(hours=1))
    removal = actions.remove_stop(
        client, engine, REMOVED, consent_evidence="signed form 2026-12-01", actor="alice", reason="re-consent <form> 2026-12-01",
        now=sim_clock(sim),
    )
    assert removal.outcome == "success", removal
    sim.clock.advance(timedelta(minutes=5))
    after_removal = send_and_track(engine, config, sim, [REMOVED])
    sim.clock.advance(timedelta(minutes=5))
    sync("statuses", engine, config, client, sim)
    return Scenario(within, after, after_removal)
