"""What a streamed list is (`ListSpec`) and how a caller shapes its runs (`Shaper`). Pure, no `requests`.

The stop list and the rental files are too big for one decoded answer: `SmsPartnerClient.stream_list`
hands their raw items over a run (~a megabyte of the body) at a time, and the caller's shape turns
each run into what it wants (flat staging values, row tuples, typed records). The shape is called
once per run, never per item: the stop sync's hot path stays a loop inside the row parser.

A shape that hands a raw item to the caller's own code (``on_unreadable``, issue 16) does it through
the client's `Guard`, which masks the key in the item and in the error first: streamed items are
not scrubbed (the hot path), so the client must see them off. Hence a `Shaper` is a function of
the guard, called by the client once per download.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol, TypeVar

from etl.errors import PayloadError

__all__ = ["STOP_LIST", "Guard", "ListSpec", "Shape", "Shaper", "each", "raw", "rental_file"]

_T = TypeVar("_T")
_R = TypeVar("_R")

#: A run of raw items → what the caller wants of it.
Shape = Callable[[list[Any]], _R]


class Guard(Protocol):
    """The client's masking of what a shape hands to a caller's callback."""

    def __call__(self, decide: Callable[[Any, PayloadError], _T]) -> Callable[[Any, PayloadError], _T]:
        """``decide`` seeing each item scrubbed and its error masked."""
        ...


#: Built by the client once per download, with its guard.
Shaper = Callable[[Guard], Shape[_R]]


@dataclass(frozen=True)
class ListSpec:
    """A streamed list: where it is, under which key, and which envelope field announces its length."""

    endpoint: str
    list_key: str
    count_key: str | None = None
    params: tuple[tuple[str, str], ...] = ()


#: ``GET /stop-sms/list``: no paging (quirk 23), up to 1,000,000 entries.
STOP_LIST = ListSpec("stop-sms/list", "data", "nbData")


def rental_file(token: str) -> ListSpec:
    """``GET /location/file/download`` of one rental file (envelope without ``code``: quirk 19)."""
    return ListSpec("location/file/download", "datas", "phoneNumbers", (("token", token),))


def raw(_guard: Guard) -> Shape[list[Any]]:
    """The shaper leaving each run as it came: raw items, for a caller that parses them one at a time."""
    return _as_is


def _as_is(run: list[Any]) -> list[Any]:
    return run


def each(parse_item: Callable[[Any, str], _T], endpoint: str) -> Shaper[list[_T]]:
    """The shaper giving ``parse_item(item, endpoint)`` per item, a list per run (tests, small lists).

    A run's records all live at once: for a big list of records read one by one, `raw` and a
    parse per item taken is cheaper (no run of live objects for the garbage collector).
    """

    def shaper(_guard: Guard) -> Shape[list[_T]]:
        return lambda run: [parse_item(item, endpoint) for item in run]

    return shaper
