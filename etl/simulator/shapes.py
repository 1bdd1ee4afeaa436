"""Field shapes that differ per endpoint and per quirk: id, money, stop-flag and date types.

Why: quirks 4, 5, 6, 20 say the same concept has a different type on each endpoint; each helper
takes the *documented* form for the endpoint and lets ``Quirks`` override it.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from zoneinfo import ZoneInfo

from .quirks import Quirks


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
