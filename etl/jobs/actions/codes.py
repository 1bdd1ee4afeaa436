"""API control codes of the write endpoints, as plain sentences (REFERENCE §3.9, §3.11, §3.12; quirk 15).

The same code means different things per endpoint (quirk 15), so the table is per endpoint.
"""

from __future__ import annotations

COMMON_CODES = {
    1: "the API key is missing (API code 1): check api.key in the configuration",
    10: "the API key is invalid (API code 10): check api.key in the configuration",
}

CODE_MESSAGES: dict[str, dict[int, str]] = {
    "stop-sms/add": {
        2: "the API says the phone number is missing (API code 2)",
        # WEB and the old site: "already in stop list"; DOC says "message ID required" (quirk 15).
        3: "this number is already in the account's stop list (API code 3)",
        9: "the API refused the number as invalid (API code 9)",
    },
    "stop-sms/delete": {
        2: "the API says a phone number is required (API code 2; this endpoint takes a stop id)",
        3: "the API says the stop id is missing (API code 3)",
        4: "this stop id is not in the account's stop list (API code 4): already removed?",
    },
    "message-cancel": {
        3: "the API says the message id is missing (API code 3)",
        4: "no such message on the account (API code 4)",
        # DOC-err gives 5 = empty number list, 6 = bad format; the cancel page (SEED-002) gives the
        # meanings below, which match what the endpoint does (quirk 15).
        5: "this send was already cancelled (API code 5)",
        6: "too late to cancel: a send cannot be cancelled less than 5 minutes before its scheduled time (API code 6)",
        7: "this message was already sent and cannot be cancelled (API code 7)",
    },
}

ENDPOINT_OF = {"stop_add": "stop-sms/add", "stop_remove": "stop-sms/delete", "message_cancel": "message-cancel"}


def explain(endpoint: str, code: int, api_message: str | None = None) -> str:
    """A plain sentence for control code ``code`` of ``endpoint``."""
    text = CODE_MESSAGES.get(endpoint, {}).get(code) or COMMON_CODES.get(code)
    if text:
        return text
    return f"the API refused the request (API code {code}{': ' + api_message if api_message else ''})"
