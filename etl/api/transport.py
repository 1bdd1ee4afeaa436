"""`Transport`: one `requests.Session`, one HTTP exchange at a time, `requests` errors to ours.

`requests` (and urllib3) is imported by this module and `etl.api.stream` only, for the API
(`etl.api.simulator_clock` has its own session, for the simulator's clock endpoint).

* The key goes in the query for GET and in the JSON body for POST (REFERENCE §1, quirk 22). The
  client never asks for XML (quirk 16): no ``_format`` is sent, JSON being the documented default.
* The body is parsed **whatever the HTTP status** (quirk 11): an application error may come with
  200 or 400; success is ``success == true and code == 200`` (`parse.check_envelope`).
* `requests` errors quote the full URL, ``apiKey=`` included. Every one is re-raised as our error
  naming the path only, outside the ``except`` block and ``from None``, so neither the message,
  the traceback nor ``__context__`` carries the key. urllib3's DEBUG line (which logs the URL) is
  redacted by a logging filter.
* Every decoded answer goes through the client's ``scrub`` (the key masked in all its strings)
  before anything reads it.
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Callable, Mapping
from datetime import timezone
from decimal import Decimal
from email.utils import parsedate_to_datetime
from typing import Any

import requests
import requests.adapters
import urllib3.exceptions

from etl.api import parse
from etl.api.retry import RETRYABLE_STATUSES, parse_retry_after
from etl.config import Secret
from etl.errors import ApiError, ConnectFailed, PayloadError, TransientApiError

__all__ = ["Scrub", "Transport", "decode", "read_body", "transient_for_status"]

#: ``scrub(payload) -> payload``: the key masked in every string of a freshly decoded answer.
Scrub = Callable[[Any], Any]

#: Connections kept per host by default (requests' own default).
DEFAULT_POOL = 10

_KEY_IN_TEXT = re.compile(r"(apiKey=)[^&\s\"']+")


class _RedactApiKey(logging.Filter):
    """Masks ``apiKey=...`` in records of urllib3's connection pool (it logs request lines at DEBUG)."""

    def filter(self, record: logging.LogRecord) -> bool:
        if record.args:
            try:
                record.msg = _KEY_IN_TEXT.sub(r"\1***", record.getMessage())
                record.args = None
            except Exception:  # noqa: BLE001 - a record we cannot format is left alone
                return True
        elif isinstance(record.msg, str):
            record.msg = _KEY_IN_TEXT.sub(r"\1***", record.msg)
        return True


def _install_urllib3_redaction() -> None:
    target = logging.getLogger("urllib3.connectionpool")
    if not any(isinstance(f, _RedactApiKey) for f in target.filters):
        target.addFilter(_RedactApiKey())


def _json_loads(body: bytes) -> Any:
    return json.loads(body, parse_float=Decimal)


