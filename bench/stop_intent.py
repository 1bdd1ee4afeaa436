"""Throughput of the STOP-intent classifier (etl/compliance/intent.py): replies classified per second.

The corpus (tests/data/stop_intent_*.tsv, both sets) is classified over and over in one process, on one
core; each reply is one `classify` call, as push apply and the backfill make them. Figures: docs/benchmarks.md.

    .venv/bin/python bench/stop_intent.py [--seconds 5]
"""

from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path

from etl.compliance.intent import classify

DATA = Path(__file__).resolve().parents[1] / "tests" / "data"


def corpus() -> list[str]:
    texts = []
    for name in ("stop_intent_corpus.tsv", "stop_intent_heldout.tsv"):
        for line in (DATA / name).read_text(encoding="utf-8").splitlines():
            if line.strip() and not line.startswith("#"):
                texts.append(line.split("\t", 3)[3])
    return texts


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=5.0)
    seconds = parser.parse_args().seconds
    texts = corpus()
    done, started, cpu0 = 0, time.perf_counter(), time.process_time()
    while time.perf_counter() - started < seconds:
        for text in texts:
            classify(text)
        done += len(texts)
    wall, cpu = time.perf_counter() - started, time.process_time() - cpu0
    print(json.dumps({"replies": done, "per_s_wall": round(done / wall), "per_s_cpu": round(done / cpu), "load": os.getloadavg()[0]}))


if __name__ == "__main__":
    main()
