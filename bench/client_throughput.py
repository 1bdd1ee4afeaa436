"""Client throughput against the simulator (issue 3, "Must show").

Variants, same simulator, one runner (SQLAlchemy ``examples/performance`` shape):

* ``status_one_by_one``: ``GET /message-status`` per (message, number) pair.
* ``status_multi_500``: ``POST /multi-status`` in batches of 500 pairs.
* ``stream_stops``: ``iter_stops()`` over a 1,000,000-entry stop list (ijson, parse, E.164), with
  peak RSS of this process. The simulator runs in a **separate process** so its memory and CPU
  are not counted.
* ``stream_stop_runs``: the same list through the stop sync's shape (``stream_list`` with
  ``stoprows.run_shaper``: flat runs of staging values, dates as UTC text), no database.

Usage: ``python bench/client_throughput.py [--pairs 5000] [--stops 1000000] [--sample 1000]``
(``--sample``: how many one-by-one calls to time; the rate is extrapolated to ``--pairs``).
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import resource
import sys
import time
from typing import Any

KEY = "bench-key-not-secret"


def _serve(conn: Any, pairs: int, stops: int, nagle_fix: bool) -> None:
    """Child process: a simulator with ``pairs`` recipients and ``stops`` stop entries."""
    from datetime import timedelta

    from etl.simulator import Simulator, SimulatorServer

    if nagle_fix:
        # The stdlib handler writes headers and body in separate segments; with Nagle on the server
        # and delayed ACK on the client each small answer then waits ~40 ms. The stdlib knob
        # (StreamRequestHandler.disable_nagle_algorithm) sets TCP_NODELAY on accepted sockets.
        from etl.simulator import server as sim_server

        sim_server._Handler.disable_nagle_algorithm = True

    sim = Simulator(api_key=KEY, seed=3)
    sim.quirks.update(stream_chunk_entries=5000)
    sim.max_calls = 1000
    phones = [f"+336{n:08d}" for n in range(pairs)]
    out: list[tuple[str, str]] = []
    for start in range(0, pairs, 500):
        chunk = phones[start : start + 500]
        mid = sim.send(chunk, "bench", sandbox=True)
        out.extend((str(mid), p) for p in chunk)
    sim.clock.advance(timedelta(hours=1))
    sim.generate_stops(stops)
    server = SimulatorServer(sim).start()
    conn.send((server.base_url, out))
    conn.recv()  # wait for "stop"
    server.stop()


def status_one_by_one(client: Any, pairs: list[tuple[str, str]]) -> float:
    """message-status, one call per pair: returns calls/s."""
    start = time.perf_counter()
    for mid, phone in pairs:
        client.message_status(mid, phone)
    return len(pairs) / (time.perf_counter() - start)


def status_multi_500(client: Any, pairs: list[tuple[str, str]]) -> tuple[float, float]:
    """multi-status, 500 pairs per call: returns (calls/s, pairs/s)."""
    start = time.perf_counter()
    calls = 0
    for i in range(0, len(pairs), 500):
        items = client.multi_status(pairs[i : i + 500])
        assert all(item.ok for item in items)
        calls += 1
    elapsed = time.perf_counter() - start
    return calls / elapsed, len(pairs) / elapsed


def stream_stops(client: Any) -> tuple[int, float, int]:
    """iter_stops over the whole list: (count, seconds, count with an E.164 number)."""
    start = time.perf_counter()
    count = e164 = 0
    for stop in client.iter_stops():
        count += 1
        if stop.phone_e164 is not None:
            e164 += 1
    return count, time.perf_counter() - start, e164


def stream_stop_runs(client: Any) -> tuple[int, float]:
    """stream_list with the stop sync's shaper over the whole list: (count, seconds)."""
    from etl.api.lists import STOP_LIST
    from etl.api.stoprows import run_shaper

    start = time.perf_counter()
    values = 0
    for run in client.stream_list(STOP_LIST, run_shaper("+00", max_raw=64)):
        values += len(run)
    return values // 4, time.perf_counter() - start


