"""Callback bodies → frozen `Callback` records. Pure: no I/O, no clock, no logging.

Two channels (REFERENCE §3.14):

``stop``
    Replies and STOPs. Short number (WEB webhooks): JSON ``{type: "response"|"stop", phone_number,
    text, message_id}``, ``message_id`` an int there but a string on the older DOC page (quirk 6).
    Long number (DOC-replies): ``msisdn`` ("33…" without ``+``, quirk 17), ``to``, ``messageId``
    (a string or UUID), ``text``, ``type: "text"``, ``keyword``, ``message-timestamp``
    ("Y-m-d H:i:s", quirk 5) and, per part of a long reply, ``concat``, ``concat-ref``,
    ``concat-total``, ``concat-part`` (all strings). The method of the long-number call is not
    documented, so a form-encoded body is accepted as well as JSON.
``dlr``
    Delivery reports (``urlDlr``). **The payload is not documented anywhere**, so we accept the
    names the status endpoints use (quirks 3, 6, 7): ``phoneNumber``/``number``/``phone_number``/
    ``msisdn``, ``messageId``/``message_id``, ``status``/``statut``, ``date`` (epoch or
    "Y-m-d H:i:s"), ``cost``, ``currency``, ``countryCode``, and the operator codes DOC-err lists
    (``DELIVRD``, ``UNDELIV``, ``EXPIRED``, ``REJECTD``, ``PENDING``, ``ACCEPTD``, ``ENROUTE``,
    ``UNKNOWN``). Operator codes are stored in the API's own vocabulary (`DLR_STATUS`), so the
    status history reads the same whichever path reported it.

A body we cannot use raises `CallbackRejected` with the HTTP status and a short machine reason
(``bad_json``, ``unknown_type``, ``missing_field``...). Not JSON, or nested deeper than
`MAX_DEPTH` (a body of 100,000 ``[`` would exhaust the parser's recursion), is a 400 and nothing
is kept; a JSON object with a field we cannot read (``NaN``/``Infinity``, which Python's parser
allows but no amount is, included) is a 422 whose body the receiver quarantines
(`CallbackRejected.quarantine`, docs/push.md). A body we can store but not apply (an unknown
delivery status text, an unparseable number) is *accepted*: it goes to the inbox and the applier
records why it was not applied, so nothing the provider said is thrown away.

Replays: ``content_hash`` is SHA-256 over the channel and the body re-serialised with sorted keys,
the message id as text and the phone number as E.164 when it parses (`_dedupe_form`), so the same
callback sent twice, with its keys in another order, ``42`` for ``"42"`` or ``0612345678`` for
``+33612345678``, is one inbox row. The stored body stays as received (re-serialised only). A
sub-account's callback (its own URL, docs/push.md "One URL per account") hashes that hash again with
the account's id, so the same body under two accounts is two rows; the parent's hash is unchanged.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass, replace
from datetime import datetime
from decimal import Decimal, InvalidOperation
from typing import Any
from urllib.parse import parse_qs

from etl import phones
from etl.accounts import PARENT_ID
from etl.api.parse import parse_datetime
from etl.errors import InputError, PayloadError

__all__ = ["CHANNELS", "DLR_STATUS", "MAX_DEPTH", "Callback", "CallbackRejected", "parse_callback", "canonical_body"]

CHANNELS = ("stop", "dlr")
#: Containers nested deeper than this are refused (callback bodies are flat objects).
MAX_DEPTH = 32

#: Delivery values → the API's status vocabulary (REFERENCE §4). Keys are lower-case.
DLR_STATUS: Mapping[str, str] = {
    "delivered": "Delivered",
    "delivrd": "Delivered",
    "not delivered": "Not delivered",
    "undeliv": "Not delivered",
    "expired": "Not delivered",
    "rejectd": "Not delivered",
    "ko": "ko",
    "waiting": "Waiting",
    "pending": "Waiting",
    "acceptd": "Waiting",
    "enroute": "Waiting",
    "unknown": "Waiting",
}

_REPLY_TYPES = {"response": "reply", "text": "reply", "stop": "stop"}
_PHONE_KEYS_STOP = ("phone_number", "phoneNumber", "msisdn", "number", "phone")
_PHONE_KEYS_DLR = ("phoneNumber", "number", "phone_number", "msisdn", "phone")
_MID_KEYS = ("message_id", "messageId", "messageID", "message-id")
_LIMITS = {"phone": 64, "message_id": 64, "keyword": 64, "to": 32, "concat_ref": 64}


class CallbackRejected(InputError):
    """A callback we refuse: ``status`` is the HTTP status to answer, ``reason`` a short label
    for logs and metrics (never the body)."""

    def __init__(self, status: int, reason: str, detail: str = "") -> None:
        super().__init__(f"{status} {reason}" + (f": {detail}" if detail else ""))
        self.status = status
        self.reason = reason
        self.detail = detail

    @property
    def quarantine(self) -> bool:
        """A JSON object with a field we cannot read (422): its body goes to ``rejected_items``.
        Not JSON at all (400) or a wrong path (404) is only counted."""
        return self.status == 422


@dataclass(frozen=True, slots=True)
class Callback:
    """One accepted callback. ``kind`` is ``stop``, ``reply`` or ``dlr``."""

    channel: str
    kind: str
    body: str
    content_hash: str
    phone_raw: str
    phone_e164: str | None
    message_id: str | None
    #: stop/reply: the type as sent (response, stop, text)
    reply_type: str | None = None
    text: str | None = None
    keyword: str | None = None
    to_number: str | None = None
    event_at: datetime | None = None
    concat_ref: str | None = None
    concat_part: int | None = None
    concat_total: int | None = None
    #: dlr: the API-vocabulary status (None when the text is unknown; ``status_raw`` keeps it)
    status: str | None = None
    status_raw: str | None = None
    cost: Decimal | None = None
    currency: str | None = None
    country: str | None = None
    #: The account whose URL was called (``accounts.id``; the parent's URLs are the ones without a label).
    account_id: int = PARENT_ID


def canonical_body(payload: Mapping[str, Any]) -> str:
    """The body re-serialised: sorted keys, no spaces, Decimals as written."""
    return _CANONICAL.encode(payload)


#: `canonical_body`'s encoder, built once (``json.dumps`` with options builds one per call).
_CANONICAL = json.JSONEncoder(sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str)


class _NonFinite(str):
    """``NaN``, ``Infinity`` or ``-Infinity`` where JSON has a number: marked by the parser, refused
    by `_check_values` with the field's name (RFC 8259 §6 has no such numbers; Python reads them)."""


