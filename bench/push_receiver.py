"""Callbacks per second the push receiver accepts (stored, committed, answered 200) and applies.

One receiver process (``PushReceiver``: HTTP threads, one group-commit thread, one applier) per
backend; a separate load process sends a mix of callbacks over ``--connections`` keep-alive
connections (asyncio) and times every request. Mix per 100 callbacks: 60 delivery reports for
tracked recipients (each recipient gets ENROUTE then DELIVRD, so half of them are status changes
and the order is sometimes reversed under concurrency), 30 STOPs (distinct numbers: each opens a
period), 10 replies.

"accepted/s" is callbacks over the wall time from the first request to the last answer; "applied/s"
is callbacks over the time until the inbox has no ``new`` row left (same start). p50/p99 are the
per-request latencies seen by the sender (connect excluded: keep-alive).

    python bench/push_receiver.py [--callbacks 20000] [--connections 32]
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
    done.recv()
    receiver.stop()
    engine.dispose()


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


async def _worker(port: int, queue: asyncio.Queue[tuple[str, bytes]], latencies: list[float], errors: list[int]) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        while True:
            try:
                channel, body = queue.get_nowait()
            except asyncio.QueueEmpty:
                return
            request = (
                f"POST /{TOKEN}/{channel} HTTP/1.1\r\nHost: bench\r\nContent-Type: application/json\r\n"
                f"Content-Length: {len(body)}\r\n\r\n"
            ).encode() + body
            start = time.perf_counter()
            writer.write(request)
            await writer.drain()
            status_line = await reader.readline()
            length = 0
            while True:
                line = await reader.readline()
                if line in (b"\r\n", b""):
                    break
                if line.lower().startswith(b"content-length:"):
                    length = int(line.split(b":", 1)[1])
            await reader.readexactly(length)
            latencies.append(time.perf_counter() - start)
            if b" 200 " not in status_line:
                errors.append(int(status_line.split()[1]))
    finally:
        writer.close()


def load_process(port: int, n: int, connections: int, result: Any) -> None:
    work = payloads(n)

    async def main() -> dict[str, Any]:
        queue: asyncio.Queue[tuple[str, bytes]] = asyncio.Queue()
        for item in work:
            queue.put_nowait(item)
        latencies: list[float] = []
        errors: list[int] = []
        start = time.perf_counter()
        await asyncio.gather(*(_worker(port, queue, latencies, errors) for _ in range(connections)))
        return {"start_wall": time.time() - (time.perf_counter() - start), "seconds": time.perf_counter() - start,
                "latencies": latencies, "errors": errors}

    result.send(asyncio.run(main()))


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
    res_r, res_w = ctx.Pipe(False)
    load = ctx.Process(target=load_process, args=(port, n, connections, res_w))
    load.start()
    out = res_r.recv()
    load.join()
    while pending_rows(db_url):
        time.sleep(0.02)
    applied_seconds = time.time() - out["start_wall"]
    done_w.send(True)
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
        **summary(db_url),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--callbacks", type=int, default=20_000)
    parser.add_argument("--connections", type=int, default=32)
    args = parser.parse_args()
    kinds = ["sqlite"] + (["postgresql"] if os.environ.get("SMSETL_POSTGRESQL_URL") else [])
    print(f"{'backend':<11} {'callbacks':>9} {'conns':>5} {'accepted/s':>10} {'applied/s':>9} {'p50 ms':>7} {'p99 ms':>7} "
          f"{'errors':>6}  rows (inbox/periods/replies/events)")
    for kind in kinds:
        r = bench(kind, args.callbacks, args.connections)
        print(f"{r['backend']:<11} {r['callbacks']:>9} {r['connections']:>5} {r['accepted_per_s']:>10} {r['applied_per_s']:>9} "
              f"{r['p50_ms']:>7} {r['p99_ms']:>7} {r['errors']:>6}  {r['inbox']}/{r['periods']}/{r['replies']}/{r['events']}")


if __name__ == "__main__":
    main()