def download_only(base_url: str) -> tuple[int, float]:
    """Baseline: the raw body bytes of /stop-sms/list, nothing parsed (what the simulator can serve)."""
    import requests

    start = time.perf_counter()
    size = 0
    with requests.get(f"{base_url}/stop-sms/list", params={"apiKey": KEY}, stream=True, timeout=60) as resp:
        for chunk in resp.iter_content(65536):
            size += len(chunk)
    return size, time.perf_counter() - start


def ijson_only(base_url: str) -> tuple[int, float]:
    """Baseline: ijson items over the raw socket, no record building (no dates, no E.164)."""
    import ijson
    import requests

    start = time.perf_counter()
    count = 0
    with requests.get(f"{base_url}/stop-sms/list", params={"apiKey": KEY}, stream=True, timeout=60) as resp:
        resp.raw.decode_content = True
        for _ in ijson.items(resp.raw, "data.item", use_float=False):
            count += 1
    return count, time.perf_counter() - start


def _peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux: KiB


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--pairs", type=int, default=5000)
    parser.add_argument("--stops", type=int, default=1_000_000)
    parser.add_argument("--sample", type=int, default=5000, help="one-by-one calls actually made")
    parser.add_argument("--breakdown", action="store_true", help="also time download-only and ijson-only")
    parser.add_argument("--keep-nagle", action="store_true", help="leave the simulator's sockets as they are")
    args = parser.parse_args()

    from etl.api import SmsPartnerClient
    from etl.config import Secret

    parent, child = mp.Pipe()
    proc = mp.get_context("spawn").Process(target=_serve, args=(child, args.pairs, args.stops, not args.keep_nagle), daemon=True)
    t0 = time.perf_counter()
    proc.start()
    base_url, pairs = parent.recv()
    print(f"simulator (TCP_NODELAY={'off' if args.keep_nagle else 'on'}) ready in {time.perf_counter() - t0:.1f} s ({len(pairs)} pairs, {args.stops} stops)")
    rss_before = _peak_rss_mb()
    results: dict[str, Any] = {}
    try:
        with SmsPartnerClient(base_url, Secret(KEY), read_timeout=60) as client:
            sample = pairs[: args.sample]
            one = status_one_by_one(client, sample)
            multi_calls, multi_pairs = status_multi_500(client, pairs)
            print(f"message-status one by one : {one:8.0f} calls/s = {one:8.0f} pairs/s "
                  f"({len(sample)} calls; {len(pairs)} pairs would take {len(pairs) / one:.1f} s)")
            print(f"multi-status, 500 a batch : {multi_calls:8.1f} calls/s = {multi_pairs:8.0f} pairs/s "
                  f"({-(-len(pairs) // 500)} calls; {len(pairs)} pairs in {len(pairs) / multi_pairs:.2f} s; "
                  f"x{multi_pairs / one:.0f} faster per pair)")
            if args.breakdown:
                size, secs = download_only(base_url)
                print(f"  baseline download only  : {size / 1e6:.0f} MB in {secs:.2f} s")
                n, secs = ijson_only(base_url)
                print(f"  baseline ijson items    : {n} items in {secs:.2f} s")
            count, seconds, e164 = stream_stops(client)
            peak = _peak_rss_mb()
            print(f"iter_stops                : {count} stops in {seconds:.2f} s = {count / seconds:,.0f} stops/s, "
                  f"{e164} with E.164; peak RSS {peak:.0f} MB (before streaming {rss_before:.0f} MB) "
                  f"[goal <= 10 s, <= 200 MB]")
            runs_count, runs_seconds = stream_stop_runs(client)
            print(f"stop runs (sync shape)    : {runs_count} stops in {runs_seconds:.2f} s = "
                  f"{runs_count / runs_seconds:,.0f} stops/s")
            results = {
                "message_status_calls_per_s": round(one, 1),
                "multi_status_calls_per_s": round(multi_calls, 2),
                "multi_status_pairs_per_s": round(multi_pairs, 1),
                "stops": count,
                "stream_seconds": round(seconds, 2),
                "stop_runs_seconds": round(runs_seconds, 2),
                "peak_rss_mb": round(peak, 1),
            }
    finally:
        parent.send("stop")
        proc.join(timeout=10)
    print(json.dumps(results))
    return 0


if __name__ == "__main__":
    sys.exit(main())
