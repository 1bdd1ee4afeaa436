"""The callback receiver: a small threaded HTTP server in front of the inbox.

``POST /<path_token>/stop`` (replies and STOPs) and ``POST /<path_token>/dlr`` (delivery reports).
The API documents no signature, authentication or retry policy for callbacks (REFERENCE §3.14),
so the URL's secret path token is the credential and ``push.allowed_networks`` can narrow the
sources. Every refusal gets a status, a counter and one log line with a reason, never the body
(it holds phone numbers and texts) and never the path (it holds the token, or a guess close to it):

======================================  ======  ======================
refusal                                 status  reason
======================================  ======  ======================
source address not in allowed networks  404     ``network``
wrong or missing path token             404     ``bad_token``
unknown channel under a good token      404     ``unknown_channel``
not POST on a good path                 405     ``method``
no Content-Length (chunked)             411     ``length_required``
body over ``push.max_body_bytes``       413     ``too_large``
not JSON / not an object                400     ``bad_json``
type not response/stop/text             422     ``unknown_type``
a required field missing or malformed   422     ``missing_field``/``bad_field``
database unavailable                    503     ``db_error``
======================================  ======  ======================

**Group commit.** Handler threads parse, then hand the record to one committer thread and wait.
The committer writes everything waiting in one transaction, commits, and only then are the
callers answered 200: an accepted callback is durable before the provider hears "OK". After
each commit an applier thread applies the new rows (`etl.push.apply.apply_pass`), so a STOP is a
stop period milliseconds later; applying never delays an answer. Batching is what makes
thousands of callbacks a second possible on one PostgreSQL connection (bench/push_receiver.py).
"""

from __future__ import annotations

import hmac
import ipaddress
import json
import logging
import queue
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from sqlalchemy import Engine
from sqlalchemy.exc import SQLAlchemyError

from etl.config import PushConfig
from etl.db.engine import writer
from etl.push.apply import ApplyResult, apply_pass, resolve_pending, store
from etl.push.parse import CHANNELS, Callback, CallbackRejected, parse_callback

log = logging.getLogger(__name__)

__all__ = ["PushReceiver", "PushCounters"]


def utcnow() -> datetime:
    return datetime.now(timezone.utc)


class PushCounters:
    """Thread-safe counters; exported as Prometheus counters when a registry is given."""

    def __init__(self, registry: Any = None) -> None:
        self._lock = threading.Lock()
        self.values: dict[tuple[str, str], int] = {}
        self._prom: dict[str, Any] = {}
        if registry is not None:
            from prometheus_client import Counter

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


@dataclass
class _Pending:
    callback: Callback
    source_ip: str
    done: threading.Event = field(default_factory=threading.Event)
    ok: bool = False
    duplicate: bool = False


_STOP = object()


class _Committer(threading.Thread):
    """Writes queued callbacks in batches, answers their callers, then applies (see module doc)."""

    def __init__(self, receiver: PushReceiver) -> None:
        super().__init__(name="push-committer", daemon=True)
        self.r = receiver
        self.queue: queue.Queue[object] = queue.Queue()
        self.stopping = threading.Event()

    def run(self) -> None:
        while True:
            stop = False
            batch: list[_Pending] = []
            try:
                item = self.queue.get(timeout=self.r.idle_seconds)
            except queue.Empty:
                item = None
                stop = self.stopping.is_set()
            while item is not None:
                if item is _STOP:
                    stop = True
                    break
                batch.append(item)  # type: ignore[arg-type]
                if len(batch) >= self.r.batch_max:
                    break
                try:
                    item = self.queue.get_nowait()
                except queue.Empty:
                    break
            if batch:
                self._commit(batch)
            if stop and self.queue.empty():
                break

    def _commit(self, batch: list[_Pending]) -> None:
        now = self.r.clock()
        try:
            with self.r.engine.begin() as conn:
                fresh = store(conn, [(p.callback, p.source_ip) for p in batch], now)
        except SQLAlchemyError as exc:
            log.error("push: could not store %d callback(s): %s", len(batch), type(exc).__name__)
            for p in batch:
                p.done.set()
            return
        for p, is_new in zip(batch, fresh):
            p.ok, p.duplicate = True, not is_new
            self.r.counters.inc("duplicate" if p.duplicate else "accepted", p.callback.channel)
            p.done.set()
        if any(fresh):
            if self.r.apply:
                with self.r._parsed_lock:
                    if len(self.r._parsed) < 100_000:  # bounded: the applier re-parses what is missing
                        self.r._parsed.update((p.callback.content_hash, p.callback) for p, new in zip(batch, fresh) if new)
            self.r._applier.wake.set()