def _check_values(payload: Mapping[str, Any]) -> None:
    """Refuse non-finite numbers (422, named) and containers nested past `MAX_DEPTH` (400)."""
    stack: list[tuple[str, Any, int]] = [(key, value, 1) for key, value in payload.items() if isinstance(value, (dict, list, _NonFinite))]
    while stack:
        field, value, depth = stack.pop()
        if isinstance(value, _NonFinite):
            raise CallbackRejected(422, "bad_field", f"{field}: {value} is not a number")
        if depth >= MAX_DEPTH:
            raise CallbackRejected(400, "bad_json", "nested too deeply")
        children = value.values() if isinstance(value, dict) else value
        stack.extend((field, child, depth + 1) for child in children if isinstance(child, (dict, list, _NonFinite)))


#: Amounts as written (Decimal), non-finite constants marked; built once (``json.loads`` with options builds one per call).
_DECODER = json.JSONDecoder(parse_float=Decimal, parse_constant=_NonFinite)


def _decode(body: bytes, content_type: str) -> dict[str, Any]:
    if "x-www-form-urlencoded" in content_type.lower():
        try:
            form = parse_qs(body.decode("utf-8"), keep_blank_values=True, strict_parsing=bool(body))
        except (UnicodeDecodeError, ValueError):
            raise CallbackRejected(400, "bad_form") from None
        return {k: v[-1] for k, v in form.items()}
    try:
        payload = _DECODER.decode(body.decode(json.detect_encoding(body), "surrogatepass"))  # as json.loads does
    except (UnicodeDecodeError, ValueError):
        raise CallbackRejected(400, "bad_json") from None
    except RecursionError:  # deeper than the interpreter's recursion limit
        raise CallbackRejected(400, "bad_json", "nested too deeply") from None
    if not isinstance(payload, dict):
        raise CallbackRejected(400, "bad_json", "not a JSON object")
    # Walk only where there can be something to find: a container or a non-finite constant.
    if b"[" in body or body.find(b"{", 1) >= 0 or b"NaN" in body or b"Infinity" in body:
        _check_values(payload)
    return payload


