"""Field shapes that differ per endpoint and per quirk: id, money, stop-flag and date types.

Why: quirks 4, 5, 6, 20 say the same concept has a different type on each endpoint; each helper
takes the *documented* form for the endpoint and lets ``Quirks`` override it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from decimal import Decimal
from typing import Any, TypeVar
from zoneinfo import ZoneInfo

from .clock import PARIS
from .quirks import Quirks

T = TypeVar("T")


def ident(q: Quirks, value: int, documented: str) -> int | str:
    """quirk 6: an id as documented ("int"/"str") unless ``id_style`` forces one type."""
    style = q.id_style
    if style == "strings" or (style == "documented" and documented == "str"):
        return str(value)
    return int(value)


def money(q: Quirks, value: Decimal, documented: str) -> float | str:
    """quirk 20: cost/balance as float or decimal string."""
    style = q.decimal_style
    if style == "strings" or (style == "documented" and documented == "str"):
        return str(value)
    return float(value)


def stop_flag(q: Quirks, value: bool, doc_key: str, doc_type: str) -> tuple[str, bool | str]:
    """quirk 4: (key, value) for a stop flag: stopSms/stopSMS, bool or "0"/"1"."""
    key = doc_key if q.stop_flag_key == "documented" else q.stop_flag_key
    style = doc_type if q.stop_flag_style == "documented" else q.stop_flag_style
    return key, ("1" if value else "0") if style == "string" else bool(value)


def ymd(q: Quirks, dt: datetime) -> str:
    """quirk 5: naive "Y-m-d H:i:s" in the zone the quirks name (Europe/Paris by default)."""
    return dt.astimezone(ZoneInfo(q.naive_timezone)).strftime("%Y-%m-%d %H:%M:%S")


def epoch_str(dt: datetime) -> str:
    """quirk 5: epoch seconds as a string."""
    return str(int(dt.timestamp()))


def iso_offset(dt: datetime) -> str:
    """ACCOUNTS §6.7: groups and contacts write ISO 8601 with the Paris offset ("2020-10-02T16:40:05+02:00")."""
    return dt.astimezone(PARIS).isoformat(timespec="seconds")


def page_number(p: Mapping[str, Any]) -> int:
    """``page`` from 1 (page 1 when omitted or unreadable, ACCOUNTS §2.2)."""
    try:
        return max(1, int(str(p.get("page", 1)).strip()))
    except ValueError:
        return 1


def page_of(q: Quirks, items: Sequence[T], page: int, size: int) -> list[T]:
    """The rows of ``page``; past the end: nothing (our answer) or the last page again (``page_past_end``)."""
    rows = list(items[(page - 1) * size : page * size])
    if not rows and items and q.page_past_end == "last":
        last = -(-len(items) // size)
        rows = list(items[(last - 1) * size : last * size])
    return rows
