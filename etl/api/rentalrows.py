"""The rental file's hot path: ``/location/file/download`` items → plain tuples, 500,000 per file.

`etl.api.parse.parse_rental_item` checks each field through the generic helpers (spellings,
types, quirks 4 and 6) and builds a frozen `RentalNumber`; over a 500,000-number file that was
most of the download's CPU (docs/benchmarks.md, "Design figures", P3). `rental_row_parser` gives
the same answers and errors (``tests/api/test_rentalrows.py`` proves it by property test) with a few type
checks plus `etl.phones.canonicalizer`'s:

* a plain tuple ``(rental_id, phone_raw, phone_e164, stop)``, `RentalNumber`'s fields in order,
  no record per row;
* taken only for the common shape: a ``dict`` whose ``id`` is an ``int`` (not a ``bool``) or a
  non-blank ``str``, whose phone (``phone``, else ``phoneNumber``) is a ``str``, and whose stop
  flag (``stopSms``, else ``stopSMS``) is absent, a ``bool`` or one of the texts ``"0"``, ``"1"``,
  ``"true"``, ``"false"``; an absent or null flag reads **stopped**, as in ``parse_rental_item``
  (fail-closed, issue 16: "unsure is blocked");
* anything else goes through ``parse_rental_item`` itself, so every quirk and every
  `PayloadError` is exactly the slow path's.

An item the slow path refuses raises its `PayloadError`, unless the sync passed ``on_unreadable``
(quarantine): that function then gives the row that stands for it, or ``None`` to leave it out;
`salvage` reads what is still readable (a readable number is kept, stopped).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, cast

from etl import phones
from etl.api.lists import Guard, Shape, Shaper
from etl.api.parse import RentalNumber, parse_rental_item
from etl.errors import PayloadError

__all__ = ["ENDPOINT", "OnUnreadable", "RentalRow", "rental_row", "rental_row_parser", "run_shaper", "salvage"]

ENDPOINT = "location/file/download"

#: ``(rental_id, phone_raw, phone_e164, stop)``: `RentalNumber`'s fields, in its order.
RentalRow = tuple[str, str, "str | None", bool]

#: What a sync does with an item the slow path refuses: ``(item, error) -> row``, or ``None``.
OnUnreadable = Callable[[Any, PayloadError], "RentalRow | None"]

#: Stop flags given as text that ``_as_bool_flag`` reads without stripping or case folding.
_TEXT_FLAGS = {"0": False, "1": True, "false": False, "true": True}


def rental_row(number: RentalNumber) -> RentalRow:
    """A parsed `RentalNumber` as the fast path's tuple."""
    return (number.rental_id, number.phone_raw, number.phone_e164, number.stop)


def salvage(item: Any, endpoint: str = ENDPOINT) -> tuple[str | None, RentalRow | None]:
    """``(id, row)`` of a refused item: its id if readable, and with its number readable the row
    that keeps the number in the file, **stopped** whatever its flag said (fail-closed)."""
    if not isinstance(item, dict):
        return None, None
    rental_id: str | None = None
    try:
        rental_id = parse_rental_item({"id": item.get("id"), "phone": "", "stopSms": True}, endpoint).rental_id
    except PayloadError:
        pass
    phone = {key: item[key] for key in ("phone", "phoneNumber") if key in item}
    try:
        number = parse_rental_item({**phone, "id": "0", "stopSms": True}, endpoint)
    except PayloadError:
        return rental_id, None
    return rental_id, (rental_id or "", number.phone_raw, number.phone_e164, True)


def rental_row_parser(on_unreadable: OnUnreadable | None = None) -> Callable[[Any, str], RentalRow | None]:
    """A function ``(item, endpoint) -> RentalRow`` with ``parse_rental_item``'s answers and errors.

    With ``on_unreadable``, an item the slow path refuses gives that function's answer instead
    (``None``: left out); without it, the parser never returns ``None``.
    """
    canonicalize = phones.canonicalizer()
    text_flags = _TEXT_FLAGS

    def slow(item: Any, endpoint: str) -> RentalRow | None:
        try:
            return rental_row(parse_rental_item(item, endpoint))
        except PayloadError as exc:
            if on_unreadable is None:
                raise
            return on_unreadable(item, exc)

    def parse_row(item: Any, endpoint: str) -> RentalRow | None:
        if item.__class__ is not dict:
            return slow(item, endpoint)
        raw = item.get("phone")
        if raw is None:  # quirk 7: the other spelling, as `_require` reads it
            raw = item.get("phoneNumber")
        stop = item.get("stopSms")
        if stop is None:  # quirk 4: either spelling
            stop = item.get("stopSMS")
        if stop is None:  # absent or null: unsure, so stopped (fail-closed, issue 16)
            stop = True
        elif stop.__class__ is str:
            stop = text_flags.get(stop)
        if raw.__class__ is not str or stop.__class__ is not bool:
            return slow(item, endpoint)
        rental_id = item.get("id")
        # .__class__ is int, not isinstance: bool is an int the slow path refuses.
        if rental_id.__class__ is int:
            rental_id = str(rental_id)  # after the phone checks: a too-long int fails as in the slow path
        elif rental_id.__class__ is str and rental_id.strip():
            rental_id = rental_id.strip()
        else:
            return slow(item, endpoint)
        return (rental_id, raw, canonicalize(raw), stop)

    return parse_row


def run_shaper(on_unreadable: OnUnreadable | None = None) -> Shaper[list[RentalRow]]:
    """The rental sync's shape for `SmsPartnerClient.stream_list`: each run as a list of rows.

    A bad item raises before any of its run is returned, unless ``on_unreadable`` (seen through
    the client's guard) decides its row; ``None`` leaves it out.
    """

    def shaper(guard: Guard) -> Shape[list[RentalRow]]:
        parse_row = rental_row_parser(None if on_unreadable is None else guard(on_unreadable))
        endpoint = ENDPOINT

        def shape(run: list[Any]) -> list[RentalRow]:
            parse, where = parse_row, endpoint  # locals: the comprehension runs per number
            rows = [parse(item, where) for item in run]
            if on_unreadable is not None and not all(rows):  # a row is a non-empty tuple; None was left out
                return [row for row in rows if row is not None]
            return cast("list[RentalRow]", rows)  # a parser without on_unreadable never gives None

        return shape

    return shaper
