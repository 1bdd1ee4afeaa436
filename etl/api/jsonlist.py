"""The items of one big JSON list inside a streamed body, decoded a megabyte at a time.

Why not ``ijson.items`` alone: it builds every item through its event machinery, which costs
more CPU for the stop list than the whole database load (docs/benchmarks.md, "Design figures
elsewhere in etl/", J1). `orjson` is far faster, but decodes only a complete document, and the
list has to stay streamed (bounded memory). So the list is cut into runs of whole items and each run is decoded
as one small document ``[item, ..., item]``.

Where to cut: after the last ``}`` followed by ``,`` and ``{`` in the buffer. Such a place can
also be inside a string or a nested value; then the run is not a valid document (a run that ends
inside a string leaves the string open, one that ends inside a nested value leaves it unclosed),
so a run that decodes is exactly a run of whole items. Anything the fast path cannot vouch for
goes to ``ijson`` itself, so the answers and errors are ``ijson.items(body, "<key>.item",
use_float=False)``'s (``tests/api/test_jsonlist.py`` checks it by property test):

* a run that `orjson` refuses (bad JSON, integers past 64 bits, lone surrogates, ...) and the end
  of the list: the rest of the body is handed to ``ijson``, behind a made-up ``{"<key>": [``
  that stands for everything already decoded;
* a run where `orjson` made a ``float`` (a non-integer number, or an integer past 64 bits):
  ``ijson`` decodes that run again, so such numbers are `Decimal` or `int` as before
  (``use_float=False``);
* a list whose items are not objects, a list that does not start where the head says, an item
  larger than `MAX_ITEM_BYTES`: ``ijson`` from the list's start.
"""

from __future__ import annotations

import io
import json
import re
from collections.abc import Callable, Iterable, Iterator
from itertools import chain
from typing import Any

import ijson
import orjson

__all__ = ["BLOCK_BYTES", "IJSON_RUN_ITEMS", "MAX_ITEM_BYTES", "iter_list_runs"]

#: Bytes read from the body at a time.
BLOCK_BYTES = 1 << 20
#: A buffer this long with no place to cut goes to ``ijson`` (one huge item, or not a list of objects).
MAX_ITEM_BYTES = 8 << 20
#: Items per run where ``ijson`` decodes (the fast path's runs are what a megabyte holds).
IJSON_RUN_ITEMS = 10_000

#: Between two items: ``}``, then ``,`` with optional JSON whitespace around it, then ``{``.
_BOUNDARIES = (b"},{", b"}, {", b"},\n{", b"},\r\n{", b"},\n  {", b"},\n    {")
_TAIL_BYTES = 64 << 10
_BETWEEN = re.compile(rb"\}[ \t\r\n]*,[ \t\r\n]*\{")
#: Tokens of the head up to the list: strings, structural characters, anything else.
_HEAD_TOKEN = re.compile(rb'"(?:[^"\\]|\\.)*"|[{}\[\]:,]|[^\s{}\[\]:,"]+')
_WHITESPACE = b" \t\r\n"

Read = Callable[[int], bytes]


def iter_list_runs(head: bytes, read: Read, list_key: str) -> Iterator[list[Any]]:
    """Items of the top-level ``list_key`` list of the body ``head`` + ``read()...``, a run at a
    time: non-empty lists of consecutive items, ~a megabyte each.

    ``read(n)`` returns the next bytes of the body (``b""`` at its end) and may raise the
    transport's errors, which pass through, after the items that arrived before them. JSON
    errors are ``ijson``'s, after the items before the error.
    """
    start = _list_start(head, list_key)
    if start is None or head[start:].lstrip(_WHITESPACE)[:1] not in (b"{", b""):
        yield from _ijson_runs(head, read, list_key)
        return
    buffer = head[start:].lstrip(_WHITESPACE)
    while True:
        try:
            block = read(BLOCK_BYTES)
        except BaseException:
            arrived = _whole_items(buffer)  # what arrived before the fault, as ijson would have
            if arrived:
                yield arrived
            raise
        if not block:
            break
        buffer += block
        cut = _last_between(buffer)
        if cut is None:
            if len(buffer) > MAX_ITEM_BYTES:
                break
            continue
        items = _decode_run(buffer[: cut + 1])
        if items is None:  # not a run of whole items after all: ijson says what it is
            break
        yield items
        buffer = buffer[buffer.index(b"{", cut + 1) :]
    yield from _ijson_runs(_opening(list_key) + buffer, read, list_key)


def _whole_items(buffer: bytes) -> list[Any]:
    """The items of ``buffer`` up to its last boundary (none if that is not a run of whole items)."""
    cut = _last_between(buffer)
    return (_decode_run(buffer[: cut + 1]) or []) if cut is not None else []