def _first(payload: Mapping[str, Any], keys: tuple[str, ...]) -> tuple[str | None, Any]:
    for key in keys:
        value = payload.get(key)
        if value is not None and value != "":
            return key, value
    return None, None


def _text(value: Any, field: str, limit: int | None = None) -> str | None:
    if value is None:
        return None
    if isinstance(value, bool) or isinstance(value, (dict, list)):
        raise CallbackRejected(422, "bad_field", field)
    text = str(value).strip()
    if limit is not None and len(text) > limit:
        raise CallbackRejected(422, "bad_field", f"{field} longer than {limit}")
    return text or None


def _id(value: Any, field: str) -> str | None:
    """Message ids are strings whatever the sender used (quirk 6); ``307.0`` is not an id."""
    if isinstance(value, Decimal) or isinstance(value, float):
        raise CallbackRejected(422, "bad_field", field)
    return _text(value, field, _LIMITS["message_id"])


def _phone(payload: Mapping[str, Any], keys: tuple[str, ...], region: str) -> tuple[str | None, str, str | None]:
    key, value = _first(payload, keys)
    raw = _text(value, key or "phone", _LIMITS["phone"])
    if raw is None:
        raise CallbackRejected(422, "missing_field", "phone number")
    candidate = raw
    # Long-number msisdn is "33612345678": international without "+" (quirk 17).
    if key == "msisdn" and raw.isdigit():
        candidate = "+" + raw
    return key, raw, phones.canonicalize(candidate, region)


def _int(value: Any, field: str) -> int | None:
    if value is None or value == "":
        return None
    try:
        return int(str(value).strip())
    except ValueError:
        raise CallbackRejected(422, "bad_field", field) from None


def _date(value: Any, field: str) -> datetime | None:
    try:
        return parse_datetime(value, "push", field)
    except PayloadError:
        raise CallbackRejected(422, "bad_field", field) from None


def _hash(channel: str, body: str) -> str:
    return hashlib.sha256(f"{channel}\n{body}".encode()).hexdigest()


def _dedupe_form(
    payload: Mapping[str, Any], phone_key: str | None, e164: str | None, mid_key: str | None, mid: str | None, canonical: str | None = None
) -> str:
    """The text the content hash is taken over: the canonical body with the message id as text and
    the number as E.164 (``msisdn`` keeps its style, E.164 without ``+``: quirk 17).

    A body already in that form (string id, E.164 number, as the simulator and most stored rows
    are) hashes as before this rule, so those rows' hashes stay valid (docs/push.md, "Dedupe").
    ``canonical``: the body's canonical text, returned as is when nothing changes (re-serialising
    is most of a parse's cost)."""
    wanted: dict[str, str] = {}
    if mid_key is not None and mid is not None:
        wanted[mid_key] = mid
    if phone_key is not None and e164 is not None:
        wanted[phone_key] = e164[1:] if phone_key == "msisdn" else e164
    if canonical is not None and all(type(payload[k]) is str and payload[k] == v for k, v in wanted.items()):
        return canonical
    return canonical_body({**payload, **wanted})


