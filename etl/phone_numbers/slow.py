"""phonenumbers itself: what the fast path falls back to, and the answers it must equal."""

from __future__ import annotations

import phonenumbers
from phonenumbers import PhoneNumberFormat


def slow_parse(raw: str, default_region: str) -> phonenumbers.PhoneNumber | None:
    try:
        return phonenumbers.parse(raw, default_region)
    except phonenumbers.NumberParseException:
        return None


def slow_valid_e164(text: str, default_region: str) -> str | None:
    number = slow_parse(text, default_region)
    if number is None or not phonenumbers.is_valid_number(number):
        return None
    return phonenumbers.format_number(number, PhoneNumberFormat.E164)