def _decode_run(run: bytes) -> list[Any] | None:
    """The items of ``run`` (whole items separated by commas), or ``None`` if `orjson` refuses it."""
    document = b"[" + run + b"]"
    try:
        items: list[Any] = orjson.loads(document)
    except orjson.JSONDecodeError:
        return None
    if _has_float(items):
        try:
            return list(ijson.items(io.BytesIO(document), "item", use_float=False))
        except ijson.JSONError:  # pragma: no cover - orjson took it: ijson does too
            return None
    return items


def _has_float(values: Iterable[Any]) -> bool:
    """Whether any value, at any depth, is a ``float``: one level at a time, each in C.

    (``set(map(type, ...))`` is several times faster than a Python loop: docs/benchmarks.md,
    "Design figures elsewhere in etl/", J2.)
    """
    level = list(values)
    kinds = set(map(type, level))
    if float in kinds:
        return True
    below: list[Iterable[Any]] = []
    if dict in kinds:
        dicts = level if len(kinds) == 1 else [value for value in level if value.__class__ is dict]
        below.append(chain.from_iterable(map(dict.values, dicts)))
    if list in kinds:
        lists = level if len(kinds) == 1 else [value for value in level if value.__class__ is list]
        below.append(chain.from_iterable(lists))
    return bool(below) and _has_float(chain.from_iterable(below))


def _last_between(buffer: bytes) -> int | None:
    """Index of the ``}`` of the last item boundary in ``buffer``, if any.

    The last boundary is within one item of the end: each spelling is looked for in the last
    `_TAIL_BYTES` first, and through the whole buffer only when none is there.
    """
    tail = max(0, len(buffer) - _TAIL_BYTES)
    for start in (tail, 0) if tail else (0,):
        cut = max(buffer.rfind(pattern, start) for pattern in _BOUNDARIES)
        if cut >= 0:
            return cut
    last = None
    for match in _BETWEEN.finditer(buffer):  # other whitespace: rare, scanned forward
        last = match.start()
    return last


def _opening(list_key: str) -> bytes:
    """A document start that puts what follows inside the ``list_key`` list."""
    return b"{" + json.dumps(list_key).encode() + b":["


def _ijson_runs(head: bytes, read: Read, list_key: str) -> Iterator[list[Any]]:
    """``ijson``'s items in runs of up to `IJSON_RUN_ITEMS`; those before an error are yielded first."""
    run: list[Any] = []
    try:
        for item in ijson.items(_Reader(head, read), f"{list_key}.item", use_float=False):
            run.append(item)
            if len(run) >= IJSON_RUN_ITEMS:
                yield run
                run = []
    except BaseException:
        if run:
            yield run
        raise
    if run:
        yield run


class _Reader:
    """``head`` then ``read()``, as the file ``ijson`` wants."""

    def __init__(self, head: bytes, read: Read) -> None:
        self._head = head
        self._read = read

    def read(self, size: int = -1) -> bytes:
        if size == 0:  # ijson's probe for bytes or text: must not consume anything
            return b""
        if self._head:
            out, self._head = self._head, b""
            return out
        return self._read(size if size and size > 0 else BLOCK_BYTES)


def _list_start(head: bytes, list_key: str) -> int | None:
    """Offset just past the ``[`` of the top-level ``list_key`` list in ``head``, if it is there.

    Walks the head's tokens (strings whole, so nothing inside a string counts) keeping the
    nesting depth: the list is the first ``[`` after ``"<list_key>" :`` at depth 1. Then ``ijson``
    reads the head up to there, so what the made-up opening will stand for is what ``ijson``
    itself accepts. Anything unexpected gives ``None``: the caller lets ``ijson`` read it all.
    """
    start = _candidate_start(head, list_key)
    if start is None:
        return None
    events: list[tuple[str, str]] = []
    try:
        for prefix, event, _value in ijson.parse(io.BytesIO(head[:start]), use_float=False):
            events.append((prefix, event))
    except ijson.IncompleteJSONError:
        pass  # the head ends at the list's "[": that is the point
    except ijson.JSONError:
        return None
    if events[-2:] != [("", "map_key"), (list_key, "start_array")]:
        return None
    return start


def _candidate_start(head: bytes, list_key: str) -> int | None:
    depth = 0
    key: Any = None
    expect_value = False
    for match in _HEAD_TOKEN.finditer(head):
        token = match.group()
        if token in (b"{", b"["):
            if token == b"[" and depth == 1 and expect_value and key == list_key:
                return match.end()
            depth += 1
            expect_value = False
        elif token in (b"}", b"]"):
            depth -= 1
        elif token == b":":
            expect_value = depth == 1
            continue
        elif token == b",":
            key = None
        elif depth == 1 and token[:1] == b'"' and not expect_value:
            try:
                key = json.loads(token)
            except ValueError:
                return None
            continue
        expect_value = False
    return None
