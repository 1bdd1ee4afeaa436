"""`PushCounters`: the receiver's counters (accepted, duplicates, refused by reason, applied by outcome)."""

from __future__ import annotations

import threading
from typing import Any

from prometheus_client import CollectorRegistry, Counter

__all__ = ["PushCounters"]


class PushCounters:
    """Thread-safe counters; exported as Prometheus counters when a registry is given."""

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self._lock = threading.Lock()
        self.values: dict[tuple[str, str], int] = {}
        self._prom: dict[str, Any] = {}
        if registry is not None:
            self._prom = {
                "accepted": Counter("smspartner_etl_push_accepted", "Callbacks stored in the inbox.", ["channel"], registry=registry),
                "duplicate": Counter("smspartner_etl_push_duplicates", "Callbacks already in the inbox (replays).", ["channel"], registry=registry),
                "refused": Counter("smspartner_etl_push_refused", "Callbacks refused, by reason.", ["reason"], registry=registry),
                "applied": Counter("smspartner_etl_push_applied", "Inbox rows applied, by outcome.", ["detail"], registry=registry),
            }

    def inc(self, family: str, label: str, n: int = 1) -> None:
        if n <= 0:
            return
        with self._lock:
            self.values[(family, label)] = self.values.get((family, label), 0) + n
        counter = self._prom.get(family)
        if counter is not None:
            counter.labels(label).inc(n)

    def get(self, family: str, label: str | None = None) -> int:
        with self._lock:
            if label is not None:
                return self.values.get((family, label), 0)
            return sum(v for (f, _l), v in self.values.items() if f == family)
