"""The stop list's hot path: ``/stop-sms/list`` items → staging-ready tuples, 1,000,000 per sync.

`etl.api.parse.parse_stop_item` builds a frozen `Stop` with an aware UTC datetime; the sync then
turned that datetime into the text the database stores: for a million entries, the zone
conversion, the frozen dataclass and the formatting dominated the sync's CPU
(docs/benchmarks.md, "Design figures", P1). `stop_row_parser` gives the same answers
as ``parse_stop_item`` (``tests/api/test_stoprows.py`` proves it by property test and over every
DST transition day) in well under a microsecond plus `etl.phones.canonicalizer`'s:

* a plain tuple ``(stop_id, phone_e164, phone_raw, created_at_utc_text)``, no record per row;
* ``createdAt`` in the documented ``"YYYY-MM-DD HH:MM:SS"`` shape is converted by text: Paris
  offsets are whole hours and change only on the hour (checked per hour, see `_utc_hour`), so
  the UTC text is the converted ``"YYYY-MM-DD HH"`` (cached per local hour, filled a local day
  at a time: a million stops span ~17,500 hours, each costly to convert alone) followed by the
  unchanged ``":MM:SS"``;
* anything else (another type, another date shape, a missing field, a value that fails) goes
  through ``parse_stop_item`` itself, so every quirk and every `PayloadError` is exactly the
  slow path's.

An item the slow path refuses raises its `PayloadError`, unless the sync passed ``on_unreadable``
(quarantine, issue 16): then that function decides, from `salvage`'s reading of what is still
readable, which row (if any) stands for the item.

The UTC text is ``"YYYY-MM-DD HH:MM:SS.ffffff"`` (naive UTC, always with microseconds: SQLAlchemy's
SQLite storage form) followed by the caller's ``utc_suffix`` (``"+00"`` for PostgreSQL's ``COPY``),
see `etl.db.dialect.utc_text_suffix`.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Any

from etl import phones
from etl.api.lists import Guard, Shape, Shaper
from etl.api.parse import parse_datetime, parse_stop_item
from etl.errors import PayloadError

__all__ = ["ENDPOINT", "OnUnreadable", "Salvaged", "StopRow", "run_shaper", "salvage", "stop_row_parser", "utc_text"]

#: ``(stop_id, phone_e164, phone_raw, created_at)``: ``created_at`` is UTC text (see the module
#: docstring) or ``None``; ``phone_raw`` is cut to the parser's ``max_raw`` characters.
StopRow = tuple[int, "str | None", str, "str | None"]

#: What a sync does with an item the slow path refuses: ``(item, error) -> row``, or ``None`` to
#: leave the item out of the rows.
OnUnreadable = Callable[[Any, PayloadError], "StopRow | None"]

ENDPOINT = "stop-sms/list"

_UTC = timezone.utc
_LOCAL_HOUR = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2} [0-9]{2}")
#: ``":MM:SS"`` → ``":MM:SS.000000"``: the only tails the fast path takes (3,600 entries).
_TAILS = {f":{m:02d}:{s:02d}": f":{m:02d}:{s:02d}.000000" for m in range(60) for s in range(60)}
#: Paris left local mean time at 1911-03-11 00:01 local, inside an hour; every later change is
#: on the hour with whole-hour offsets (``tests/api/test_stoprows.py`` scans 1900-2100).
_FIRST_SIMPLE_YEAR = "1912"
_LAST_SECOND = timedelta(minutes=59, seconds=59)
_DAY_SPAN = timedelta(hours=23)
_MAX_CACHED_HOURS = 100_000  # ~11 years of distinct hours; the cache is cleared past it


def utc_text(value: datetime | None, suffix: str = "") -> str | None:
    """An aware datetime as the parser's UTC text (``None`` stays ``None``)."""
    if value is None:
        return None
    return value.astimezone(_UTC).replace(tzinfo=None).isoformat(sep=" ", timespec="microseconds") + suffix


