"""The rental file's hot path: ``/location/file/download`` items → plain tuples, 500,000 per file.

`etl.api.parse.parse_rental_item` checks each field through the generic helpers (spellings,
types, quirks 4 and 6) and builds a frozen `RentalNumber`; over a 500,000-number file that was
2.2-2.6 s of CPU (``docs/benchmarks.md``, "Rental sync"). `rental_row_parser` gives the same
answers and errors (``tests/api/test_rentalrows.py`` proves it by property test) with a few type
checks plus `etl.phones.canonicalizer`'s:

* a plain tuple ``(rental_id, phone_raw, phone_e164, stop)``, `RentalNumber`'s fields in order,
  no record per row;
* taken only for the common shape: a ``dict`` whose ``id`` is an ``int`` (not a ``bool``) or a
  non-blank ``str``, whose phone (``phone``, else ``phoneNumber``) is a ``str``, and whose stop
  flag (``stopSms``, else ``stopSMS``) is absent, a ``bool`` or one of the texts ``"0"``, ``"1"``,
  ``"true"``, ``"false"``;
* anything else goes through ``parse_rental_item`` itself, so every quirk and every
  `PayloadError` is exactly the slow path's.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from etl import phones
from etl.api.parse import RentalNumber, parse_rental_item

__all__ = ["RentalRow", "rental_row", "rental_row_parser"]

#: ``(rental_id, phone_raw, phone_e164, stop)``: `RentalNumber`'s fields, in its order.
RentalRow = tuple[str, str, "str | None", bool]

#: Stop flags given as text that ``_as_bool_flag`` reads without stripping or case folding.
_TEXT_FLAGS = {"0": False, "1": True, "false": False, "true": True}


def rental_row(number: RentalNumber) -> RentalRow:
    """A parsed `RentalNumber` as the fast path's tuple."""
    return (number.rental_id, number.phone_raw, number.phone_e164, number.stop)


def rental_row_parser() -> Callable[[Any, str], RentalRow]:
    """A function ``(item, endpoint) -> RentalRow`` with ``parse_rental_item``'s answers and errors."""
    canonicalize = phones.canonicalizer()
    text_flags = _TEXT_FLAGS

    def slow(item: Any, endpoint: str) -> RentalRow:
        return rental_row(parse_rental_item(item, endpoint))

    def parse_row(item: Any, endpoint: str) -> RentalRow:
        if item.__class__ is not dict:
            return slow(item, endpoint)
        raw = item.get("phone")
        if raw is None:  # quirk 7: the other spelling, as `_require` reads it
            raw = item.get("phoneNumber")
        stop = item.get("stopSms")
        if stop is None:  # quirk 4: either spelling, absent means not stopped
            stop = item.get("stopSMS")
        if stop is None:
            stop = False
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
