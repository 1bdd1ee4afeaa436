"""The project's one exception tree.

Families are named by what the caller should do about them (meltano/sdk style)::

    EtlError                      anything this package raises on purpose
    ├── ConfigError               bad or missing configuration: fix the config, do not retry
    ├── InputError                bad user input (CSV line, phone number, CLI argument)
    │   └── InvalidPhoneNumber    a number phonenumbers cannot parse or validate
    ├── ApiError                  the SMS Partner API (or its simulator) did not give what we asked
    │   ├── TransientApiError     5xx, 429, timeouts, dropped connections: retry later
    │   │   └── ConnectFailed     refused or connect timeout: the request never left, even a write may retry
    │   ├── ApiRejected           success:false with a control code (carries code and message)
    │   │   ├── AuthError         code 10 (bad key) or 1 (key missing): stop everything
    │   │   └── NotFound          the resource does not exist (per-endpoint codes, e.g. 4 or 32)
    │   ├── UnknownOutcome        a write whose request may have reached the server; re-read to know
    │   └── PayloadError          the answer is not what the API documents (names endpoint and field)
    │       └── UnreadableItem    a one-item answer (message-status) that cannot be read: quarantine it
    ├── SyncRefused               a guard refused to apply a sync (e.g. the stop list shrank too much)
    ├── StaleData                 data needed for a safety decision is older than allowed
    ├── DatabaseUnavailable       the database cannot be reached (down, wrong host, no such file)
    ├── NotMigrated               the database is reachable but its schema is not the code's: run db upgrade
    └── LockHeld                  another instance holds the job's lock

No exception text ever contains the API key: the client re-raises `requests` errors with the URL
path only (``from None``), and `Secret` masks itself in ``repr``/``str``.
"""

from __future__ import annotations


class EtlError(Exception):
    """Root of every error this package raises on purpose."""


class ConfigError(EtlError):
    """The configuration is missing a value or holds a wrong one; names the key."""


class InputError(EtlError):
    """User-supplied input is wrong (a CSV line, a phone number, a CLI argument)."""


class InvalidPhoneNumber(InputError):
    """A phone number that cannot be parsed or is not a valid number."""

    def __init__(self, raw: str, reason: str = "not a valid phone number") -> None:
        super().__init__(f"{raw!r}: {reason}")
        self.raw = raw
        self.reason = reason


class ApiError(EtlError):
    """The API did not give what was asked. ``endpoint`` is the path, never the full URL."""

    def __init__(self, message: str, *, endpoint: str | None = None) -> None:
        super().__init__(f"{endpoint}: {message}" if endpoint else message)
        self.endpoint = endpoint


class TransientApiError(ApiError):
    """A fault worth retrying later: HTTP 5xx or 429, timeout, connection dropped."""

    def __init__(
        self,
        message: str,
        *,
        endpoint: str | None = None,
        status: int | None = None,
        retry_after: float | None = None,
    ) -> None:
        super().__init__(message, endpoint=endpoint)
        self.status = status
        self.retry_after = retry_after


class ConnectFailed(TransientApiError):
    """The connection was never established (refused, connect timeout): the request surely never reached
    the server, so even a write call may be retried safely."""


class ApiRejected(ApiError):
    """The API answered ``success: false`` with a control code. Match on ``code``, never text."""

    def __init__(self, code: int, message: str, *, endpoint: str | None = None) -> None:
        super().__init__(f"code {code}: {message}", endpoint=endpoint)
        self.code = code
        self.api_message = message


class AuthError(ApiRejected):
    """Code 10 (invalid key) or 1 (key missing): nothing will work until the key is fixed."""


class NotFound(ApiRejected):
    """The resource asked for does not exist (message, stop id, rental token)."""


class UnknownOutcome(ApiError):
    """A write call failed in a way that may have reached the server; only a re-read can tell."""


class PayloadError(ApiError):
    """The answer does not have the documented shape; names the endpoint and the field."""

    def __init__(self, message: str, *, endpoint: str | None = None, field: str | None = None) -> None:
        detail = f"field {field!r}: {message}" if field else message
        super().__init__(detail, endpoint=endpoint)
        self.field = field


class UnreadableItem(PayloadError):
    """A one-item answer that cannot be read; ``item`` is it as received, for the quarantine (never logged)."""

    def __init__(
        self, message: str, *, item: object, ref: str | None = None, endpoint: str | None = None, field: str | None = None
    ) -> None:
        super().__init__(message, endpoint=endpoint, field=field)
        self.item = item
        self.ref = ref


class SyncRefused(EtlError):
    """A safety guard refused to apply a sync; nothing was written. ``--force`` overrides."""


class StaleData(EtlError):
    """Data needed for a safety decision is older than the configured limit."""


class DatabaseUnavailable(EtlError):
    """The database named by ``database.url`` cannot be reached; the message shows the URL with its password masked."""


class NotMigrated(EtlError):
    """The database answers but was never migrated, or is behind the code: ``smspartner-etl db upgrade``."""


class LockHeld(EtlError):
    """Another instance holds this job's lock; the run is skipped, not failed."""
