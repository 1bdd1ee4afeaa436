"""Callbacks per second the push receiver accepts (stored, committed, answered 200) and applies.

One receiver process (``PushReceiver``: an aiohttp event loop thread, one group-commit thread,
one applier thread) per backend; a separate load process sends a mix of callbacks over
``--connections`` keep-alive connections (asyncio, one request in flight per connection, no
pipelining) and times every request. Mix per 100 callbacks: 60 delivery reports for tracked
recipients (each recipient gets ENROUTE then DELIVRD, so half of them are status changes and the
order is sometimes reversed under concurrency), 30 STOPs (distinct numbers: each opens a period),
10 replies.

"accepted/s" is callbacks over the wall time from the first request to the last answer; "applied/s"
is callbacks over the time until the inbox has no ``new`` row left (same start). p50/p99 are the
per-request latencies seen by the sender (connect excluded: keep-alive). "srv us/cb" is the
receiver process's CPU time (all threads) per callback, "cli us/cb" the load process's.

Before the receivers, the same load runs against a server that does nothing (aiohttp answering
200 at once, its own process): that rate is the load generator's ceiling on this machine, so a
receiver figure well below it is the receiver's, not the client's.

    python bench/push_receiver.py [--callbacks 20000] [--connections 32] [--backends sqlite,postgresql]
    python scripts/with_servers.py --postgresql -- python bench/push_receiver.py   # adds PostgreSQL

The goal (issue 9) is ≥ 2,000 callbacks/s on SQLite and PostgreSQL.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing as mp
import os
import statistics
import sys
import time
from datetime import datetime, timezone
from typing import Any

from _shared import ROOT, fresh_database  # noqa: E402 - bench/ is the script's own directory

sys.path.insert(0, str(ROOT))
TOKEN = "bench-push-token-0123456789"
SENDS, PER_SEND = 100, 100  # 10,000 tracked recipients


def phone(i: int) -> str:
    return f"+336{10_000_000 + i:08d}"


def stop_phone(i: int) -> str:
    return f"+337{10_000_000 + i:08d}"


# --- databases --------------------------------------------------------------------------------------


def prepare(db_url: str) -> None:
    from etl.config import StatusesConfig
    from etl.db.engine import make_engine
    from etl.db.migrate import upgrade
    from etl.tracking import TrackedSend, track

    upgrade(db_url)
    engine = make_engine(db_url)
    now = datetime.now(timezone.utc)
    sends = [TrackedSend(str(500_000 + s), [phone(s * PER_SEND + k) for k in range(PER_SEND)], sent_at=now) for s in range(SENDS)]
    track(engine, sends, now=now, config=StatusesConfig())
    engine.dispose()


# --- the receiver process ---------------------------------------------------------------------------


def receiver_process(db_url: str, ready: Any, done: Any) -> None:
    import logging

    logging.basicConfig(level=logging.WARNING)
    from etl.config import PushConfig, Secret
    from etl.db.engine import make_engine
    from etl.push.receiver import PushReceiver

    engine = make_engine(db_url)
    receiver = PushReceiver(PushConfig(enabled=True, port=0, path_token=Secret(TOKEN), max_body_bytes=4096), engine).start()
    ready.send(receiver.port)
    cpu0 = time.process_time()
    done.recv()
    receiver.stop()
    engine.dispose()
    ready.send(time.process_time() - cpu0)  # every thread's CPU: HTTP, commits, applying


# --- the load -----------------------------------------------------------------------------------------


def payloads(n: int) -> list[tuple[str, bytes]]:
    out: list[tuple[str, bytes]] = []
    t0 = int(time.time())
    dlr = stop = reply = 0
    for i in range(n):
        slot = i % 100
        if slot < 60:
            r = (dlr // 2) % (SENDS * PER_SEND)
            status, at = ("ENROUTE", t0 + 1) if dlr % 2 == 0 else ("DELIVRD", t0 + 30)
            body = {"messageId": str(500_000 + r // PER_SEND), "phoneNumber": phone(r), "status": status, "date": str(at), "seq": dlr}
            out.append(("dlr", json.dumps(body).encode()))
            dlr += 1
        elif slot < 90:
            out.append(("stop", json.dumps({"type": "stop", "phone_number": stop_phone(stop), "text": "STOP", "message_id": 500_000}).encode()))
            stop += 1
        else:
            body = {"type": "response", "phone_number": phone(reply), "text": f"oui {reply}", "message_id": 500_000 + reply % SENDS}
            out.append(("stop", json.dumps(body).encode()))
            reply += 1
    return out


class _Connection(asyncio.Protocol):
    """One keep-alive connection sending one request at a time (as a provider would: no
    pipelining), timing each answer. A bare protocol rather than streams: the client must cost
    far less per request than the server it measures."""

    def __init__(self, work: list[tuple[bytes, bytes]], latencies: list[float], errors: list[int], done: asyncio.Future[None]) -> None:
        self.work, self.latencies, self.errors, self.done = work, latencies, errors, done
        self.buffer = b""
        self.started = 0.0
        self.transport: Any = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport
        self._next()

    def _next(self) -> None:
        if not self.work:
            self.transport.close()
            if not self.done.done():
                self.done.set_result(None)
            return
        channel, body = self.work.pop()
        self.started = time.perf_counter()
        self.transport.write(b"POST /%s/%s HTTP/1.1\r\nHost: bench\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n%s"
                             % (TOKEN.encode(), channel, len(body), body))

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        end = self.buffer.find(b"\r\n\r\n")
        if end < 0:
            return
        lines = self.buffer[:end].split(b"\r\n")
        length = 0
        for line in lines[1:]:
            name, _, value = line.partition(b":")
            if name.strip().lower() == b"content-length":
                length = int(value)
        if len(self.buffer) < end + 4 + length:
            return
        self.latencies.append(time.perf_counter() - self.started)
        status = int(lines[0].split()[1])
        if status != 200:
            self.errors.append(status)
        self.buffer = self.buffer[end + 4 + length :]
        self._next()

    def connection_lost(self, exc: Exception | None) -> None:
        if not self.done.done():
            if self.work:
                self.done.set_exception(ConnectionError(f"connection lost with work left: {exc!r}"))
            else:
                self.done.set_result(None)


def load_process(port: int, n: int, connections: int, result: Any) -> None:
    items = [(channel.encode(), body) for channel, body in payloads(n)]
    items.reverse()  # popped from the end: sent in order

    async def send_all() -> dict[str, Any]:
        loop = asyncio.get_running_loop()
        latencies: list[float] = []
        errors: list[int] = []
        cpu0, start = time.process_time(), time.perf_counter()
        dones: list[asyncio.Future[None]] = []
        for _ in range(connections):
            done: asyncio.Future[None] = loop.create_future()
            await loop.create_connection(lambda d=done: _Connection(items, latencies, errors, d), "127.0.0.1", port)  # type: ignore[misc]
            dones.append(done)
        await asyncio.gather(*dones)
        seconds = time.perf_counter() - start
        return {"start_wall": time.time() - seconds, "seconds": seconds, "latencies": latencies, "errors": errors,
                "client_cpu": time.process_time() - cpu0}

    result.send(asyncio.run(send_all()))


def null_server_process(ready: Any, done: Any) -> None:
    """An aiohttp server that answers 200 at once: the load generator's ceiling on this machine."""
    from aiohttp import web

    async def handle(request: web.BaseRequest) -> web.Response:
        await request.read()
        return web.Response(body=b'{"ok": true, "duplicate": false}', content_type="application/json")

    async def serve() -> None:
        runner = web.ServerRunner(web.Server(handle, access_log=None))
        await runner.setup()
        await web.TCPSite(runner, "127.0.0.1", 0).start()
        ready.send(runner.addresses[0][1])
        await asyncio.get_running_loop().run_in_executor(None, done.recv)
        await runner.cleanup()

    asyncio.run(serve())


