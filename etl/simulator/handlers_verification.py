"""Number verification (ACCOUNTS.md §4): paid HLR (``hlr/notify``) and the free format check (``lookup``).

Why apart: both read a comma list of international numbers (at most 500) under a rate limit of their own
(360 calls a minute, then HTTP 429: server.py), and the HLR result is pushed, never fetched: with a
``notifyUrl`` the simulator posts one callback per number through callbacks.py. docs/accounts.md says
which credit pays and what a refused number looks like.
"""

from __future__ import annotations

import re
from datetime import timedelta, timezone
from decimal import Decimal
from typing import Any

from . import phones
from .codes import ApiFailure
from .core import Simulator
from .handlers import Params, Route, _req
from .shapes import money

MAX_NUMBERS = 500
HLR_UNIT_COST = Decimal("0.005")
_INTERNATIONAL = re.compile(r"\+?[1-9]\d{7,14}")

#: Country names (lookup's ``countryCode`` is a name, ACCOUNTS §4.2) for the prefixes the simulator knows.
COUNTRIES = {"+33": "France", "+32": "Belgium", "+41": "Switzerland", "+212": "Morocco", "+44": "United Kingdom"}


def _numbers(p: Params) -> list[str]:
    """The comma list: code 2 when empty, 50 over 500, 3 when not comma-separated international numbers."""
    raw = _req(p, "phoneNumbers", code=2)
    items = [str(x).strip() for x in (raw if isinstance(raw, list) else str(raw).split(",")) if str(x).strip()]
    if not items:
        raise ApiFailure(2)
    if len(items) > MAX_NUMBERS:
        raise ApiFailure(50)
    return items


def _international(raw: str) -> str | None:
    """E.164 for ``+336…`` or ``336…`` (lookup's ``request`` has no "+"), None for a national or bad number."""
    if not _INTERNATIONAL.fullmatch(raw):
        return None
    return phones.normalize(raw if raw.startswith("+") else "+" + raw, allow_national=False)


def _hlr_result(sim: Simulator, e164: str, index: int, at: Any) -> dict[str, Any]:
    """One HLR callback (§4.1): numbers ending in 00 are unknown subscribers, the rest answer NO_ERROR."""
    unknown = e164.endswith("00")
    return {
        "phone": e164,
        "messageId": f"{sim.seed % 10000:04d}-{index:05d}-{e164[-4:]}-{int(at.timestamp()) % 10000:04d}",
        "mccMnc": "20815" if e164.startswith("+33") else "00000",
        "ported": 0,
        "errorGrpId": 1 if unknown else 0,
        "errorName": "EC_UNKNOWN_SUBSCRIBER" if unknown else "NO_ERROR ",  # the trailing space is documented
        "errorDesc": "Unknown subscriber" if unknown else "No error",
        "date": at.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.") + f"{at.microsecond // 1000:03d}+0000",
    }


def hlr_notify(sim: Simulator, p: Params, method: str) -> dict[str, Any]:
    """§4.1: international numbers only (else code 3), 0.005 € each from the euro balance (11 when short)."""
    numbers = [_international(n) for n in _numbers(p)]
    if any(n is None for n in numbers):
        raise ApiFailure(3)
    checked = [n for n in numbers if n is not None]
    tag = p.get("tag")
    if tag not in (None, "") and len(str(tag)) > 20:
        raise ApiFailure(9, errors=[{"elementId": "tag", "message": "Le tag doit faire 20 caractères maximum"}])
    cost = HLR_UNIT_COST * len(checked)
    root = sim.root
    with sim.lock:
        if cost > sim.balance:
            raise ApiFailure(11)
        sim.balance -= cost
        root.hlr_campaigns += 1
        campaign = f"HLR{root.hlr_campaigns:06d}"
        now = sim.clock.now()
        sim._event("hlr", now, campaign_id=campaign, numbers=len(checked))
    url = p.get("notifyUrl")
    if url not in (None, ""):
        at = now + timedelta(seconds=2)
        dispatcher = root.callbacks if root.callbacks is not None else root.attach_callbacks()
        dispatcher.notify(str(url), [_hlr_result(sim, n, i, at) for i, n in enumerate(checked)], at)
    return {"success": True, "code": 200, "campaign_id": campaign, "number": len(checked), "cost": money(sim.quirks, cost, "float"), "currency": "EUR"}


def _formats(e164: str) -> tuple[str, str, dict[str, str]]:
    """(country prefix, national significant number, format{}) as the lookup example writes them."""
    prefix = next((p for p in sorted(COUNTRIES, key=len, reverse=True) if e164.startswith(p)), e164[:3])
    rest = e164[len(prefix) :]
    head, tail = (rest[0], rest[1:]) if len(rest) % 2 else (rest[:2], rest[2:])
    grouped = " ".join([head, *(tail[i : i + 2] for i in range(0, len(tail), 2))])
    national = "0" + grouped if prefix in COUNTRIES else grouped
    return prefix, rest, {
        "e164": e164,
        "international": f"{prefix} {grouped}",
        "national": national,
        "rfc3966": f"tel:{prefix}-{grouped.replace(' ', '-')}",
    }


def _lookup_item(raw: str) -> dict[str, Any]:
    """§4.2 for a number that parses; ``{request, success: false}`` otherwise (undocumented: docs/accounts.md)."""
    e164 = _international(raw)
    request = raw.lstrip("+")
    if e164 is None:
        return {"request": request, "success": False}
    prefix, rest, formats = _formats(e164)
    mobile = prefix == "+33" and rest[:1] in ("6", "7")
    return {
        "request": request,
        "success": True,
        "countryCode": COUNTRIES.get(prefix, "Unknown"),
        "prefixCode": int(prefix[1:]),
        "phoneNumber": e164,
        "type": "Mobile" if mobile else "Fixed line",
        "network": "",
        "format": formats,
    }


def lookup(sim: Simulator, p: Params, method: str) -> dict[str, Any]:
    """§4.2: free; one item per number in the order given."""
    return {"success": True, "code": 200, "lookup": [_lookup_item(n) for n in _numbers(p)]}


_POST = frozenset({"POST"})

ROUTES: dict[str, Route] = {
    "hlr/notify": Route(_POST, hlr_notify, write=True),
    "lookup": Route(_POST, lookup),
}

#: Endpoints under ``quirks.verification_rate_limit`` (server.py counts them per account).
RATE_LIMITED = frozenset(ROUTES)