class _Applier(threading.Thread):
    """Applies ``new`` inbox rows after each commit, and `resolve_pending` every ``resolve_every``."""

    def __init__(self, receiver: PushReceiver) -> None:
        super().__init__(name="push-applier", daemon=True)
        self.r = receiver
        self.wake = threading.Event()
        self.wake.set()  # rows may be left "new" by an earlier process: apply at start
        self.stopping = threading.Event()
        self._dirty = True
        self._last_resolve = 0.0

    def run(self) -> None:
        while True:
            woken = self.wake.wait(self.r.idle_seconds)
            self.wake.clear()
            self._dirty = self._dirty or woken
            self._apply()
            if self.stopping.is_set():
                self._dirty = True
                self._apply()  # what the committer stored last
                break

    def _apply(self) -> None:
        due_resolve = self.r.resolve_every and time.monotonic() - self._last_resolve >= self.r.resolve_every
        if not (self._dirty or due_resolve):
            return
        try:
            total = ApplyResult()
            while True:
                with self.r._parsed_lock:
                    parsed, self.r._parsed = self.r._parsed, {}
                result = apply_pass(self.r.engine, self.r.clock(), limit=self.r.apply_limit, parsed=parsed)
                total.add(result)
                handled = result.applied + result.waiting + result.failed
                if handled < self.r.apply_limit or self.stopping.is_set():
                    break
            self._dirty = total.deferred > 0
            if due_resolve:
                self._last_resolve = time.monotonic()
                with self.r.engine.begin() as conn:
                    total.add(resolve_pending(conn, self.r.clock()))
        except SQLAlchemyError as exc:
            log.error("push: applying the inbox failed (%s); the rows stay and are retried", type(exc).__name__)
            self._dirty = True
            return
        for detail, n in total.by_detail.items():
            self.r.counters.inc("applied", detail, n)
        if total.by_detail:
            log.debug("push applied: %s", total.by_detail)


class PushReceiver:
    """Serve the callback endpoints on ``config.host:config.port`` (0: any free port)."""

    def __init__(
        self,
        config: PushConfig,
        engine: Engine,
        *,
        counters: PushCounters | None = None,
        clock: Callable[[], datetime] = utcnow,
        apply: bool = True,
        batch_max: int = 500,
        apply_limit: int = 2000,
        resolve_every: float = 60.0,
        idle_seconds: float = 1.0,
        answer_timeout: float = 10.0,
        default_region: str = "FR",
    ) -> None:
        if not config.path_token:
            from etl.errors import ConfigError

            raise ConfigError("push.path_token: required to run the receiver")
        self.config = config
        self.engine = writer(engine)
        self.counters = counters or PushCounters()
        self.clock = clock
        self.apply = apply
        self.batch_max = batch_max
        self.apply_limit = apply_limit
        self.resolve_every = resolve_every
        self.idle_seconds = idle_seconds
        self.answer_timeout = answer_timeout
        self.default_region = default_region
        self._token = config.path_token.reveal().encode()
        self._networks = [ipaddress.ip_network(n, strict=False) for n in config.allowed_networks]
        self._parsed: dict[str, Callback] = {}
        self._parsed_lock = threading.Lock()
        self._committer = _Committer(self)
        self._applier = _Applier(self)
        self._server = ThreadingHTTPServer((config.host, config.port), _make_handler(self))
        self._server.daemon_threads = True
        self._server.request_queue_size = 256
        self._thread: threading.Thread | None = None

    @property
    def port(self) -> int:
        return int(self._server.server_address[1])

    def url(self, channel: str, host: str | None = None) -> str:
        """The full callback URL for ``channel`` (contains the secret: give it to SMS Partner only)."""
        return f"http://{host or self.config.host}:{self.port}/{self._token.decode()}/{channel}"

    def start(self) -> PushReceiver:
        self._committer.start()
        if self.apply:
            self._applier.start()
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.2}, name="push-http", daemon=True)
        self._thread.start()
        log.info("push receiver listening on %s:%d (paths /<token>/stop and /<token>/dlr)", self.config.host, self.port)
        return self

    def stop(self) -> None:
        """Stop accepting, store and apply what was accepted, then return."""
        self._server.shutdown()
        self._server.server_close()
        self._committer.stopping.set()
        self._committer.queue.put(_STOP)
        self._committer.join(timeout=30)
        if self._applier.is_alive():
            self._applier.stopping.set()
            self._applier.wake.set()
            self._applier.join(timeout=30)
        if self._thread is not None:
            self._thread.join(timeout=5)

    def __enter__(self) -> PushReceiver:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # --- decisions for one request (no I/O but the queue) ------------------------------------------

    def allowed_source(self, ip: str) -> bool:
        if not self._networks:
            return True
        try:
            address = ipaddress.ip_address(ip)
        except ValueError:
            return False
        return any(address in net for net in self._networks)

    def route(self, path: str) -> str | None:
        """The channel for a request path, or None when the token does not match."""
        parts = path.split("?", 1)[0].strip("/").split("/")
        if len(parts) != 2:
            return None
        if not hmac.compare_digest(parts[0].encode(), self._token):
            return None
        return parts[1]

    def submit(self, callback: Callback, source_ip: str) -> _Pending:
        pending = _Pending(callback, source_ip)
        self._committer.queue.put(pending)
        pending.done.wait(self.answer_timeout)
        return pending


