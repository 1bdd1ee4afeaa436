"""K API reads in flight at once inside one instance (issue 20): `in_flight`.

Why: status and cost reads are bound by the API's latency, not by this process; one call after another
caps an instance at 1/latency calls a second (docs/api-client.md, "Concurrent reads"). The calls run
on one client from K worker threads, so they share its session's connection pool (sized for K,
`etl.api.transport`), its retry policy, its observer and its shared budget (each attempt still asks
the budget, from whichever thread makes it).

`in_flight` yields one `Done` per item **in the order of the items**; ``done.get()`` returns the
call's result or raises its exception in the caller's thread, so a job keeps its per-item ``try``/
``except`` as it was. With ``concurrency=1`` each call runs in the caller's thread when its item is
taken: exactly the sequential loop. Reads only: a caller that stops taking results (``break``)
cancels the calls not started, but up to K started ones finish and their results are dropped; a read
can be made again, a write could not be known.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from typing import Generic, TypeVar

__all__ = ["Done", "MAX_CONCURRENCY", "in_flight"]

_T = TypeVar("_T")
_R = TypeVar("_R")

#: The most calls one client may have in flight (``api.concurrency``): also its connection pool's size.
MAX_CONCURRENCY = 64


@dataclass(frozen=True)
class Done(Generic[_T, _R]):
    """One item's call, finished: `get` gives its result or raises what it raised."""

    item: _T
    _future: Future[_R]

    def get(self) -> _R:
        return self._future.result()


def _now(call: Callable[[_T], _R], item: _T) -> Future[_R]:
    """``call(item)`` run here, its outcome held in a finished future (the sequential case)."""
    future: Future[_R] = Future()
    try:
        future.set_result(call(item))
    except Exception as exc:  # noqa: BLE001 - handed to the caller by Done.get(), as a worker's would be
        future.set_exception(exc)
    return future


def in_flight(call: Callable[[_T], _R], items: Iterable[_T], *, concurrency: int) -> Iterator[Done[_T, _R]]:
    """``call(item)`` for each item, at most ``concurrency`` at once; one `Done` per item, in order."""
    if not 1 <= concurrency <= MAX_CONCURRENCY:
        raise ValueError(f"concurrency must be 1 to {MAX_CONCURRENCY}, got {concurrency}")
    if concurrency == 1:
        for item in items:
            yield Done(item, _now(call, item))
        return
    pool = ThreadPoolExecutor(max_workers=concurrency, thread_name_prefix="api-read")
    # Queued: the K running and K more waiting, so a slow head does not idle the workers.
    queued: deque[Done[_T, _R]] = deque()
    try:
        for item in items:
            queued.append(Done(item, pool.submit(call, item)))
            if len(queued) >= 2 * concurrency:
                done = queued.popleft()
                done._future.exception()  # wait for it (an exception is the caller's, via get())
                yield done
        while queued:
            done = queued.popleft()
            done._future.exception()
            yield done
    finally:
        pool.shutdown(wait=True, cancel_futures=True)
