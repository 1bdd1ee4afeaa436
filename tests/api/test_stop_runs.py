"""`SmsPartnerClient.iter_stop_runs`: the stop rows, flattened, a run per megabyte, over real HTTP."""

from __future__ import annotations

from typing import Any

import pytest

from etl.api.client import SmsPartnerClient
from etl.errors import TransientApiError


def test_runs_flatten_to_exactly_the_stop_rows(client: SmsPartnerClient, sim: Any) -> None:
    sim.generate_stops(30_000)  # ~2.4 MB: several runs
    runs = list(client.iter_stop_runs("+00", max_raw=64))
    rows = list(client.iter_stop_rows("+00", max_raw=64))
    assert len(runs) >= 2 and all(run and len(run) % 4 == 0 for run in runs)
    assert [value for run in runs for value in run] == [value for row in rows for value in row]
    assert len(rows) == 30_000


def test_a_stream_cut_short_gives_the_runs_before_it_then_a_transient_error(client: SmsPartnerClient, sim: Any) -> None:
    sim.generate_stops(30_000)
    sim.faults.inject("stop-sms/list", "drop", count=1, after_bytes=1_500_000)
    got = 0
    with pytest.raises(TransientApiError, match="cut short after"):
        for run in client.iter_stop_runs():
            got += len(run) // 4
    assert 0 < got < 30_000