def _make_handler(receiver: PushReceiver) -> type[BaseHTTPRequestHandler]:
    counters = receiver.counters

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        server_version = "smspartner-etl-push"
        sys_version = ""

        def setup(self) -> None:
            super().setup()
            # Headers and body go out in two writes: without this, Nagle plus delayed ACK add ~40 ms.
            self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

        def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - stdlib signature
            pass  # the request line holds the token

        def _answer(self, status: int, payload: dict[str, Any], *, close: bool = False) -> None:
            body = json.dumps(payload).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            if close:
                self.send_header("Connection", "close")
                self.close_connection = True
            self.end_headers()
            self.wfile.write(body)

        def _refuse(self, status: int, reason: str, detail: str = "", *, close: bool = False) -> None:
            counters.inc("refused", reason)
            log.warning("push: refused a call from %s: %d %s%s", self.client_address[0], status, reason, f" ({detail})" if detail else "")
            self._answer(status, {"ok": False, "error": reason} if status != 404 else {"error": "not found"}, close=close)

        def _channel(self) -> str | None:
            ip = self.client_address[0]
            if not receiver.allowed_source(ip):
                self._refuse(404, "network", close=True)
                return None
            channel = receiver.route(self.path)
            if channel is None:
                self._refuse(404, "bad_token", close=True)
                return None
            if channel not in CHANNELS:
                self._refuse(404, "unknown_channel", close=True)
                return None
            return channel

        def do_POST(self) -> None:
            channel = self._channel()
            if channel is None:
                return
            if "chunked" in (self.headers.get("Transfer-Encoding") or "").lower() or self.headers.get("Content-Length") is None:
                self._refuse(411, "length_required", close=True)
                return
            try:
                length = int(self.headers.get("Content-Length") or "0")
            except ValueError:
                self._refuse(400, "bad_length", close=True)
                return
            if length > receiver.config.max_body_bytes:
                self._refuse(413, "too_large", f"{length} bytes", close=True)
                return
            body = self.rfile.read(length)
            try:
                callback = parse_callback(channel, body, self.headers.get("Content-Type") or "", default_region=receiver.default_region)
            except CallbackRejected as exc:
                self._refuse(exc.status, exc.reason, exc.detail)
                return
            pending = receiver.submit(callback, self.client_address[0])
            if not pending.ok:
                self._refuse(503, "db_error", close=True)
                return
            self._answer(200, {"ok": True, "duplicate": pending.duplicate})

        def _not_post(self) -> None:
            if self._channel() is not None:
                self._refuse(405, "method", close=True)

        do_GET = do_PUT = do_DELETE = do_PATCH = _not_post

    return Handler
