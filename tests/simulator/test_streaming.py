"""The 1,000,000-entry stop list is streamed: the server never holds the body (82 MB) in memory."""

from __future__ import annotations

import threading
import time
import tracemalloc
from pathlib import Path

import pytest

from etl.simulator import Simulator

from .conftest import Api


def _rss_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError("no VmRSS")


@pytest.mark.skipif(not Path("/proc/self/status").exists(), reason="needs /proc (Linux) to sample RSS")
def test_one_million_stops_stream_in_bounded_memory_and_time(sim: Simulator, api: Api) -> None:
    before = _rss_mb()
    sim.generate_stops(1_000_000, seed=9)
    assert _rss_mb() - before < 5  # compact: nothing per entry is stored
    peak = [before]
    done = threading.Event()

    def sample() -> None:
        while not done.is_set():
            peak[0] = max(peak[0], _rss_mb())
            time.sleep(0.02)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    t0 = time.monotonic()
    r = api.http.get(f"{api.base}/stop-sms/list", params={"apiKey": "sim-key-0123"}, stream=True, timeout=30)
    assert r.headers["Transfer-Encoding"] == "chunked"
    size, tail = 0, b""
    for chunk in r.iter_content(1 << 16):
        size += len(chunk)
        tail = (tail + chunk)[-200:]
    elapsed = time.monotonic() - t0
    done.set()
    sampler.join()
    assert size > 80_000_000 and tail.endswith(b'"}]}')
    assert peak[0] - before < 40, f"RSS grew {peak[0] - before:.0f} MB while serving an {size / 1e6:.0f} MB body"
    assert elapsed < 20


def test_streaming_peak_allocation_does_not_grow_with_list_size(sim: Simulator, api: Api) -> None:
    sim.generate_stops(20_000)
    peaks = []
    # tracemalloc counts every thread of this process: a server thread left by an earlier test
    # (a client that hung up mid-stream) can allocate meanwhile. The smaller of three peaks is ours.
    for _ in range(3):
        tracemalloc.start()
        try:
            body = api.get("stop-sms/list").content
            peaks.append(tracemalloc.get_traced_memory()[1])
        finally:
            tracemalloc.stop()
    # the client side holds the 1.6 MB body; the server side adds only a chunk at a time
    assert min(peaks) < len(body) * 2.5 + 2_000_000


def test_rental_file_is_streamed(sim: Simulator, api: Api) -> None:
    sim.add_rental("big", 50_000, stop_share=0.01)
    r = api.http.get(f"{api.base}/location/file/download", params={"apiKey": "sim-key-0123", "token": "big"}, timeout=30)
    assert r.headers["Transfer-Encoding"] == "chunked"
    body = r.json()
    assert body["phoneNumbers"] == 50_000 and len(body["datas"]) == 50_000
    assert len({d["phone"] for d in body["datas"]}) == 50_000
