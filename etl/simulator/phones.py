"""Phone-number rules of the simulated provider, deliberately independent of etl.phones.

Why: the simulator must not share a normalisation bug with the client (STYLE §2). Inputs accept
national French ``06…``/``07…`` or international ``+…`` (quirk 17); storage is E.164.
"""

from __future__ import annotations

import re

_E164 = re.compile(r"^\+[1-9]\d{7,14}$")
_FR_NATIONAL = re.compile(r"^0[1-9]\d{8}$")


def normalize(raw: str, *, allow_national: bool = True) -> str | None:
    """E.164 for a valid input, None otherwise (the API answers code 9)."""
    text = re.sub(r"[\s.\-()]", "", str(raw))
    if text.startswith("00"):
        text = "+" + text[2:]
    if allow_national and _FR_NATIONAL.match(text):
        return "+33" + text[1:]
    if _E164.match(text):
        if text.startswith("+33") and len(text) != 12:
            return None
        return text
    return None


def national(e164: str) -> str:
    """The national form the DOC shows in /message-status ``number`` (quirk 17)."""
    if e164.startswith("+33"):
        return "0" + e164[3:]
    return e164


def country_of(e164: str) -> str:
    """A two-letter country for the few prefixes the simulator prices."""
    for prefix, cc in (("+33", "FR"), ("+32", "BE"), ("+41", "CH"), ("+212", "MA"), ("+44", "GB")):
        if e164.startswith(prefix):
            return cc
    return "ZZ"
