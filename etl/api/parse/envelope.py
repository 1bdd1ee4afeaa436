"""The answer's envelope: success or the mapped error (quirks 11, 13, 14, 15, 19)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from etl.api.parse.values import _as_bool_flag, _opt_int
from etl.errors import ApiRejected, AuthError, NotFound, PayloadError

AUTH_CODES = frozenset({1, 10})
"""1 = key missing, 10 = key invalid: the same on every endpoint."""

NOT_FOUND_CODES: Mapping[str, frozenset[int]] = {
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
    ``code`` (quirk 19). The HTTP status is not looked at here: the caller parsed the body whatever
    the status was.
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
    if code in AUTH_CODES:
        raise AuthError(code, message, endpoint=endpoint)
    if code in NOT_FOUND_CODES.get(endpoint, frozenset()):
        raise NotFound(code, message, endpoint=endpoint)
    raise ApiRejected(code, message, endpoint=endpoint)