def _utc_hour(local_hour: str, endpoint: str, field: str) -> str | None:
    """The UTC ``"YYYY-MM-DD HH"`` for every ``local_hour + ":MM:SS"``, or ``None`` if not that simple.

    Simple means: from 1912 on, the slow path reads both the hour's first and last second, the offset is a whole
    number of hours (so minutes and seconds do not move) and the same at both ends (no transition
    inside the hour). Paris changes offset only on the hour since 1911; the spring gap and the
    repeated autumn hour (read as their first occurrence, ``fold=0``) are whole hours with one
    offset each. Anything else (earlier years, invalid dates, hour 24) is left to the slow path
    row by row, which raises or converts exactly as before.
    """
    if _LOCAL_HOUR.fullmatch(local_hour) is None or local_hour < _FIRST_SIMPLE_YEAR:
        return None
    try:
        first = parse_datetime(local_hour + ":00:00", endpoint, field)
        last = parse_datetime(local_hour + ":59:59", endpoint, field)
    except Exception:  # noqa: BLE001 - any failure: let the slow path raise it for the real row
        return None
    if first is None or last is None or last - first != _LAST_SECOND:
        return None
    if first.minute or first.second or first.microsecond:
        return None  # not a whole-hour offset
    return utc_text(first)[:13]  # type: ignore[index]


def _utc_hours_of_day(local_day: str, endpoint: str, field: str) -> dict[str, str]:
    """`_utc_hour` for the 24 hours ``"00"``..``"23"`` of ``local_day`` (``""`` where not simple).

    When the day's first and last hours are simple and 23 hours apart in UTC too, the offset is
    the same all day (Paris never changed it twice in one day: ``tests/api/test_stoprows.py``
    checks every transition day), and the hours in between are counted from the first: two
    conversions a day instead of 24 (docs/benchmarks.md, "Design figures", P2).
    """
    keys = [f"{local_day} {hour:02d}" for hour in range(24)]
    first = _utc_hour(keys[0], endpoint, field)
    last = _utc_hour(keys[-1], endpoint, field)
    if first and last:
        start = datetime.strptime(first, "%Y-%m-%d %H")
        if datetime.strptime(last, "%Y-%m-%d %H") - start == _DAY_SPAN:
            return {key: f"{start + timedelta(hours=hour):%Y-%m-%d %H}" for hour, key in enumerate(keys)}
    return {key: _utc_hour(key, endpoint, field) or "" for key in keys}


@dataclass(frozen=True)
class Salvaged:
    """What can still be read of a stop item the parser refused, each part on its own."""

    stop_id: int | None
    phone_e164: str | None
    #: None when the number itself is unreadable (not a text).
    phone_raw: str | None

    @property
    def is_stop(self) -> bool:
        """Id and number readable: only the date failed, and the entry is still a stop (fail-closed)."""
        return self.stop_id is not None and self.phone_raw is not None


def salvage(item: Any, endpoint: str = ENDPOINT) -> Salvaged:
    """The id and the number of a refused item, each read as `parse_stop_item` reads it, or None.

    Each field is tried alone (the others replaced by values that cannot fail), so one bad field
    never hides a good one.
    """
    if not isinstance(item, dict):
        return Salvaged(None, None, None)
    stop_id: int | None = None
    phone_e164 = phone_raw = None
    try:
        stop_id = parse_stop_item({"id": item.get("id"), "phoneNumber": ""}, endpoint).stop_id
    except PayloadError:
        pass
    try:
        number = parse_stop_item({"id": 0, "phoneNumber": item.get("phoneNumber")}, endpoint)
        phone_e164, phone_raw = number.phone_e164, number.phone_raw
    except PayloadError:
        pass
    return Salvaged(stop_id, phone_e164, phone_raw)


