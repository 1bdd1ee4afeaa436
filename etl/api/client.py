"""`SmsPartnerClient`: one `requests.Session`, timeouts, key injection, statuses and codes to errors.

The only module of the package that imports `requests`. Layers, httpx style::

    public method (me, iter_stops, add_stop, ...)      builds params, picks the parser
      └── _call / _open_stream                         retry loop (policy in etl.api.retry)
            └── _attempt                               one HTTP exchange → decoded JSON or our error
                  └── _send                            the only method doing I/O

Why the choices:

* The key goes in the query for GET and in the JSON body for POST (REFERENCE §1, quirk 22). The
  client never asks for XML (quirk 16): no ``_format`` is sent, JSON being the documented default.
* The body is parsed **whatever the HTTP status** (quirk 11): an application error may come with
  200 or 400; success is ``success == true and code == 200`` (`parse.check_envelope`).
* `requests` errors quote the full URL, ``apiKey=`` included. Every one is re-raised as our error
  naming the path only, outside the ``except`` block and ``from None``, so neither the message,
  the traceback nor ``__context__`` carries the key. urllib3's DEBUG line (which logs the URL) is
  redacted by a logging filter.
* An API text may quote the key itself (issue 16). Every decoded answer has the key masked in all
  its strings (`etl.api.redact`) before anything reads it, and every error leaving the client is
  masked once more (`_masked`), so error texts, ``api_message`` and returned messages never hold it.
* Big lists (stop list: 1,000,000 entries; rental files) are streamed over the raw socket, a
  megabyte of items at a time (`etl.api.jsonlist`: ``orjson`` on runs of whole items, ``ijson``
  wherever that could differ). The first `HEAD_BYTES` are read inside the retry loop (so a 5xx, a 429 or an error
  envelope is handled like any other call); after the first record is yielded nothing is retried:
  a failure mid-stream raises `TransientApiError` (cut short) or `PayloadError` (bad record) and
  the caller restarts the sync.
"""

from __future__ import annotations

import functools
import io
import json
import logging
import re
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from datetime import date, datetime, timezone
from decimal import Decimal
from email.utils import parsedate_to_datetime
from typing import Any, TypeVar, cast

import ijson
import requests
import urllib3.exceptions

from etl import phones
from etl.api import parse, rentalrows, stoprows
from etl.api.jsonlist import iter_list_runs
from etl.api.parse import (
    Account,
    MessageStatus,
    MonthlyCosts,
    RentalNumber,
    RentalStatus,
    SendResult,
    StatusItem,
    StatusItems,
    Stop,
    Unreadable,
    WriteResult,
)
from etl.api.redact import masker
from etl.api.rentalrows import RentalRow, rental_row_parser
from etl.api.retry import (
    RETRYABLE_STATUSES,
    WRITE_ENDPOINTS,
    RetryBudget,
    RetryPolicy,
    build_retrying,
    parse_retry_after,
    to_unknown_outcome,
)
from etl.api.stoprows import StopRow, stop_row_parser
from etl.config import Secret
from etl.errors import (
    ApiError,
    ConfigError,
    ConnectFailed,
    NotFound,
    PayloadError,
    TransientApiError,
)

__all__ = ["SmsPartnerClient", "Observer", "MULTI_STATUS_LIMIT", "HEAD_BYTES"]

log = logging.getLogger(__name__)

Observer = Callable[[str, str, int], None]
"""``observer(endpoint, outcome, attempt)``: outcome is ``"ok"``, ``"retry"`` or the final error's
class name (``"TransientApiError"``, ``"AuthError"``, ``"UnknownOutcome"``, ...)."""

MULTI_STATUS_LIMIT = 500
"""Pairs per ``/multi-status`` call (DOC-st2, WEB, code 50)."""

HEAD_BYTES = 64 * 1024
"""Bytes of a streamed body read inside the retry loop to check its envelope."""

MAX_TAG_PAGES = 100_000
"""Hard stop for ``/bulk-status-by-tag`` paging, whatever the server says."""

