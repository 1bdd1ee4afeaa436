"""Bench for `etl.phones`' loop APIs: a million numbers through each, median of five runs.

    .venv/bin/python bench/phones_batch.py                 # 1,000,000 numbers
    .venv/bin/python bench/phones_batch.py --numbers 200000 --repeat 3

No database and no peer: the figure is the per-number CPU cost of the fast path, to compare the code
before and after a change in one session (quote ``uptime``'s load average with it: the box is
shared). Variants, same numbers for each run:

- ``int_parser``: ``e164_int_parser("FR")`` over audience-file shapes (``bench/audience_filter.py``'s mix,
  unquoted as the CSV reader hands them over);
- ``canonicalizer``: ``canonicalizer("FR")`` over ``+33…`` stops as the API lists them;
- ``normalize_or_none``: the per-call API over the same audience shapes (a tenth of the numbers).

Tables and caches are built before timing (the first call per region builds them).
"""

from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from audience_filter import shape  # noqa: E402 - bench scripts import their siblings by path

from etl.phones import canonicalizer, e164_int_parser, normalize_or_none  # noqa: E402


def numbers(count: int, seed: int) -> tuple[list[str], list[str]]:
    """Audience shapes and ``+33…`` stops of random French mobiles (some invalid, as in real files)."""
    rng = random.Random(seed)
    nsns = [str(rng.randrange(6 * 10**8, 8 * 10**8)) for _ in range(count)]
    return [shape(n, rng).strip('"') for n in nsns], ["+33" + n for n in nsns]


def timed(func: Callable[[str], object], values: list[str], repeat: int) -> tuple[float, float]:
    """Median wall and median CPU seconds of ``repeat`` passes of ``func`` over ``values``.

    CPU time (this process's) is the figure to compare on a shared box: the wall also counts the
    time other agents held the cores.
    """
    func(values[0])
    walls, cpus = [], []
    for _ in range(repeat):
        started, cpu = time.perf_counter(), time.process_time()
        for value in values:
            func(value)
        walls.append(time.perf_counter() - started)
        cpus.append(time.process_time() - cpu)
    return statistics.median(walls), statistics.median(cpus)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--numbers", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--seed", type=int, default=8)
    args = parser.parse_args()
    audience, stops = numbers(args.numbers, args.seed)
    tenth = audience[: max(1, args.numbers // 10)]
    variants = {
        "int_parser": (e164_int_parser("FR"), audience),
        "canonicalizer": (canonicalizer("FR"), stops),
        "normalize_or_none": (lambda raw: normalize_or_none(raw, "FR"), tenth),
    }
    load = os.getloadavg()[0]
    figures: dict[str, object] = {"numbers": args.numbers, "repeat": args.repeat, "load_1min_start": round(load, 2)}
    for name, (func, values) in variants.items():
        wall, cpu = timed(func, values, args.repeat)
        figures[name] = {"wall_s": round(wall, 3), "cpu_s": round(cpu, 3), "cpu_us_per_number": round(cpu / len(values) * 1e6, 3)}
        print(f"{name:>18}: {cpu:6.3f} s CPU, {wall:6.3f} s wall (medians) for {len(values):,} numbers ({cpu / len(values) * 1e6:.3f} µs CPU each)")
    figures["load_1min_end"] = round(os.getloadavg()[0], 2)
    print(f"load average (1 min): {load:.2f} at start, {figures['load_1min_end']:.2f} at end")
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