def run_load(port: int, n: int, connections: int) -> dict[str, Any]:
    ctx = mp.get_context("spawn")
    res_r, res_w = ctx.Pipe(False)
    load = ctx.Process(target=load_process, args=(port, n, connections, res_w))
    load.start()
    out: dict[str, Any] = res_r.recv()
    load.join()
    return out


def client_ceiling(n: int, connections: int) -> dict[str, Any]:
    """The same load against a server that does nothing: what the client (and the machine) can do."""
    ctx = mp.get_context("spawn")
    ready_r, ready_w = ctx.Pipe(False)
    done_r, done_w = ctx.Pipe(False)
    server = ctx.Process(target=null_server_process, args=(ready_w, done_r))
    server.start()
    out = run_load(ready_r.recv(), n, connections)
    done_w.send(True)
    server.join(timeout=30)
    return {"per_s": round(n / out["seconds"]), "client_us": round(out["client_cpu"] / n * 1e6, 1), "errors": len(out["errors"])}


def pending_rows(db_url: str) -> int:
    from sqlalchemy import text

    from etl.db.engine import make_engine

    engine = make_engine(db_url, pool=False)
    with engine.connect() as conn:
        n = int(conn.execute(text("SELECT COUNT(*) FROM push_inbox WHERE state = 'new'")).scalar_one())
    engine.dispose()
    return n