_E = TypeVar("_E", bound=BaseException)
_R = TypeVar("_R")

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


class SmsPartnerClient:
    """Typed access to the SMS Partner API v1 (or the simulator).

    ``base_url`` ends in ``/v1``. ``api_key`` is a `Secret`; it is revealed only when a request is
    built. ``sleep`` is what the retry loop sleeps with (tests pass a recorder). ``observer`` is
    called once per attempt, for metrics.
    """

    def __init__(
        self,
        base_url: str,
        api_key: Secret,
        *,
        connect_timeout: float = 5.0,
        read_timeout: float = 30.0,
        max_attempts: int = 5,
        max_retry_seconds: float = 120.0,
        sleep: Callable[[float], None] = time.sleep,
        user_agent: str = "smspartner-etl/0.1 (+python-requests)",
        observer: Observer | None = None,
        retry_policy: RetryPolicy | None = None,
    ) -> None:
        if not isinstance(api_key, Secret):
            raise ConfigError("api_key must be an etl.config.Secret")
        if not base_url.startswith(("http://", "https://")):
            raise ConfigError(f"base_url must start with http:// or https://, got {base_url!r}")
        self.base_url = base_url.rstrip("/")
        self._key = api_key
        self._mask = masker([api_key.reveal()])
        self.timeout = (connect_timeout, read_timeout)
        self.policy = retry_policy or RetryPolicy(max_attempts=max_attempts, max_seconds=max_retry_seconds)
        self._sleep = sleep
        self._observer = observer
        self._session = requests.Session()
        self._session.headers.update({"User-Agent": user_agent, "Accept": "application/json"})
        _install_urllib3_redaction()

    def __repr__(self) -> str:
        return f"SmsPartnerClient(base_url={self.base_url!r}, api_key={self._key!r})"

    @property
    def secret(self) -> Secret:
        """The API key, masked in ``repr``/``str``: the runner removes it from every text it stores."""
        return self._key

    def close(self) -> None:
        self._session.close()

    def __enter__(self) -> SmsPartnerClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ----------------------------------------------------------------------------------------------
    # Transport
    # ----------------------------------------------------------------------------------------------

    def _send(self, method: str, endpoint: str, params: Mapping[str, Any], *, stream: bool) -> requests.Response:
        """The only I/O: one HTTP exchange. Maps `requests` errors to ours, path only, no context."""
        url = f"{self.base_url}/{endpoint}"
        key = self._key.reveal()
        error: ApiError
        try:
            if method == "GET":
                return self._session.get(url, params={"apiKey": key, **params}, timeout=self.timeout, stream=stream)
            return self._session.post(url, json={"apiKey": key, **params}, timeout=self.timeout, stream=stream)
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

    def _read_body(self, response: requests.Response, endpoint: str) -> bytes:
        error: ApiError
        try:
            return response.content
        except requests.exceptions.RequestException as exc:
            error = TransientApiError(f"body cut short ({exc.__class__.__name__})", endpoint=endpoint)
        except (urllib3.exceptions.HTTPError, OSError) as exc:
            error = TransientApiError(f"body cut short ({exc.__class__.__name__})", endpoint=endpoint)
        raise error from None

    @staticmethod
    def _transient_for_status(response: requests.Response, endpoint: str) -> TransientApiError:
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

    def _decode(self, response: requests.Response, body: bytes, endpoint: str) -> Any:
        """JSON from the body whatever the status (quirk 11); an undecodable body is transient."""
        error: ApiError
        try:
            return self._scrub(_json_loads(body))
        except (ValueError, UnicodeDecodeError):
            kind = "HTML" if body.lstrip()[:1] == b"<" else "not JSON"
            if 200 <= response.status_code < 300:
                # A proxy's HTML page or a body cut short: worth another try for a read.
                error = TransientApiError(f"HTTP {response.status_code} body is {kind}", endpoint=endpoint)
            else:
                error = PayloadError(f"HTTP {response.status_code} body is {kind}", endpoint=endpoint, field="")
        raise error from None

    def _attempt(self, method: str, endpoint: str, params: Mapping[str, Any]) -> Mapping[str, Any]:
        """One exchange → the success payload, or our error."""
        response = self._send(method, endpoint, params, stream=False)
        try:
            if response.status_code in RETRYABLE_STATUSES:
                raise self._transient_for_status(response, endpoint)
            body = self._read_body(response, endpoint)
        finally:
            response.close()
        payload = self._decode(response, body, endpoint)
        return parse.check_envelope(endpoint, payload)

    def retry_budget(self) -> RetryBudget:
        """A fresh budget of this client's policy and sleep, for a caller that restarts a download."""
        return RetryBudget(self.policy, self._sleep)

    def _retrying_call(self, endpoint: str, fn: Callable[[], Any], budget: RetryBudget | None = None) -> Any:
        """Run ``fn`` under the retry policy of ``endpoint`` (read or write), reporting to the observer."""
        write = endpoint in WRITE_ENDPOINTS
        attempt = 0

        def on_retry(ep: str, number: int, exc: BaseException) -> None:
            self._observe(ep, "retry", number)

        retrying = build_retrying(
            self.policy, endpoint=endpoint, write=write, sleep=self._sleep, on_retry=on_retry, budget=budget
        )
        final: BaseException
        try:
            for attempt_ctx in retrying:
                with attempt_ctx:
                    attempt = attempt_ctx.retry_state.attempt_number
                    try:
                        result = fn()
                    except TransientApiError:
                        self._discard_connections()
                        raise
            self._observe(endpoint, "ok", attempt)
            return result
        except ApiError as exc:
            final = to_unknown_outcome(self._masked(exc)) if write else exc
        self._observe(endpoint, final.__class__.__name__, attempt)
        raise self._masked(final) from None

    def _discard_connections(self) -> None:
        """Forget pooled keep-alive connections after a transient fault.

        A server that cut a body short or answered garbage may close the socket a moment later; a
        retry that reused it would fail with "connection aborted" without reaching the server
        (and, for a write, be misread as an unknown outcome). The session stays usable.
        """
        for adapter in self._session.adapters.values():
            adapter.close()

    def _observe(self, endpoint: str, outcome: str, attempt: int) -> None:
        if self._observer is not None:
            try:
                self._observer(endpoint, outcome, attempt)
            except Exception:  # metrics must never break a sync
                log.exception("observer failed for %s", endpoint)

    def _scrub(self, payload: Any) -> Any:
        """``payload`` (freshly decoded, ours to change) with the key masked in every string, in place.

        Where API text enters: everything read from an answer (error texts, ``message``, statuses)
        comes from here, so nothing downstream can forget to mask it.
        """
        mask = self._mask
        if isinstance(payload, str):
            return mask(payload)
        if isinstance(payload, dict):
            for name, value in payload.items():
                if isinstance(value, str):
                    payload[name] = mask(value)
                elif isinstance(value, (dict, list)):
                    self._scrub(value)
        elif isinstance(payload, list):
            for i, value in enumerate(payload):
                if isinstance(value, str):
                    payload[i] = mask(value)
                elif isinstance(value, (dict, list)):
                    self._scrub(value)
        return payload

    def _masked(self, error: _E) -> _E:
        """``error`` with the key masked in its text and text attributes (``api_message``), in place.

        The second net: an error built from anything not scrubbed (a streamed item, a future
        snippet of a body, an exception's own text) leaves the client masked all the same.
        """
        mask = self._mask
        error.args = tuple(mask(a) if isinstance(a, str) else a for a in error.args)
        for name, value in list(vars(error).items()):
            if isinstance(value, str):
                setattr(error, name, mask(value))
        return error

    def _masking(
        self, on_unreadable: Callable[[Any, PayloadError], _R] | None
    ) -> Callable[[Any, PayloadError], _R] | None:
        """``on_unreadable`` seeing a streamed item scrubbed and its error masked (streamed runs are not scrubbed)."""
        if on_unreadable is None:
            return None
        decide = on_unreadable

        def masked(item: Any, error: PayloadError) -> _R:
            return decide(self._scrub(item), self._masked(error))

        return masked

    def _call(self, method: str, endpoint: str, params: Mapping[str, Any] | None = None) -> Mapping[str, Any]:
        result: Mapping[str, Any] = self._retrying_call(
            endpoint, lambda: self._attempt(method, endpoint, params or {})
        )
        return result

    # ----------------------------------------------------------------------------------------------
    # Streaming (stop list, rental file)
    # ----------------------------------------------------------------------------------------------

    def _open_stream(
        self, endpoint: str, params: Mapping[str, Any], list_key: str
    ) -> tuple[requests.Response | None, bytes, Mapping[str, Any]]:
        """One attempt: send, read the head, check the envelope.

        Returns ``(response, head, envelope)``; ``response`` is ``None`` when the whole body fit
        in the head (then ``envelope`` is the whole payload).
        """
        response = self._send("GET", endpoint, params, stream=True)
        keep_open = False
        try:
            if response.status_code in RETRYABLE_STATUSES:
                raise self._transient_for_status(response, endpoint)
            head = self._read_raw(response, HEAD_BYTES, endpoint)
            if len(head) < HEAD_BYTES:
                payload = self._decode(response, head, endpoint)
                return None, b"", parse.check_envelope(endpoint, payload)
            envelope = self._head_envelope(response, head, endpoint, list_key)
            keep_open = True
            return response, head, envelope
        finally:
            if not keep_open:
                response.close()

    def _read_raw(self, response: requests.Response, size: int, endpoint: str) -> bytes:
        error: ApiError
        try:
            chunks = []
            remaining = size
            while remaining > 0:
                chunk = response.raw.read(remaining, decode_content=True)
                if not chunk:
                    break
                chunks.append(chunk)
                remaining -= len(chunk)
            return b"".join(chunks)
        except (urllib3.exceptions.HTTPError, requests.exceptions.RequestException, OSError) as exc:
            error = TransientApiError(f"body cut short ({exc.__class__.__name__})", endpoint=endpoint)
        raise error from None

    def _head_envelope(
        self, response: requests.Response, head: bytes, endpoint: str, list_key: str
    ) -> Mapping[str, Any]:
        """Top-level scalars before ``list_key`` in the first bytes of a big body, envelope-checked."""
        scalars: dict[str, Any] = {}
        key: str | None = None
        found_list = False
        error: ApiError | None = None
        try:
            for prefix, event, value in ijson.parse(io.BytesIO(head), use_float=False):
                if found_list:
                    if event != "start_array":
                        error = PayloadError(f"expected a list, got {event}", endpoint=endpoint, field=list_key)
                    break
                if prefix == "" and event == "map_key":
                    key = value
                    found_list = key == list_key
                elif key is not None and prefix == key and event in ("string", "number", "boolean", "null"):
                    scalars[key] = value
                elif event == "start_array" and prefix == "":
                    error = PayloadError("expected a JSON object, got a list", endpoint=endpoint, field="")
                    break
        except ijson.IncompleteJSONError:
            pass  # the head ended before the list key: fine, the list simply comes later
        except ijson.JSONError:
            kind = "HTML" if head.lstrip()[:1] == b"<" else "not JSON"
            error = TransientApiError(f"HTTP {response.status_code} body is {kind}", endpoint=endpoint)
        if error is not None:
            raise error from None
        if not found_list:
            # Envelope keys are a few bytes; a list that does not start in the first 64 KiB is not
            # the documented shape, and streaming "nothing" would look like an empty list.
            raise PayloadError(f"no list in the first {len(head)} bytes", endpoint=endpoint, field=list_key)
        self._scrub(scalars)
        if "success" not in scalars and "code" not in scalars:
            # Keys in another order than documented: trust the list, the items are validated one by one.
            return scalars
        return parse.check_envelope(endpoint, scalars)

    def _stream_items(
        self,
        endpoint: str,
        params: Mapping[str, Any],
        list_key: str,
        count_key: str | None,
        parse_item: Callable[[Any, str], Any],
    ) -> Iterator[Any]:
        """``parse_item(item, endpoint)`` for each item of the streamed list, one at a time."""
        for run in self._stream_runs(endpoint, params, list_key, count_key):
            for item in run:
                try:
                    parsed = parse_item(item, endpoint)
                except ApiError as exc:
                    raise self._masked(exc) from None  # streamed items are not scrubbed (the hot path); their errors are
                yield parsed

    def _stream_runs(
        self,
        endpoint: str,
        params: Mapping[str, Any],
        list_key: str,
        count_key: str | None,
        budget: RetryBudget | None = None,
    ) -> Iterator[list[Any]]:
        """The streamed list's raw items, a run (~a megabyte of the body) at a time (`etl.api.jsonlist`)."""
        response, head, envelope = self._retrying_call(
            endpoint, lambda: self._open_stream(endpoint, params, list_key), budget
        )
        if response is None:
            items = envelope.get(list_key)
            if not isinstance(items, list):
                raise PayloadError("missing or not a list", endpoint=endpoint, field=list_key)
            if items:
                yield items
            return
        count = 0
        error: ApiError | None = None
        try:
            read = functools.partial(response.raw.read, decode_content=True)
            for run in iter_list_runs(head, read, list_key):
                count += len(run)
                yield run
        except ijson.IncompleteJSONError:
            error = TransientApiError(f"stream cut short after {count} items", endpoint=endpoint)
        except (ijson.JSONError, UnicodeDecodeError):  # ijson reports invalid UTF-8 in a string as the latter
            error = PayloadError(f"invalid JSON after {count} items", endpoint=endpoint, field=list_key)
        except (urllib3.exceptions.HTTPError, requests.exceptions.RequestException, OSError) as exc:
            error = TransientApiError(
                f"stream cut short after {count} items ({exc.__class__.__name__})", endpoint=endpoint
            )
        finally:
            response.close()
        if error is not None:
            raise self._masked(error) from None
        expected = envelope.get(count_key) if count_key else None
        if expected is not None and str(expected).isdigit() and int(expected) != count:
            log.warning("%s announced %s items, streamed %d", endpoint, expected, count)
        log.debug("%s streamed %d items", endpoint, count)

    # ----------------------------------------------------------------------------------------------
    # Reads
    # ----------------------------------------------------------------------------------------------

    def me(self) -> Account:
        """``GET /me``: account, credits and balance."""
        return parse.parse_account(self._call("GET", "me"))

    def iter_stops(self) -> Iterator[Stop]:
        """``GET /stop-sms/list``, streamed: bounded memory whatever the list size.

        A failure after the first record raises `TransientApiError`/`PayloadError`; restart the
        iteration (the endpoint has no paging, quirk 23).
        """
        return self._stream_items("stop-sms/list", {}, "data", "nbData", parse.parse_stop_item)

    def iter_stop_rows(self, utc_suffix: str = "", max_raw: int | None = None) -> Iterator[StopRow]:
        """`iter_stops` as plain tuples for a bulk load: the stop sync's hot path.

        Same answers and errors as `iter_stops` (see `etl.api.stoprows`), ``createdAt`` as UTC text
        ending in ``utc_suffix``, ``phone_raw`` cut to ``max_raw``.
        """
        parse_row = stop_row_parser(utc_suffix, max_raw)
        return self._stream_items("stop-sms/list", {}, "data", "nbData", parse_row)

    def iter_stop_runs(
        self,
        utc_suffix: str = "",
        max_raw: int | None = None,
        *,
        on_unreadable: stoprows.OnUnreadable | None = None,
        budget: RetryBudget | None = None,
    ) -> Iterator[list[Any]]:
        """`iter_stop_rows` flattened, a run at a time: 4 values per stop, ~12,000 stops per run.

        For a multi-row ``INSERT`` per run (`etl.db.dialect.bulk_load_fields`): no tuple per row
        handed through a generator. A bad item raises before any of its run is returned, unless
        ``on_unreadable`` decides its row (`etl.api.stoprows`). ``budget``: the retries of the
        start spend from it (a caller restarting the download passes the same one each time).
        """
        endpoint = "stop-sms/list"
        parse_row = stop_row_parser(utc_suffix, max_raw, self._masking(on_unreadable))
        for run in self._stream_runs(endpoint, {}, "data", "nbData", budget):
            values: list[Any] = []
            extend = values.extend
            try:
                for item in run:
                    extend(parse_row(item, endpoint))
            except ApiError as exc:
                raise self._masked(exc) from None
            yield values

    def message_status(self, message_id: str, phone: str) -> MessageStatus:
        """``GET /message-status`` for one (message id, number). Unknown pair: `NotFound` (code 4)."""
        payload = self._call("GET", "message-status", {"messageId": str(message_id), "phoneNumber": phone})
        return parse.parse_message_status(payload)

    def multi_status(self, pairs: Sequence[tuple[str, str]]) -> StatusItems:
        """``POST /multi-status`` for ≤ 500 (message id, E.164 number) pairs (quirks 8, 12).

        Per-item failures come back as items with ``ok=False`` (``not_found`` for code 4); items that
        cannot be read, in ``unreadable``.
        """
        if len(pairs) > MULTI_STATUS_LIMIT:
            raise ValueError(f"multi_status takes at most {MULTI_STATUS_LIMIT} pairs, got {len(pairs)}")
        if not pairs:
            return StatusItems()
        items = [{"phoneNumber": phone, "messageId": _wire_id(mid)} for mid, phone in pairs]
        return parse.parse_multi_status(self._call("POST", "multi-status", {"SMSStatut_List": items}))

    def bulk_status(self, message_id: str) -> StatusItems:
        """``GET /bulk-status``: every recipient of one message."""
        return parse.parse_bulk_status(self._call("GET", "bulk-status", {"messageId": str(message_id)}))

    def iter_bulk_status_by_tag(self, tag: str) -> Iterator[StatusItem | Unreadable]:
        """``GET /bulk-status-by-tag``, page after page (``page`` param: quirk 23); a page's unreadable items follow its others.

        ``total`` may count items or pages (undocumented), so the loop ends on an empty page, a
        page shorter than the first, or when both readings of ``total`` say we are done. A page
        number other than the one asked for, or the same items twice, raises `PayloadError`
        instead of looping forever (meltano's ``advance()`` guard).
        """
        endpoint = "bulk-status-by-tag"
        seen = 0
        first_size: int | None = None
        previous: tuple[Any, ...] | None = None
        for page in range(1, MAX_TAG_PAGES + 1):
            current, total, readable = parse.parse_status_page(
                self._call("GET", endpoint, {"tag": tag, "page": page})
            )
            items: list[StatusItem | Unreadable] = [*readable, *readable.unreadable]
            if current is not None and current != page:
                if total is not None and seen >= total:
                    return  # the server clamps past-the-end pages to the last one
                raise PayloadError(f"asked page {page}, got page {current}", endpoint=endpoint, field="currentPage")
            if not items:
                return
            fingerprint = (items[0], items[-1], len(items))
            if fingerprint == previous:
                raise PayloadError(f"page {page} repeats page {page - 1}", endpoint=endpoint, field="page")
            previous = fingerprint
            yield from items
            seen += len(items)
            if first_size is None:
                first_size = len(items)
            if len(items) < first_size:
                return
            if total is not None and seen >= total and page >= total:
                return
            if total is not None and total < first_size and page >= total:
                return  # total counts pages
        raise PayloadError(f"more than {MAX_TAG_PAGES} pages", endpoint=endpoint, field="page")

    def cost_resume(
        self, interval: str = "last_month", date_from: date | None = None, date_to: date | None = None
    ) -> MonthlyCosts:
        """``GET /statistics/cost-resume`` (rate-limited to 5/min: a 429 is retried after Retry-After)."""
        if interval not in ("last_month", "last_twelve_months", "custom"):
            raise ValueError(f"unknown interval {interval!r}")
        params: dict[str, Any] = {"interval": interval}
        if interval == "custom":
            if date_from is None or date_to is None:
                raise ValueError("interval='custom' needs date_from and date_to")
            params["from"] = date_from.strftime("%d-%m-%Y")
            params["to"] = date_to.strftime("%d-%m-%Y")
        return parse.parse_cost_resume(self._call("GET", "statistics/cost-resume", params))

    def rental_status(self, token: str) -> RentalStatus:
        """``GET /location/status``. Unknown token: `NotFound` (code 32)."""
        return parse.parse_rental_status(self._call("GET", "location/status", {"token": token}))

    def iter_rental_file(self, token: str) -> Iterator[RentalNumber]:
        """``GET /location/file/download``, streamed (envelope without ``code``: quirk 19)."""
        return self._stream_items(
            "location/file/download", {"token": token}, "datas", "phoneNumbers", parse.parse_rental_item
        )

    def iter_rental_rows(self, token: str) -> Iterator[RentalRow]:
        """`iter_rental_file` as plain tuples: the rental sync's hot path.

        Same answers and errors as `iter_rental_file` (see `etl.api.rentalrows`), each number as
        ``(rental_id, phone_raw, phone_e164, stop)``.
        """
        return self._stream_items(
            "location/file/download", {"token": token}, "datas", "phoneNumbers", rental_row_parser()
        )

    def iter_rental_runs(
        self,
        token: str,
        *,
        on_unreadable: rentalrows.OnUnreadable | None = None,
        budget: RetryBudget | None = None,
    ) -> Iterator[list[RentalRow]]:
        """`iter_rental_rows` a run (~a megabyte of the body) at a time, for callers that work in bulk.

        A bad item raises before any of its run is returned, unless ``on_unreadable`` decides its
        row (`etl.api.rentalrows`; ``None`` leaves it out). ``budget`` as for `iter_stop_runs`.
        """
        endpoint = "location/file/download"
        parse_row = rental_row_parser(self._masking(on_unreadable))
        for run in self._stream_runs(endpoint, {"token": token}, "datas", "phoneNumbers", budget):
            try:
                rows = [parse_row(item, endpoint) for item in run]
            except ApiError as exc:
                raise self._masked(exc) from None
            if on_unreadable is not None and not all(rows):  # a row is a non-empty tuple; None was left out
                rows = [row for row in rows if row is not None]
            yield cast("list[RentalRow]", rows)  # None left out above (a parser without on_unreadable never gives it)

    # ----------------------------------------------------------------------------------------------
    # Writes: never sent twice unless the first surely never left (etl.api.retry)
    # ----------------------------------------------------------------------------------------------

    def add_stop(self, phone_e164: str) -> WriteResult:
        """``POST /stop-sms/add`` with ``phoneNumber`` (quirks 1, 2). ``stop_id`` is the new id.

        May raise `UnknownOutcome`: then `find_stop_by_phone` tells whether it was added.
        """
        return parse.parse_write(self._call("POST", "stop-sms/add", {"phoneNumber": phone_e164}), "stop-sms/add")

    def delete_stop(self, stop_id: int) -> WriteResult:
        """``GET /stop-sms/delete?id=`` (the list's id, not a number: quirk 1). `NotFound` on code 4.

        May raise `UnknownOutcome`: then `stop_exists` tells whether it was deleted.
        """
        return parse.parse_write(self._call("GET", "stop-sms/delete", {"id": int(stop_id)}), "stop-sms/delete")

    def cancel_message(self, message_id: str) -> WriteResult:
        """``GET /message-cancel``. Codes 5/6/7 (already cancelled, too late, already sent) are `ApiRejected`.

        May raise `UnknownOutcome`: then `resolve_cancel` re-reads the status.
        """
        payload = self._call("GET", "message-cancel", {"messageId": str(message_id)})
        return parse.parse_write(payload, "message-cancel")

    def send(
        self,
        phone_numbers: Sequence[str],
        message: str,
        *,
        tag: str | None = None,
        scheduled_at: datetime | None = None,
        sandbox: bool = False,
    ) -> SendResult:
        """``POST /send`` to ≤ 500 numbers (demo, bench, tests). A write: never retried blindly.

        ``scheduled_at`` (aware) is sent as Paris local ``dd/MM/yyyy`` + ``time`` + ``minute``
        (minute must be a multiple of 5, REFERENCE §3.2).
        """
        if not phone_numbers or len(phone_numbers) > MULTI_STATUS_LIMIT:
            raise ValueError(f"send takes 1 to {MULTI_STATUS_LIMIT} numbers, got {len(phone_numbers)}")
        params: dict[str, Any] = {"phoneNumbers": ",".join(phone_numbers), "message": message}
        if tag is not None:
            params["tag"] = tag
        if sandbox:
            params["sandbox"] = 1
        if scheduled_at is not None:
            if scheduled_at.tzinfo is None:
                raise ValueError("scheduled_at must be timezone-aware")
            local = scheduled_at.astimezone(parse.API_TIMEZONE)
            if local.minute % 5 or local.second or local.microsecond:
                raise ValueError("scheduled_at must fall on a 5-minute boundary (API: minute 0-55, step 5)")
            params["scheduledDeliveryDate"] = local.strftime("%d/%m/%Y")
            params["time"] = local.hour
            params["minute"] = local.minute
        return parse.parse_send(self._call("POST", "send", params))

    # ----------------------------------------------------------------------------------------------
    # Resolving an UnknownOutcome by re-reading
    # ----------------------------------------------------------------------------------------------

    def find_stop_by_phone(self, phone: str) -> Stop | None:
        """The stop-list entry for ``phone`` (any spelling; compared in E.164), or ``None``.

        Resolves an `UnknownOutcome` from `add_stop`: found means the add happened. Reads the
        whole list (streamed), so use it for the rare unknown outcome, not per number.
        """
        wanted = phones.canonicalize(phone) or phone
        for stop in self.iter_stops():
            if stop.phone_e164 == wanted or stop.phone_raw == phone:
                return stop
        return None

    def stop_exists(self, stop_id: int) -> bool:
        """Is ``stop_id`` still in the stop list? Resolves an `UnknownOutcome` from `delete_stop`."""
        return any(stop.stop_id == stop_id for stop in self.iter_stops())

    def resolve_add_stop(self, phone: str) -> Stop | None:
        """After `UnknownOutcome` from `add_stop`: the new entry if the add happened, else ``None``."""
        return self.find_stop_by_phone(phone)

    def resolve_delete_stop(self, stop_id: int) -> bool:
        """After `UnknownOutcome` from `delete_stop`: ``True`` when the entry is gone (the delete happened)."""
        return not self.stop_exists(stop_id)

    def resolve_cancel(self, message_id: str, phone: str) -> MessageStatus | None:
        """Re-read one recipient's status after an `UnknownOutcome` from `cancel_message`.

        ``None`` when the provider no longer knows the pair (code 4). What a cancelled message's
        status looks like is not documented (REFERENCE §4): the caller compares with what it saw
        before (e.g. still ``Waiting`` with no ``status_at`` change) and may cancel again: a
        repeated cancel answers code 5 (already cancelled) rather than acting twice.
        """
        try:
            return self.message_status(message_id, phone)
        except NotFound:
            return None


def _wire_id(message_id: str) -> int | str:
    """multi-status documents int message ids in the request (quirk 6); keep non-numeric ones as is."""
    text = str(message_id)
    return int(text) if text.isdigit() else text


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
