"""`SmsPartnerClient.stream_list` with `stoprows.run_shaper`: the stop rows, flattened, a run per megabyte, over real HTTP."""

from __future__ import annotations

from typing import Any

import pytest

from etl.api.client import SmsPartnerClient
from etl.api.lists import STOP_LIST
from etl.api.stoprows import run_shaper
from etl.errors import TransientApiError
from tests.api.helpers import stop_rows


def test_runs_flatten_to_exactly_the_stop_rows(client: SmsPartnerClient, sim: Any) -> None:
    sim.generate_stops(30_000)  # ~2.4 MB: several runs
    runs = list(client.stream_list(STOP_LIST, run_shaper("+00", max_raw=64)))
    rows = stop_rows(client, "+00", max_raw=64)
    assert len(runs) >= 2 and all(run and len(run) % 4 == 0 for run in runs)
    assert [value for run in runs for value in run] == [value for row in rows for value in row]
    assert len(rows) == 30_000


def test_a_stream_cut_short_gives_the_runs_before_it_then_a_transient_error(client: SmsPartnerClient, sim: Any) -> None:
    sim.generate_stops(30_000)
    sim.faults.inject("stop-sms/list", "drop", count=1, after_bytes=1_500_000)
    got = 0
    with pytest.raises(TransientApiError, match="cut short after"):
        for run in client.stream_list(STOP_LIST, run_shaper()):
            got += len(run) // 4
    assert 0 < got < 30_000


def test_an_unreadable_entry_goes_to_on_unreadable_and_the_rest_streams(client: SmsPartnerClient, sim: Any) -> None:
    for phone in ("+33611111111", "+33612222222", "+33613333333"):
        sim.add_stop(phone)
    sim.faults.inject("stop-sms/list", "malformed_item", index=1)
    met: list[tuple[Any, str]] = []

    def on_unreadable(item: Any, error: Exception) -> None:
        met.append((item, str(error)))

    runs = list(client.stream_list(STOP_LIST, run_shaper(on_unreadable=on_unreadable)))
    values = [value for run in runs for value in run]
    assert [values[i + 1] for i in range(0, len(values), 4)] == ["+33611111111", "+33613333333"]
    assert [item for item, _ in met] == ["n/a"] and "expected an object" in met[0][1]


def test_calls_sharing_a_budget_stop_at_its_attempts(client: SmsPartnerClient, sim: Any, sleeps: Any) -> None:
    sim.add_stop("+33611111111")
    sim.faults.inject("stop-sms/list", "http_503", count=None)
    budget = client.retry_budget()
    with pytest.raises(TransientApiError):
        list(client.stream_list(STOP_LIST, run_shaper(), budget=budget))
    with pytest.raises(TransientApiError):
        list(client.stream_list(STOP_LIST, run_shaper(), budget=budget))  # the budget is spent: one call, no retry
    assert budget.calls == client.policy.max_attempts + 1
    assert len(sim.calls_to("stop-sms/list")) == client.policy.max_attempts + 1
    assert len(sleeps) == client.policy.max_attempts - 1