def summary(db_url: str) -> dict[str, int]:
    from sqlalchemy import text

    from etl.db.engine import make_engine

    engine = make_engine(db_url, pool=False)
    with engine.connect() as conn:
        out = {
            "inbox": conn.execute(text("SELECT COUNT(*) FROM push_inbox")).scalar_one(),
            "periods": conn.execute(text("SELECT COUNT(*) FROM stop_periods WHERE source = 'push'")).scalar_one(),
            "replies": conn.execute(text("SELECT COUNT(*) FROM replies")).scalar_one(),
            "events": conn.execute(text("SELECT COUNT(*) FROM status_events WHERE source = 'push'")).scalar_one(),
        }
    engine.dispose()
    return {k: int(v) for k, v in out.items()}


def bench(kind: str, n: int, connections: int) -> dict[str, Any]:
    db_url = fresh_database(kind, f"bench_push_{kind}")
    prepare(db_url)
    ctx = mp.get_context("spawn")
    ready_r, ready_w = ctx.Pipe(False)
    done_r, done_w = ctx.Pipe(False)
    server = ctx.Process(target=receiver_process, args=(db_url, ready_w, done_r))
    server.start()
    port = ready_r.recv()
    out = run_load(port, n, connections)
    while pending_rows(db_url):
        time.sleep(0.02)
    applied_seconds = time.time() - out["start_wall"]
    done_w.send(True)
    server_cpu = ready_r.recv()
    server.join(timeout=60)
    lat = sorted(out["latencies"])
    return {
        "backend": kind,
        "callbacks": n,
        "connections": connections,
        "accepted_per_s": round(n / out["seconds"]),
        "applied_per_s": round(n / applied_seconds),
        "p50_ms": round(statistics.median(lat) * 1000, 2),
        "p99_ms": round(lat[int(len(lat) * 0.99) - 1] * 1000, 2),
        "errors": len(out["errors"]),
        "server_us": round(server_cpu / n * 1e6),
        "client_us": round(out["client_cpu"] / n * 1e6, 1),
        **summary(db_url),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--callbacks", type=int, default=20_000)
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--backends", default="sqlite,postgresql", help="comma-separated; postgresql needs $SMSETL_POSTGRESQL_URL")
    args = parser.parse_args()
    kinds = [k for k in args.backends.split(",") if k == "sqlite" or os.environ.get("SMSETL_POSTGRESQL_URL")]
    print(f"load: one separate process, asyncio, {args.connections} keep-alive connections, one request in flight per "
          f"connection (no pipelining), {args.callbacks} callbacks (60 % reports, 30 % STOPs, 10 % replies)")
    ceiling = client_ceiling(args.callbacks, args.connections)
    print(f"load generator against a server that does nothing (aiohttp answering 200 at once): {ceiling['per_s']}/s, "
          f"client CPU {ceiling['client_us']} us/request, {ceiling['errors']} errors")
    print(f"{'backend':<11} {'callbacks':>9} {'conns':>5} {'accepted/s':>10} {'applied/s':>9} {'p50 ms':>7} {'p99 ms':>7} "
          f"{'errors':>6} {'srv us/cb':>9} {'cli us/cb':>9}  rows (inbox/periods/replies/events)")
    for kind in kinds:
        r = bench(kind, args.callbacks, args.connections)
        print(f"{r['backend']:<11} {r['callbacks']:>9} {r['connections']:>5} {r['accepted_per_s']:>10} {r['applied_per_s']:>9} "
              f"{r['p50_ms']:>7} {r['p99_ms']:>7} {r['errors']:>6} {r['server_us']:>9} {r['client_us']:>9}  "
              f"{r['inbox']}/{r['periods']}/{r['replies']}/{r['events']}")
    print(f"load average: {' '.join(f'{x:.2f}' for x in os.getloadavg())} (2 CPUs, shared by the receiver, the load generator "
          f"and whatever else runs)")


if __name__ == "__main__":
    main()
