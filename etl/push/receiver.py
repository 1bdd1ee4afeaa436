"""The callback receiver: an asyncio HTTP front (aiohttp) in front of the inbox.

``POST /<path_token>/stop`` (replies and STOPs) and ``POST /<path_token>/dlr`` (delivery reports)
for the parent account; ``POST /<path_token>/<label>/stop|dlr`` for the account labelled ``label`` in
``accounts`` (each sub-account's callbacks land on its own rows: docs/push.md, "One URL per account").
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
unknown account label under a good token 404    ``unknown_account``
not POST on a good path                 405     ``method``
no Content-Length (chunked)             411     ``length_required``
body over ``push.max_body_bytes``       413     ``too_large``
not JSON / not an object / too deep     400     ``bad_json``
type not response/stop/text             422     ``unknown_type``
a required field missing or malformed   422     ``missing_field``/``bad_field``
not HTTP (aiohttp's parser refused it)  400     ``bad_http``
database unavailable                    503     ``db_error``
======================================  ======  ======================

A 422 is a JSON object we could not read: besides the counter, its body is quarantined in
``rejected_items`` (endpoint ``push/stop`` or ``push/dlr``, ref_kind ``push``), written by the
database thread after the next group commit, so what the provider said can still be looked at.

**Threads.** One thread runs an asyncio event loop serving HTTP with aiohttp's low-level server
(its HTTP parser is C; we route the two paths ourselves, no router, no access log: the request
line holds the token). The standard library's threaded ``http.server`` it replaces spent its time
in per-request Python work under the GIL and topped out near 1,200 requests/s on one process
(docs/benchmarks.md). A second thread (a one-worker executor) does every inbox write; a third,
the applier, applies what was stored.

**Group commit.** A handler parses, queues the record and waits on a future. The flusher task
hands everything queued to the database thread, which writes it in one transaction and commits;
only then are the futures resolved and the callers answered 200, so an accepted callback is
durable before the provider hears "OK". Callbacks arriving while a commit is in flight form the
next batch (at most ``batch_max``). After each commit the applier thread applies the new rows
(`etl.push.apply.apply_pass`, at most one pass every ``apply_every`` seconds), so a STOP is a stop
period a fraction of a second later; applying never delays an answer. Batching is what makes thousands of callbacks a second possible on one
database connection (bench/push_receiver.py).
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import logging
import socket
import threading
import time
import traceback
from collections.abc import Callable
from datetime import datetime
from typing import Any

from aiohttp import web
from aiohttp.http_exceptions import HttpProcessingError
from sqlalchemy import Engine
from sqlalchemy.exc import SQLAlchemyError

from etl.accounts import PARENT_ID
from etl.clock import utcnow
from etl.config import PushConfig
from etl.db.engine import writer
from etl.networks import contains, parse_networks
from etl.push.apply import ApplyResult, apply_pass, resolve_pending
from etl.push.counters import PushCounters
from etl.push.parse import CHANNELS, Callback, CallbackRejected, parse_callback
from etl.push.routes import AccountLabels, path_of, route
from etl.push.store import store
from etl.quarantine import Rejection, record

log = logging.getLogger(__name__)

__all__ = ["PushReceiver", "PushCounters"]

#: Answers sent often enough to build once.
_OK_NEW = b'{"ok": true, "duplicate": false}'
_OK_DUPLICATE = b'{"ok": true, "duplicate": true}'
_NOT_FOUND = b'{"error": "not found"}'
_HEADERS = {"Server": "smspartner-etl-push"}


class _Applier(threading.Thread):
    """Applies ``new`` inbox rows after each commit, and `resolve_pending` every ``resolve_every``.

    A pass costs mostly the same whatever its size (a dozen statements), so under load it waits
    until ``apply_every`` seconds have passed since the previous one: one pass of a few hundred
    rows instead of one per group commit, which would take the GIL from the HTTP thread for
    little work each time (docs/benchmarks.md, "Push receiver design figures", U1).
    """

    def __init__(self, receiver: PushReceiver) -> None:
        super().__init__(name="push-applier", daemon=True)
        self.r = receiver
        self.wake = threading.Event()
        self.wake.set()  # rows may be left "new" by an earlier process: apply at start
        self.stopping = threading.Event()
        self._dirty = True
        self._last_resolve = 0.0
        self._last_pass = 0.0

    def run(self) -> None:
        while True:
            woken = self.wake.wait(self.r.idle_seconds)
            pause = self.r.apply_every - (time.monotonic() - self._last_pass)
            if woken and pause > 0:
                self.stopping.wait(pause)  # let the next rows join this pass
            self.wake.clear()
            self._dirty = self._dirty or woken
            self._apply()
            self._last_pass = time.monotonic()
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
                result = apply_pass(self.r.engine, self.r.clock(), limit=self.r.apply_limit, parsed=parsed, dlr_costs=self.r.dlr_costs)
                total.add(result)
                handled = result.applied + result.waiting + result.failed
                if handled < self.r.apply_limit or self.stopping.is_set():
                    break
            self._dirty = total.deferred > 0
            if due_resolve:
                self._last_resolve = time.monotonic()
                with self.r.engine.begin() as conn:
                    total.add(resolve_pending(conn, self.r.clock(), dlr_costs=self.r.dlr_costs))
        except SQLAlchemyError as exc:
            log.error("push: applying the inbox failed (%s); the rows stay and are retried", type(exc).__name__)
            self._dirty = True
            return
        for detail, n in total.by_detail.items():
            self.r.counters.inc("applied", detail, n)
        if total.by_detail:
            log.debug("push applied: %s", total.by_detail)


class _ServerLog:
    """Stands in for aiohttp's server logger, which logs a refused or failed request with its
    exception: the text of a parser error may quote the request line (the token) or a header, and
    a traceback out of parsing may quote the body. We keep the source address, the exception's
    name and, for our own bugs, where it was raised; a request the HTTP parser refused is counted
    as a ``bad_http`` refusal."""

    def __init__(self, counters: PushCounters) -> None:
        self.counters = counters

    def _report(self, msg: object, args: tuple[Any, ...], exc: BaseException | None) -> None:
        if msg == "Error handling request from %s" and isinstance(exc, HttpProcessingError):
            self.counters.inc("refused", "bad_http")
            log.warning("push: refused a call from %s: %d bad_http (%s)", args[0] if args else "?", exc.code or 400, type(exc).__name__)
            return
        where = ""
        if exc is not None and exc.__traceback__ is not None:
            frame = traceback.extract_tb(exc.__traceback__)[-1]
            where = f" at {frame.filename}:{frame.lineno}"
        log.error("push: HTTP server: %s (%s%s)", str(msg).replace("%s", "?"), type(exc).__name__ if exc else "no exception", where)

    def exception(self, msg: object, *args: Any, exc_info: Any = None, **_kw: Any) -> None:
        self._report(msg, args, exc_info if isinstance(exc_info, BaseException) else None)

    def debug(self, msg: object, *args: Any, exc_info: Any = None, **_kw: Any) -> None:
        if isinstance(exc_info, BaseException):  # aiohttp's first-request BadHttpMethod (a port scan, TLS)
            self._report(msg, args, exc_info)

    def warning(self, msg: object, *args: Any, **_kw: Any) -> None:
        log.warning("push: HTTP server: %s", str(msg).replace("%s", "?").replace("%r", "?"))

    error = info = warning


def _new_loop() -> asyncio.AbstractEventLoop:
    """uvloop's event loop when it is installed (a dependency on Linux and macOS): about a third
    less CPU per request than asyncio's own, measured with aiohttp on the bench machine."""
    try:
        import uvloop
    except ImportError:
        return asyncio.new_event_loop()
    return uvloop.new_event_loop()