def stop_row_parser(
    utc_suffix: str = "", max_raw: int | None = None, on_unreadable: OnUnreadable | None = None
) -> Callable[[Any, str], StopRow | tuple[()]]:
    """A function ``(item, endpoint) -> StopRow`` with ``parse_stop_item``'s answers and errors.

    ``utc_suffix`` is appended to every UTC text; ``max_raw`` cuts ``phone_raw`` (the staging
    column's width). Each parser keeps its own per-hour cache: build one per sync. With
    ``on_unreadable``, an item the slow path refuses gives that function's row instead, or ``()``
    (nothing: a flat run extended by it is unchanged).
    """
    hours: dict[str, str] = {}  # local hour -> UTC hour, "" when not simple
    tails = {tail: text + utc_suffix for tail, text in _TAILS.items()}
    canonicalize = phones.canonicalizer()
    limit = max_raw

    def slow(item: Any, endpoint: str) -> StopRow | tuple[()]:
        try:
            stop = parse_stop_item(item, endpoint)
        except PayloadError as exc:
            if on_unreadable is None:
                raise
            row = on_unreadable(item, exc)
            if row is None:
                return ()
            return row if limit is None else (row[0], row[1], row[2][:limit], row[3])
        raw = stop.phone_raw if limit is None else stop.phone_raw[:limit]
        return (stop.stop_id, stop.phone_e164, raw, utc_text(stop.created_at, utc_suffix))

    def utc_head(local_hour: str, endpoint: str) -> str:
        """The cached UTC hour of ``local_hour``; a miss fills its whole day at once."""
        if len(hours) >= _MAX_CACHED_HOURS:
            hours.clear()
        hours.update(_utc_hours_of_day(local_hour[:10], endpoint, "data[].createdAt"))
        head = hours.get(local_hour)
        if head is None:  # not one of the day's "00".."23": the hour's own answer
            head = hours[local_hour] = _utc_hour(local_hour, endpoint, "data[].createdAt") or ""
        return head

    def parse_row(item: Any, endpoint: str) -> StopRow | tuple[()]:
        if item.__class__ is not dict:
            return slow(item, endpoint)
        try:
            stop_id = item["id"]
            raw = item["phoneNumber"]
            created = item["createdAt"]
        except KeyError:
            return slow(item, endpoint)
        # type() is int, not isinstance: bool is an int the slow path refuses.
        if stop_id.__class__ is not int or raw.__class__ is not str or created.__class__ is not str:
            return slow(item, endpoint)
        tail = tails.get(created[13:])
        if tail is None or len(created) != 19:
            return slow(item, endpoint)
        head = hours.get(created[:13])
        if head is None:
            head = utc_head(created[:13], endpoint)
        if not head:  # "": not a simple hour, the slow path decides
            return slow(item, endpoint)
        if limit is not None and len(raw) > limit:
            return (stop_id, canonicalize(raw), raw[:limit], head + tail)
        return (stop_id, canonicalize(raw), raw, head + tail)

    return parse_row


def run_shaper(
    utc_suffix: str = "", max_raw: int | None = None, on_unreadable: OnUnreadable | None = None
) -> Shaper[list[int | str | None]]:
    """The stop sync's shape for `SmsPartnerClient.stream_list`: each run flattened, 4 values per stop.

    For a multi-row ``INSERT`` per run (`etl.db.dialect.bulk_load_fields`): no tuple per row
    handed through a generator, ~12,000 stops a run. A bad item raises before any of its run is
    returned, unless ``on_unreadable`` (seen through the client's guard) decides its row. One
    `stop_row_parser` per download, so its per-hour cache lasts the whole list.
    """

    def shaper(guard: Guard) -> Shape[list[int | str | None]]:
        parse_row = stop_row_parser(utc_suffix, max_raw, None if on_unreadable is None else guard(on_unreadable))
        endpoint = ENDPOINT

        def shape(run: list[Any]) -> list[int | str | None]:
            values: list[int | str | None] = []
            extend, parse, where = values.extend, parse_row, endpoint  # locals: the loop runs per stop
            for item in run:
                extend(parse(item, where))
            return values

        return shape

    return shaper
