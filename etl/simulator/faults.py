"""Transport and payload faults on demand, per endpoint or "*".

Why: the client's retry policy (transient vs fatal, reads vs writes, Retry-After) can only be
proven against real failures on a real socket. A fault fires for the next ``count`` matching
calls, or with probability ``rate`` drawn from a seeded RNG (reproducible chaos runs).
"""

from __future__ import annotations

import math
import random
import threading
import time
from collections import deque
from dataclasses import dataclass, field, replace
from typing import Any
from urllib.parse import quote

KINDS = frozenset(
    {
        "http_500",
        "http_502",
        "http_503",
        "http_429",  # params: retry_after (seconds, default 1), retry_after_date (bool)
        "delay",  # params: seconds (default 5); the request is handled after the sleep
        "drop",  # headers + part of the body, then the socket is closed
        "truncated",  # Content-Length matches a body cut short (invalid JSON)
        "html_200",  # an HTML error page with HTTP 200
        "invalid_json",  # HTTP 200, application/json, not JSON
        "wrong_types",  # params: field, value (default: ints -> "n/a", main list -> object)
        "malformed_item",  # params: field, value, index (default 0): spoil one item of the answer's list
        "api_error",  # params: code (int), message (optional)
        "act_then_delay",  # write endpoints: apply the write, then sleep `seconds` before answering
        "key_echo",  # params: code (default 10), on ("error" | "success"), style (see KEY_ECHO_STYLES)
        "rate_limit",  # params: limit (calls), window (wall seconds, default 60): HTTP 429 above it
    }
)

#: How a careless API quotes the caller's key back in a text (fault ``key_echo``).
KEY_ECHO_STYLES = {
    "plain": lambda key: f"Clé API {key} invalide",
    "url": lambda key: f"Requête refusée : /v1/me?apiKey={quote(key, safe='')}",
    "upper": lambda key: f"CLÉ API {key.upper()} INVALIDE",
}


def key_echo_text(key: str, fault: Fault) -> str:
    """The text of a ``key_echo`` answer: one style, or ``style="all"`` for every style at once."""
    style = str(fault.params.get("style", "plain"))
    styles = list(KEY_ECHO_STYLES) if style == "all" else [style]
    return " ; ".join(KEY_ECHO_STYLES[name](key) for name in styles)

WRITE_ENDPOINTS = frozenset(
    {
        "send",
        "bulk-send",
        "stop-sms/add",
        "stop-sms/delete",
        "message-cancel",
        "subaccount/create",
        "subaccount/remove",
        "subaccount/credit/add",
        "subaccount/credit/remove",
        "group/add",
        "group/delete",
        "groupe/delete",
        "contact/add",
        "contact/update",
        "contact/delete",
        "hlr/notify",
    }
)


@dataclass
class Fault:
    endpoint: str
    kind: str
    count: int | None
    rate: float | None
    params: dict[str, Any] = field(default_factory=dict)
    fired: int = 0
    #: ``rate_limit``: wall-clock times of the calls it let through in the current window.
    admitted: deque[float] = field(default_factory=deque)

    def matches(self, endpoint: str) -> bool:
        return self.endpoint in ("*", endpoint)


class FaultInjector:
    """Queue of faults; ``take(endpoint)`` decides whether one fires for this call."""

    def __init__(self, seed: int = 0) -> None:
        self._lock = threading.Lock()
        self._faults: list[Fault] = []
        self._rng = random.Random(f"faults:{seed}")

    def inject(
        self,
        endpoint: str = "*",
        kind: str = "http_500",
        *,
        count: int | None = 1,
        rate: float | None = None,
        **params: Any,
    ) -> Fault:
        """Queue a fault. ``rate`` alone means "every call with that probability, forever"."""
        if kind not in KINDS:
            raise ValueError(f"unknown fault kind {kind!r}; known: {sorted(KINDS)}")
        endpoint = endpoint.strip("/")
        if endpoint.startswith("v1/"):
            endpoint = endpoint[3:]
        if kind == "act_then_delay" and endpoint != "*" and endpoint not in WRITE_ENDPOINTS:
            raise ValueError("act_then_delay only makes sense on a write endpoint")
        if kind == "key_echo" and (
            params.get("style", "plain") not in (*KEY_ECHO_STYLES, "all") or params.get("on", "error") not in ("error", "success")
        ):
            raise ValueError(f"key_echo: style is one of {sorted(KEY_ECHO_STYLES)} or 'all', on is 'error' or 'success'")
        if kind == "rate_limit":
            _check_rate_limit(params)
            count, rate = None, None  # a limiter stays until clear()
        if rate is not None and count == 1:
            count = None  # inject(kind, rate=0.1) means "forever at 10 %"
        fault = Fault(endpoint or "*", kind, count, rate, dict(params))
        with self._lock:
            self._faults.append(fault)
        return fault

    def clear(self) -> None:
        with self._lock:
            self._faults.clear()

    def pending(self) -> list[Fault]:
        with self._lock:
            return list(self._faults)

    def take(self, endpoint: str, *, wall: float | None = None) -> Fault | None:
        """The fault to apply to this call, if any (consumes one use of a counted fault).

        ``wall`` is the call's arrival (Unix seconds, the call log's ``wall_at``): every
        ``rate_limit`` counts it first, and the first one over its limit answers for it.
        """
        with self._lock:
            limited = self._over_rate(endpoint, time.time() if wall is None else wall)
            if limited is not None:
                return limited
            for fault in self._faults:
                if not fault.matches(endpoint) or fault.kind == "rate_limit":
                    continue
                if fault.kind == "act_then_delay" and endpoint not in WRITE_ENDPOINTS:
                    continue
                if fault.rate is not None and self._rng.random() >= fault.rate:
                    continue
                fault.fired += 1
                if fault.count is not None:
                    fault.count -= 1
                    if fault.count <= 0:
                        self._faults.remove(fault)
                return fault
        return None

    def _over_rate(self, endpoint: str, wall: float) -> Fault | None:
        """A copy of the first ``rate_limit`` this call exceeds, ``retry_after`` set to when its window
        frees a call; else None, and every matching limiter has counted the call (under the lock)."""
        limiters = [f for f in self._faults if f.kind == "rate_limit" and f.matches(endpoint)]
        for fault in limiters:
            window = float(fault.params.get("window", 60))
            while fault.admitted and wall - fault.admitted[0] >= window:
                fault.admitted.popleft()
            if len(fault.admitted) >= int(fault.params["limit"]):
                fault.fired += 1
                wait = max(1, math.ceil(window - (wall - fault.admitted[0])))
                return replace(fault, params={**fault.params, "retry_after": wait}, admitted=deque())
        for fault in limiters:
            fault.admitted.append(wall)
        return None


def _check_rate_limit(params: dict[str, Any]) -> None:
    limit, window = params.get("limit"), params.get("window", 60)
    if not isinstance(limit, int) or isinstance(limit, bool) or limit < 1:
        raise ValueError("rate_limit needs limit, a whole number of calls >= 1")
    if not isinstance(window, (int, float)) or isinstance(window, bool) or window <= 0:
        raise ValueError("rate_limit: window is a number of seconds > 0")
