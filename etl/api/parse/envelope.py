"""The answer's envelope: success or the mapped error (quirks 11, 13, 14, 15, 19)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from etl.api.parse.values import _as_bool_flag, _opt_int
from etl.errors import ApiRejected, AuthError, NotFound, PayloadError

AUTH_CODES = frozenset({1, 10})
"""1 = key missing, 10 = key invalid: the same on every endpoint."""

NOT_FOUND_CODES: Mapping[str, frozenset[int]] = {
    "subaccount/remove": frozenset({404}),
    "subaccount/credit/add": frozenset({7}),
    "subaccount/credit/remove": frozenset({7}),
    "group/delete": frozenset({404}),
    "groupe/delete": frozenset({404}),
    "contact/update": frozenset({404}),
    "contact/delete": frozenset({404}),
    "contact/detail": frozenset({404}),
    "contact/list": frozenset({404}),
    "message-status": frozenset({4}),
    "multi-status": frozenset({4}),
    "bulk-status": frozenset({4}),
    "bulk-status-by-tag": frozenset({4}),
    "message-cancel": frozenset({4}),
    "stop-sms/delete": frozenset({4}),
    "location/status": frozenset({32}),
    "location/file/download": frozenset({32, 33}),
}
"""Per endpoint, the codes meaning "no such resource" (quirk 15)."""

_NO_CODE_ENDPOINTS = frozenset({"location/status", "location/file/download"})
"""Endpoints whose success answer carries no ``code`` (quirk 19)."""

PAYLOAD_SUCCESS: Mapping[str, tuple[str, frozenset[int | None]]] = {
    "group/add": ("groupId", frozenset({2, 200})),
    "group/list": ("groups", frozenset({None, 200})),
    "contact/add": ("rapport", frozenset({None, 200})),
}
"""Endpoints whose documented success breaks the rule (ACCOUNTS.md §6.4): group/add succeeds with code 2,
group/list with ``success: false`` and no code, a batch contact/add with neither. For these the payload
decides: the key present and the code one of those listed is a success, whatever ``success`` says."""

_CONTACT_AUTH = frozenset({10})
AUTH_CODES_BY_ENDPOINT: Mapping[str, frozenset[int]] = {
    "subaccount/remove": _CONTACT_AUTH,
    "group/add": frozenset({2, 10}),
    "group/delete": _CONTACT_AUTH,
    "groupe/delete": _CONTACT_AUTH,
    "contact/add": _CONTACT_AUTH,
    "contact/update": _CONTACT_AUTH,
    "contact/delete": _CONTACT_AUTH,
    "contact/detail": _CONTACT_AUTH,
    "contact/list": _CONTACT_AUTH,
}
"""Where code 1 means a missing token, name, group or contact id and the key's codes differ (ACCOUNTS §6.5)."""


def error_text(payload: Mapping[str, Any]) -> str:
    """The provider's error text: ``message``, ``error`` or ``errors[{elementId, message}]`` (quirk 13)."""
    parts: list[str] = []
    for key in ("message", "error"):
        value = payload.get(key)
        if isinstance(value, str) and value:
            parts.append(value)
    errors = payload.get("errors")
    if isinstance(errors, list):
        for item in errors:
            if isinstance(item, Mapping):
                element, text = item.get("elementId"), item.get("message")
                parts.append(f"{element}: {text}" if element else str(text))
            elif isinstance(item, str):
                parts.append(item)
    return "; ".join(parts) if parts else "(no message)"


def check_envelope(endpoint: str, payload: Any) -> Mapping[str, Any]:
    """Return the payload when it is a success; raise the mapped error otherwise.

    Success is ``success == true and code == 200`` (quirk 11); the rental endpoints may omit
    ``code`` (quirk 19); `PAYLOAD_SUCCESS` endpoints are judged by their payload (ACCOUNTS §6.4).
    The HTTP status is not looked at here: the caller parsed the body whatever the status was.
    """
    if not isinstance(payload, Mapping):
        raise PayloadError(f"expected a JSON object, got {type(payload).__name__}", endpoint=endpoint, field="")
    success = _as_bool_flag(payload.get("success"))
    raw_code = payload.get("code")
    code: int | None
    if raw_code is None:
        code = None
    else:
        code = _opt_int(raw_code, endpoint, "code")
    rule = PAYLOAD_SUCCESS.get(endpoint)
    if rule is not None and payload.get(rule[0]) is not None and code in rule[1]:
        return payload
    if success is None:
        if "success" in payload:
            raise PayloadError(f"not a boolean: {payload.get('success')!r}", endpoint=endpoint, field="success")
        if code is None:
            raise PayloadError("neither 'success' nor 'code' present", endpoint=endpoint, field="success")
        success = code == 200
    if success and code == 200:
        return payload
    if success and code is None:
        if endpoint in _NO_CODE_ENDPOINTS:
            return payload
        raise PayloadError("success without a code", endpoint=endpoint, field="code")
    if code is None:
        raise PayloadError("failure without a code", endpoint=endpoint, field="code")
    if success and code != 200:
        # success:true with an error code: the docs never show it; trust the code.
        pass
    message = error_text(payload)
    if code in AUTH_CODES_BY_ENDPOINT.get(endpoint, AUTH_CODES):
        raise AuthError(code, message, endpoint=endpoint)
    if code in NOT_FOUND_CODES.get(endpoint, frozenset()):
        raise NotFound(code, message, endpoint=endpoint)
    raise ApiRejected(code, message, endpoint=endpoint)