def parse_callback(
    channel: str, body: bytes, content_type: str = "application/json", *, default_region: str = "FR", account_id: int = PARENT_ID
) -> Callback:
    """Parse one callback body for ``channel`` (``stop`` or ``dlr``) sent to ``account_id``'s URL;
    `CallbackRejected` if unusable."""
    if channel not in CHANNELS:
        raise CallbackRejected(404, "unknown_channel")
    payload = _decode(body, content_type)
    canonical = canonical_body(payload)
    parsed = _parse_stop(payload, canonical, default_region) if channel == "stop" else _parse_dlr(payload, canonical, default_region)
    if account_id == PARENT_ID:
        return parsed
    return replace(parsed, account_id=account_id, content_hash=_hash(f"account {account_id}", parsed.content_hash))


def _parse_stop(payload: Mapping[str, Any], canonical: str, region: str) -> Callback:
    raw_type = payload.get("type")
    if raw_type is None and "msisdn" in payload:
        raw_type = "text"  # long-number replies may leave the type out
    reply_type = str(raw_type).strip().lower() if isinstance(raw_type, str) else None
    if reply_type not in _REPLY_TYPES:
        raise CallbackRejected(422, "unknown_type")
    phone_key, phone_raw, e164 = _phone(payload, _PHONE_KEYS_STOP, region)
    mid_key, mid = _first(payload, _MID_KEYS)
    message_id = _id(mid, "message_id")
    return Callback(
        channel="stop",
        kind=_REPLY_TYPES[reply_type],
        body=canonical,
        content_hash=_hash("stop", _dedupe_form(payload, phone_key, e164, mid_key, message_id, canonical)),
        phone_raw=phone_raw,
        phone_e164=e164,
        message_id=message_id,
        reply_type=reply_type,
        text=_text(payload.get("text"), "text"),
        keyword=_text(payload.get("keyword"), "keyword", _LIMITS["keyword"]),
        to_number=_text(payload.get("to"), "to", _LIMITS["to"]),
        event_at=_date(payload.get("message-timestamp"), "message-timestamp"),
        concat_ref=_text(payload.get("concat-ref"), "concat-ref", _LIMITS["concat_ref"]),
        concat_part=_int(payload.get("concat-part"), "concat-part"),
        concat_total=_int(payload.get("concat-total"), "concat-total"),
    )


def _parse_dlr(payload: Mapping[str, Any], canonical: str, region: str) -> Callback:
    phone_key, phone_raw, e164 = _phone(payload, _PHONE_KEYS_DLR, region)
    mid_key, mid = _first(payload, _MID_KEYS)
    message_id = _id(mid, "messageId")
    if message_id is None:
        raise CallbackRejected(422, "missing_field", "messageId")
    _key, raw_status = _first(payload, ("status", "statut", "dlrStatus", "stat"))
    status_raw = _text(raw_status, "status", 64)
    if status_raw is None:
        raise CallbackRejected(422, "missing_field", "status")
    cost: Decimal | None = None
    raw_cost = payload.get("cost")
    if raw_cost is not None and raw_cost != "":
        try:
            cost = Decimal(str(raw_cost))
        except InvalidOperation:
            raise CallbackRejected(422, "bad_field", "cost") from None
        if not cost.is_finite():  # "NaN" or "Infinity" as a string: no amount either
            raise CallbackRejected(422, "bad_field", f"cost: {raw_cost} is not a number")
    currency = _text(payload.get("currency"), "currency", 3)
    country = _text(payload.get("countryCode"), "countryCode", 2)
    return Callback(
        channel="dlr",
        kind="dlr",
        body=canonical,
        content_hash=_hash("dlr", _dedupe_form(payload, phone_key, e164, mid_key, message_id, canonical)),
        phone_raw=phone_raw,
        phone_e164=e164,
        message_id=message_id,
        event_at=_date(payload.get("date"), "date"),
        status=DLR_STATUS.get(status_raw.lower()),
        status_raw=status_raw,
        cost=cost,
        currency=currency.upper() if currency else None,
        country=country.upper() if country else None,
    )
