"""API control codes of the write endpoints, as plain sentences (REFERENCE §3.9, §3.11, §3.12; quirk 15;
ACCOUNTS §2.1, §2.3, §2.4 for the sub-account writes).

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

# Credit moves (ACCOUNTS §2.4): the English pages' numbering; 9 is their invalid key (the French page's 10).
_CREDIT_CODES = {
    2: "the API says the amount is missing (API code 2)",
    3: "the API says the sub-account token is missing (API code 3)",
    4: "this key may not move credit (API code 4): is it the parent account's key?",
    5: "the API refused the amount: it must be a number above 0 with at most 3 decimals (API code 5)",
    6: "the account the credit would come from holds nothing (API code 6)",
    7: "no such sub-account under this parent (API code 7): removed?",
    8: "insufficient credit: the account the credit would come from holds less than the amount (API code 8)",
    9: "the API key is invalid (API code 9): check api.key in the configuration",
}
CODE_MESSAGES.update({
    "subaccount/credit/add": _CREDIT_CODES,
    "subaccount/credit/remove": _CREDIT_CODES,
    "subaccount/create": {
        2: "this account may not create sub-accounts (API code 2): ask SMS Partner support to enable them",
        3: "the API says isBuyer is required (API code 3)",
        4: "the API says the type is required (API code 4)",
        5: "the API does not know this sub-account type (API code 5)",
        6: "the API says the e-mail is required (API code 6)",
        7: "an account already uses this e-mail (API code 7)",
        8: "the API refused the credit to attribute: it must be above 0 (API code 8)",
        9: "the parent's balance is too low for the credit to attribute (API code 9)",
    },
    # The missing key is 10 here, and 1 is the missing token (ACCOUNTS §2.3).
    "subaccount/remove": {
        1: "the API says the sub-account token is missing (API code 1)",
        10: "the API key is missing or invalid (API code 10): check api.key in the configuration",
        404: "no such sub-account under this parent (API code 404): already removed?",
    },
})

ENDPOINT_OF = {
    "stop_add": "stop-sms/add",
    "stop_remove": "stop-sms/delete",
    "message_cancel": "message-cancel",
    "credit_add": "subaccount/credit/add",
    "credit_remove": "subaccount/credit/remove",
    "subaccount_create": "subaccount/create",
    "subaccount_remove": "subaccount/remove",
}


def explain(endpoint: str, code: int, api_message: str | None = None) -> str:
    """A plain sentence for control code ``code`` of ``endpoint``."""
    text = CODE_MESSAGES.get(endpoint, {}).get(code) or COMMON_CODES.get(code)
    if text:
        return text
    return f"the API refused the request (API code {code}{': ' + api_message if api_message else ''})"
