"""The daemon's small HTTP endpoint: ``/metrics`` (Prometheus) and ``/healthz``.

``/healthz`` answers 200 with a JSON body while every scheduled job has *finished a successful run
within its* ``jobs.<name>.staleness`` — by any instance, since the figure comes from ``sync_runs`` —
and 503 with the reasons otherwise. A job that never succeeded is given the staleness from the
daemon's start before it counts against health (a fresh install is not "down"). The database being
unreadable is unhealthy too. The decision is the pure function `evaluate`. Unacknowledged breaches make it
``degraded`` (still 200: the daemon works, a person must look; `with_breaches`).
"""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from prometheus_client import CONTENT_TYPE_LATEST

from etl.config import JobSchedule

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Health:
    ok: bool
    reasons: list[str] = field(default_factory=list)
    jobs: dict[str, dict[str, Any]] = field(default_factory=dict)
    #: What needs a person without the daemon being down (unacknowledged breaches): answered 200, ``degraded``.
    degraded: list[str] = field(default_factory=list)

    def body(self) -> dict[str, Any]:
        status = "unhealthy" if not self.ok else "degraded" if self.degraded else "ok"
        body: dict[str, Any] = {"status": status, "reasons": self.reasons, "jobs": self.jobs}
        if self.degraded:
            body["degraded"] = self.degraded
        return body


def with_breaches(health: Health, open_by_account: Mapping[str, int]) -> Health:
    """``health`` degraded by each account's unacknowledged breaches (docs/compliance.md, "Breaches")."""
    notes = [
        f"account {label}: {count} unacknowledged breach(es) (smspartner-etl breaches list)"
        for label, count in sorted(open_by_account.items())
        if count
    ]
    return Health(health.ok, health.reasons, health.jobs, [*health.degraded, *notes])


def evaluate(
    last_success: Mapping[str, datetime | None],
    schedules: Mapping[str, JobSchedule],
    started_at: datetime,
    now: datetime,
) -> Health:
    """Healthy when each job's last success (or, never having one, the start) is within its staleness."""
    reasons: list[str] = []
    jobs: dict[str, dict[str, Any]] = {}
    for name, schedule in schedules.items():
        last = last_success.get(name)
        reference = last or started_at
        age = (now - reference).total_seconds()
        fresh = age <= schedule.staleness
        jobs[name] = {
            "last_success": last.isoformat() if last else None,
            "age_seconds": round(age, 1) if last else None,
            "staleness_seconds": schedule.staleness,
            "ok": fresh,
        }
        if not fresh:
            if last is None:
                reasons.append(f"job {name} has not succeeded since the daemon started {age:.0f}s ago (staleness {schedule.staleness:.0f}s)")
            else:
                reasons.append(f"job {name} last succeeded {age:.0f}s ago, more than its staleness of {schedule.staleness:.0f}s")
    return Health(not reasons, reasons, jobs)


class HealthServer:
    """A threaded HTTP server on ``host:port`` (port 0 here means "any free port", for tests)."""

    def __init__(self, host: str, port: int, metrics_body: Callable[[], bytes], health: Callable[[], Health]) -> None:
        self._metrics_body = metrics_body
        self._health = health
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - stdlib signature
                log.debug("health %s", format % args)

            def do_GET(self) -> None:
                path = self.path.split("?", 1)[0]
                try:
                    if path == "/metrics":
                        self._reply(200, outer._metrics_body(), CONTENT_TYPE_LATEST)
                    elif path in ("/healthz", "/health"):
                        result = outer._health()
                        body = json.dumps(result.body(), indent=1).encode()
                        self._reply(200 if result.ok else 503, body, "application/json")
                    else:
                        self._reply(404, b'{"error": "not found; try /metrics or /healthz"}', "application/json")
                except Exception as exc:  # noqa: BLE001 - a broken probe must answer, not hang
                    log.exception("health endpoint %s failed", path)
                    failed = json.dumps({"status": "unhealthy", "reasons": [f"health check failed: {type(exc).__name__}"]})
                    self._reply(503, failed.encode(), "application/json")

            def _reply(self, status: int, body: bytes, ctype: str) -> None:
                self.send_response(status)
                self.send_header("Content-Type", ctype)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

        self._server = ThreadingHTTPServer((host, port), Handler)
        self._server.daemon_threads = True
        self._thread: threading.Thread | None = None

    @property
    def port(self) -> int:
        return int(self._server.server_address[1])

    def start(self) -> HealthServer:
        self._thread = threading.Thread(target=self._server.serve_forever, name="health-http", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
