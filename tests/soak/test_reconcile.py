"""The soak's reconciler judges the product: its own rules are tested here, without a soak."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from types import SimpleNamespace

from etl.simulator.core import Event
from tests.soak.reconcile import _stops

T0 = datetime(2026, 11, 23, 12, 0, tzinfo=timezone.utc)
TICK = timedelta(seconds=172.8)  # one soak tick of simulated time


def _truth(removed_at: datetime) -> dict[str, object]:
    return {
        "current_stops": {},
        "events": [
            Event(T0 - timedelta(days=8), "stop_added", {"id": 23, "phone": "+33712345678"}),
            Event(removed_at, "stop_removed", {"id": 23, "phone": "+33712345678"}),
        ],
    }


def _run(started: datetime, finished: datetime) -> SimpleNamespace:
    return SimpleNamespace(started_at=started, finished_at=finished)


def _closed_line(removed_at: datetime, runs: list[SimpleNamespace]) -> object:
    return _stops(_truth(removed_at), [], runs)[1]


def test_a_sync_in_the_same_tick_as_the_removal_proves_nothing_so_the_stop_counts_as_unseen() -> None:
    removal = T0 + 5 * TICK
    line = _closed_line(removal, [_run(removal, removal)])
    assert (line.missing, line.unseen, line.expected) == (0, 1, 0)


def test_a_sync_strictly_inside_the_stops_life_makes_its_removal_expected() -> None:
    removal = T0 + 5 * TICK
    line = _closed_line(removal, [_run(removal - TICK, removal - TICK)])
    assert (line.missing, line.unseen, line.expected) == (1, 0, 1)