def _bind(host: str, port: int) -> socket.socket:
    """The listening socket, bound now so ``port`` is known (and a taken port fails) at construction."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    return socket.create_server((host, port), family=family, backlog=1024)


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
        apply_every: float = 0.2,
        resolve_every: float = 60.0,
        idle_seconds: float = 1.0,
        answer_timeout: float = 10.0,
        default_region: str = "FR",
        dlr_costs: bool = False,
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
        self.apply_every = apply_every
        self.resolve_every = resolve_every
        self.idle_seconds = idle_seconds
        #: A delivery report's cost becomes its recipient's (``statuses.cost_source = "announced"``).
        self.dlr_costs = dlr_costs
        self.answer_timeout = answer_timeout
        self.default_region = default_region
        self._token = config.path_token.reveal().encode()
        self._networks = parse_networks("push.allowed_networks", config.allowed_networks)
        self._parsed: dict[str, Callback] = {}
        self._parsed_lock = threading.Lock()
        self._applier = _Applier(self)
        self._socket = _bind(config.host, config.port)
        self._port = int(self._socket.getsockname()[1])
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._runner: web.ServerRunner | None = None
        self._db = concurrent.futures.ThreadPoolExecutor(1, thread_name_prefix="push-committer")
        self._labels = AccountLabels(self.engine, self._db)
        # Loop-side state of the group commit (touched by the event loop thread only).
        self._waiting: list[tuple[Callback, str, asyncio.Future[bool | None], float]] = []
        self._wake: asyncio.Event | None = None
        self._in_flight: list[tuple[Callback, str, asyncio.Future[bool | None], float]] = []
        self._rejected: list[tuple[int, Rejection]] = []  # 422 bodies (and their account) to quarantine with the next commit
        self._closing = False
        self._flusher: asyncio.Task[None] | None = None
        self._expirer: asyncio.Task[None] | None = None

    @property
    def port(self) -> int:
        return self._port

    def url(self, channel: str, host: str | None = None, *, account: str | None = None) -> str:
        """The full callback URL for ``channel`` of the account labelled ``account`` (None: the parent's
        URL, without a label). Contains the secret: give it to SMS Partner only."""
        return f"http://{host or self.config.host}:{self.port}{path_of(account, channel, self._token.decode())}"

    def start(self) -> PushReceiver:
        self._labels.reload()
        if self.apply:
            self._applier.start()
        loop = self._loop = _new_loop()
        self._thread = threading.Thread(target=loop.run_forever, name="push-http", daemon=True)
        self._thread.start()
        asyncio.run_coroutine_threadsafe(self._open(), loop).result(timeout=30)
        log.info("push receiver listening on %s:%d (paths /<token>/[<label>/]stop|dlr)", self.config.host, self.port)
        return self

    async def _open(self) -> None:
        self._wake = asyncio.Event()
        self._flusher = asyncio.create_task(self._flush_forever())
        self._expirer = asyncio.create_task(self._expire_forever())
        server = web.Server(self._handle, access_log=None, logger=_ServerLog(self.counters), keepalive_timeout=75)
        self._runner = web.ServerRunner(server, shutdown_timeout=self.answer_timeout + 1)
        await self._runner.setup()
        await web.SockSite(self._runner, self._socket, backlog=1024).start()

    def stop(self) -> None:
        """Stop accepting, store and apply what was accepted, then return."""
        loop = self._loop
        if loop is None:  # never started
            self._socket.close()
            self._db.shutdown()
            return
        try:
            asyncio.run_coroutine_threadsafe(self._close(), loop).result(timeout=self.answer_timeout + 30)
        finally:
            loop.call_soon_threadsafe(loop.stop)
            if self._thread is not None:
                self._thread.join(timeout=5)
            if not loop.is_running():
                loop.close()
            self._loop = None
            self._db.shutdown(wait=True)
        if self._applier.is_alive():
            self._applier.stopping.set()
            self._applier.wake.set()
            self._applier.join(timeout=30)

    async def _close(self) -> None:
        # Closes the listening socket, then waits (up to answer_timeout plus a second) for the
        # requests in flight: the flusher still runs, so they are stored and answered before we go on.
        if self._runner is not None:
            await self._runner.cleanup()
        self._closing = True
        if self._wake is not None:
            self._wake.set()
        if self._flusher is not None:
            await self._flusher
        if self._expirer is not None:
            self._expirer.cancel()

    def __enter__(self) -> PushReceiver:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # --- decisions for one request (no I/O) ---------------------------------------------------------

    def allowed_source(self, ip: str) -> bool:
        return not self._networks or contains(self._networks, ip)

    def route(self, path: str) -> tuple[str | None, str] | None:
        """(account label or None for the parent's URL, channel) of a request path (`etl.push.routes.route`)."""
        return route(path, self._token)

    # --- one request (event loop thread) --------------------------------------------------------------

    def _refuse(self, ip: str, status: int, reason: str, detail: str = "", *, close: bool = False) -> web.Response:
        self.counters.inc("refused", reason)
        log.warning("push: refused a call from %s: %d %s%s", ip, status, reason, f" ({detail})" if detail else "")
        body = _NOT_FOUND if status == 404 else b'{"ok": false, "error": "%s"}' % reason.encode()
        response = web.Response(status=status, body=body, content_type="application/json", headers=_HEADERS)
        if close:
            response.force_close()
        return response

    async def _handle(self, request: web.BaseRequest) -> web.StreamResponse:
        ip = request.remote or ""
        if not self.allowed_source(ip):
            return self._refuse(ip, 404, "network", close=True)
        routed = self.route(request.raw_path)
        if routed is None:
            return self._refuse(ip, 404, "bad_token", close=True)
        label, channel = routed
        if channel not in CHANNELS:
            return self._refuse(ip, 404, "unknown_channel", close=True)
        account_id = PARENT_ID if label is None else await self._labels.account_of(label)
        if account_id is None:  # the same 404 body as a bad token: which labels exist stays unsaid
            return self._refuse(ip, 404, "unknown_account", close=True)
        if request.method != "POST":
            return self._refuse(ip, 405, "method", close=True)
        headers = request.headers
        if "chunked" in headers.get("Transfer-Encoding", "").lower() or "Content-Length" not in headers:
            return self._refuse(ip, 411, "length_required", close=True)
        length = request.content_length or 0  # the parser already refused a malformed Content-Length
        if length > self.config.max_body_bytes:
            return self._refuse(ip, 413, "too_large", f"{length} bytes", close=True)
        body = await request.read()
        try:
            callback = parse_callback(
                channel, body, headers.get("Content-Type", ""), default_region=self.default_region, account_id=account_id
            )
        except CallbackRejected as exc:
            if exc.quarantine and len(self._rejected) < self.batch_max:  # bounded: a flood is counted, not queued
                why = f"{exc.reason}: {exc.detail}" if exc.detail else exc.reason
                self._rejected.append((account_id, Rejection(f"push/{channel}", body, why, "push")))
                assert self._wake is not None
                self._wake.set()
            return self._refuse(ip, exc.status, exc.reason, exc.detail)
        is_new = await self._submit(callback, ip)
        if is_new is None:
            return self._refuse(ip, 503, "db_error", close=True)
        return web.Response(body=_OK_NEW if is_new else _OK_DUPLICATE, content_type="application/json", headers=_HEADERS)

    async def _submit(self, callback: Callback, ip: str) -> bool | None:
        """Queue for the next group commit; True (stored), False (a replay) or None (not stored
        within ``answer_timeout``: `_expire_forever` answers for it)."""
        loop = asyncio.get_running_loop()
        future: asyncio.Future[bool | None] = loop.create_future()
        self._waiting.append((callback, ip, future, loop.time()))
        assert self._wake is not None
        self._wake.set()
        return await future

    # --- group commit ----------------------------------------------------------------------------------

    async def _flush_forever(self) -> None:
        loop = asyncio.get_running_loop()
        assert self._wake is not None
        while True:
            await self._wake.wait()
            self._wake.clear()
            if self._rejected:
                rejected, self._rejected = self._rejected, []
                await loop.run_in_executor(self._db, self._quarantine, rejected)
            while self._waiting:
                batch, self._waiting = self._waiting[: self.batch_max], self._waiting[self.batch_max :]
                self._in_flight = batch
                records = [(cb, ip) for cb, ip, _f, _t in batch]
                stored = await loop.run_in_executor(self._db, self._commit, records)
                self._in_flight = []
                fresh: list[bool | None] = list(stored) if stored is not None else [None] * len(batch)
                tally: dict[tuple[str, str], int] = {}  # counters once per batch, not per callback
                for (cb, _ip, future, _t), is_new in zip(batch, fresh):
                    if is_new is not None:
                        key = ("accepted" if is_new else "duplicate", cb.channel)
                        tally[key] = tally.get(key, 0) + 1
                    if not future.done():
                        future.set_result(is_new)
                for (family, channel), n in tally.items():
                    self.counters.inc(family, channel, n)
            if self._closing:
                return

    async def _expire_forever(self) -> None:
        """Once a second, answer 503 for callbacks waiting longer than ``answer_timeout`` (a stuck
        database): one sweep instead of a timer per request. Those still queued are dropped (not
        stored); a batch in flight may still be stored, and the provider's retry is a duplicate."""
        loop = asyncio.get_running_loop()
        while True:
            await asyncio.sleep(min(1.0, self.answer_timeout))
            too_old = loop.time() - self.answer_timeout
            expired = 0
            while expired < len(self._waiting) and self._waiting[expired][3] <= too_old:
                expired += 1
            late, self._waiting = self._waiting[:expired], self._waiting[expired:]
            for _cb, _ip, future, started in late + self._in_flight:
                if started <= too_old and not future.done():
                    future.set_result(None)

    def _quarantine(self, rejected: list[tuple[int, Rejection]]) -> None:
        """Store refused bodies in ``rejected_items`` under their account (the database thread), apart from
        the inbox commit, so a body that cannot even be quarantined never costs an accepted callback."""
        try:
            with self.engine.begin() as conn:
                for account_id in sorted({a for a, _r in rejected}):
                    record(conn, [r for a, r in rejected if a == account_id], self.clock(), account_id=account_id)
        except SQLAlchemyError as exc:
            log.error("push: could not quarantine %d refused callback(s): %s", len(rejected), type(exc).__name__)

    def _commit(self, records: list[tuple[Callback, str]]) -> list[bool] | None:
        """Store one batch in one transaction (the database thread); None when it failed. A pooled
        connection per batch (pre-pinged): one kept for the thread's life cost fewer callbacks a
        second on PostgreSQL (docs/benchmarks.md, "Push receiver design figures", U2)."""
        now = self.clock()
        try:
            with self.engine.begin() as conn:
                fresh = store(conn, records, now)
        except SQLAlchemyError as exc:
            log.error("push: could not store %d callback(s): %s", len(records), type(exc).__name__)
            return None
        if any(fresh):
            if self.apply:
                with self._parsed_lock:
                    if len(self._parsed) < 100_000:  # bounded: the applier re-parses what is missing
                        self._parsed.update((cb.content_hash, cb) for (cb, _ip), new in zip(records, fresh) if new)
            self._applier.wake.set()
        return fresh
