"""The envelope (`etl/api/parse/envelope.py`) by table: success, and each error code per endpoint."""

from __future__ import annotations

from typing import Any

import pytest

from etl.api import parse
from etl.errors import ApiRejected, AuthError, NotFound, PayloadError

# --------------------------------------------------------------------------------------------------
# Envelope and error codes (quirks 11, 13, 14, 15, 19)
# --------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("endpoint", "payload", "exc", "code", "text"),
    [
        ("me", {"success": False, "code": 10, "message": "Clé API incorrecte"}, AuthError, 10, "Clé API incorrecte"),
        ("me", {"success": False, "code": 1, "message": "Clé API requise"}, AuthError, 1, "Clé API requise"),
        ("send", {"success": False, "code": 10, "error": "Clé API incorrecte"}, AuthError, 10, "Clé API incorrecte"),
        (
            "send",
            {"success": False, "code": 9, "errors": [{"elementId": "message", "message": "vide"}]},
            ApiRejected,
            9,
            "message: vide",
        ),
        ("message-status", {"success": False, "code": 4, "message": "introuvable"}, NotFound, 4, "introuvable"),
        ("message-cancel", {"success": False, "code": 4, "message": "x"}, NotFound, 4, "x"),
        ("message-cancel", {"success": False, "code": 5, "message": "déjà annulé"}, ApiRejected, 5, "déjà annulé"),
        ("stop-sms/delete", {"success": False, "code": 4, "message": "x"}, NotFound, 4, "x"),
        ("stop-sms/add", {"success": False, "code": 3, "message": "déjà"}, ApiRejected, 3, "déjà"),
        ("stop-sms/add", {"success": False, "code": 4, "message": "x"}, ApiRejected, 4, "x"),  # 4 is not "not found" here
        ("location/status", {"success": False, "code": 32, "message": "x"}, NotFound, 32, "x"),
        ("location/file/download", {"success": False, "code": 33, "message": "x"}, NotFound, 33, "x"),
        ("location/file/download", {"success": False, "code": 34, "message": "x"}, ApiRejected, 34, "x"),
        ("me", {"success": False, "code": "10", "message": "x"}, AuthError, 10, "x"),  # code as a string
        ("me", {"success": False, "code": 96}, ApiRejected, 96, "(no message)"),
    ],
    ids=[
        "auth-10", "auth-1", "error-key-singular", "errors-array-code-9", "status-4-not-found", "cancel-4-not-found",
        "cancel-5-rejected", "delete-4-not-found", "add-3-rejected", "add-4-is-not-not-found", "rental-32",
        "rental-file-33", "rental-file-34", "code-as-string", "no-message",
    ],
)
def test_check_envelope_maps_codes_per_endpoint(
    endpoint: str, payload: dict[str, Any], exc: type[ApiRejected], code: int, text: str
) -> None:
    with pytest.raises(exc) as info:
        parse.check_envelope(endpoint, payload)
    assert type(info.value) is exc
    assert info.value.code == code and info.value.api_message == text and info.value.endpoint == endpoint


@pytest.mark.parametrize(
    ("endpoint", "payload"),
    [
        ("me", {"success": True, "code": 200}),
        ("location/file/download", {"success": True, "phoneNumbers": 10, "datas": []}),  # quirk 19
        ("location/status", {"success": True, "token": "t"}),
        ("me", {"success": "true", "code": 200}),
        ("me", {"code": 200}),
    ],
    ids=["ok", "rental-download-no-code", "rental-status-no-code", "success-as-text", "success-missing-code-200"],
)
def test_check_envelope_accepts_success(endpoint: str, payload: dict[str, Any]) -> None:
    assert parse.check_envelope(endpoint, payload) is payload


@pytest.mark.parametrize(
    ("endpoint", "payload", "field"),
    [
        ("me", [1, 2], ""),
        ("me", {"success": "maybe", "code": 200}, "success"),
        ("me", {"success": True}, "code"),
        ("me", {"success": False}, "code"),
        ("me", {"user": {}}, "success"),
        ("me", {"success": True, "code": "n/a"}, "code"),
    ],
    ids=["not-an-object", "success-garbage", "success-without-code", "failure-without-code", "no-envelope", "code-garbage"],
)
def test_check_envelope_rejects_malformed(endpoint: str, payload: Any, field: str) -> None:
    with pytest.raises(PayloadError) as info:
        parse.check_envelope(endpoint, payload)
    assert info.value.field == field and info.value.endpoint == endpoint