class Transport:
    """The session of one client: ``base_url`` (ending in ``/v1``), the key, timeouts, headers."""

    def __init__(
        self, base_url: str, api_key: Secret, timeout: tuple[float, float], user_agent: str, scrub: Scrub,
        *, pool_size: int = DEFAULT_POOL,
    ) -> None:
        self.base_url = base_url
        self.timeout = timeout
        self.scrub = scrub
        self._key = api_key
        self._session = requests.Session()
        self._session.headers.update({"User-Agent": user_agent, "Accept": "application/json"})
        # K reads in flight (etl.api.concurrent) need K pooled connections; past the pool's size urllib3
        # opens a connection per call and discards it, paying a TCP (and TLS) handshake each time.
        for prefix in ("http://", "https://"):
            self._session.mount(prefix, requests.adapters.HTTPAdapter(pool_maxsize=max(pool_size, DEFAULT_POOL)))
        _install_urllib3_redaction()

    def close(self) -> None:
        self._session.close()

    def send(self, method: str, endpoint: str, params: Mapping[str, Any], *, stream: bool) -> requests.Response:
        """The only I/O: one HTTP exchange. Maps `requests` errors to ours, path only, no context."""
        url = f"{self.base_url}/{endpoint}"
        key = self._key.reveal()
        error: ApiError
        try:
            if method == "GET":
                return self._session.get(url, params={"apiKey": key, **params}, timeout=self.timeout, stream=stream)
            # POST, or a DELETE with a JSON body (subaccount/remove, group/delete: ACCOUNTS §6.3)
            return self._session.request(method, url, json={"apiKey": key, **params}, timeout=self.timeout, stream=stream)
        except requests.exceptions.ConnectTimeout:
            error = ConnectFailed("connect timeout", endpoint=endpoint)
        except requests.exceptions.ReadTimeout:
            error = TransientApiError("read timeout", endpoint=endpoint)
        except (requests.exceptions.InvalidURL, requests.exceptions.MissingSchema, requests.exceptions.InvalidSchema):
            error = ApiError("invalid base URL", endpoint=endpoint)
        except requests.exceptions.ConnectionError as exc:
            error = (
                ConnectFailed("connection refused or unreachable", endpoint=endpoint)
                if _never_connected(exc)
                else TransientApiError(f"connection failed ({_cause_name(exc)})", endpoint=endpoint)
            )
        except requests.exceptions.RequestException as exc:
            error = TransientApiError(f"request failed ({exc.__class__.__name__})", endpoint=endpoint)
        raise error from None

    def exchange(self, method: str, endpoint: str, params: Mapping[str, Any]) -> Mapping[str, Any]:
        """One exchange → the success payload, or our error."""
        response = self.send(method, endpoint, params, stream=False)
        try:
            if response.status_code in RETRYABLE_STATUSES:
                raise transient_for_status(response, endpoint)
            body = read_body(response, endpoint)
        finally:
            response.close()
        payload = decode(response, body, endpoint, self.scrub)
        return parse.check_envelope(endpoint, payload)

    def discard_connections(self) -> None:
        """Forget pooled keep-alive connections after a transient fault.

        A server that cut a body short or answered garbage may close the socket a moment later; a
        retry that reused it would fail with "connection aborted" without reaching the server
        (and, for a write, be misread as an unknown outcome). The session stays usable.
        """
        for adapter in self._session.adapters.values():
            adapter.close()


def read_body(response: requests.Response, endpoint: str) -> bytes:
    error: ApiError
    try:
        return response.content
    except requests.exceptions.RequestException as exc:
        error = TransientApiError(f"body cut short ({exc.__class__.__name__})", endpoint=endpoint)
    except (urllib3.exceptions.HTTPError, OSError) as exc:
        error = TransientApiError(f"body cut short ({exc.__class__.__name__})", endpoint=endpoint)
    raise error from None


def transient_for_status(response: requests.Response, endpoint: str) -> TransientApiError:
    """The error of a retryable status, with the Retry-After wait read against the answer's ``Date``."""
    now = None
    date_header = response.headers.get("Date")
    if date_header:
        try:
            now = parsedate_to_datetime(date_header)
            if now.tzinfo is None:
                now = now.replace(tzinfo=timezone.utc)
        except (TypeError, ValueError, IndexError):
            now = None
    retry_after = parse_retry_after(response.headers.get("Retry-After"), now)
    return TransientApiError(
        f"HTTP {response.status_code}", endpoint=endpoint, status=response.status_code, retry_after=retry_after
    )


def decode(response: requests.Response, body: bytes, endpoint: str, scrub: Scrub) -> Any:
    """JSON from the body whatever the status (quirk 11), scrubbed; an undecodable body is transient."""
    error: ApiError
    try:
        return scrub(_json_loads(body))
    except (ValueError, UnicodeDecodeError):
        kind = "HTML" if body.lstrip()[:1] == b"<" else "not JSON"
        if 200 <= response.status_code < 300:
            # A proxy's HTML page or a body cut short: worth another try for a read.
            error = TransientApiError(f"HTTP {response.status_code} body is {kind}", endpoint=endpoint)
        else:
            error = PayloadError(f"HTTP {response.status_code} body is {kind}", endpoint=endpoint, field="")
    raise error from None


def _never_connected(exc: requests.exceptions.ConnectionError) -> bool:
    """True when the TCP connection was never established (refused, DNS, connect timeout)."""
    cause = exc.args[0] if exc.args else None
    reason = getattr(cause, "reason", cause)
    return isinstance(
        reason,
        (urllib3.exceptions.NewConnectionError, urllib3.exceptions.ConnectTimeoutError, urllib3.exceptions.NameResolutionError),
    )


def _cause_name(exc: BaseException) -> str:
    cause = exc.args[0] if exc.args else None
    reason = getattr(cause, "reason", None)
    if reason is not None and isinstance(reason, BaseException):
        return reason.__class__.__name__
    return cause.__class__.__name__ if isinstance(cause, BaseException) else exc.__class__.__name__
