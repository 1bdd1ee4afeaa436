"""A big list streamed over the raw socket: the head checked inside the retry loop, then runs of raw items.

With `etl.api.transport`, the only modules speaking to the API through `requests` (and urllib3).

The stop list (1,000,000 entries) and the rental files are read a megabyte of items at a time
(`etl.api.jsonlist`: ``orjson`` on runs of whole items, ``ijson`` wherever that could differ), so
memory stays bounded. `open_stream` is one attempt: it sends, reads the first `HEAD_BYTES` and
checks the envelope, so a 5xx, a 429 or an error envelope is handled by the client's retry loop
like any other call. After it, `iter_runs` retries nothing: a failure mid-stream raises
`TransientApiError` (cut short) or `PayloadError` (bad JSON) and the caller restarts the download.
Errors leave unmasked and ``from None``; the client masks them.
"""

from __future__ import annotations

import functools
import io
import logging
from collections.abc import Generator, Mapping
from dataclasses import dataclass
from typing import Any

import ijson
import requests
import urllib3.exceptions

from etl.api import parse
from etl.api.jsonlist import iter_list_runs
from etl.api.lists import ListSpec
from etl.api.retry import RETRYABLE_STATUSES
from etl.api.transport import Transport, decode, transient_for_status
from etl.errors import ApiError, PayloadError, TransientApiError

__all__ = ["HEAD_BYTES", "Opened", "iter_runs", "open_stream"]

log = logging.getLogger(__name__)

HEAD_BYTES = 64 * 1024
"""Bytes of a streamed body read inside the retry loop to check its envelope."""


@dataclass(frozen=True)
class Opened:
    """A stream past its head: ``response`` is ``None`` when the whole body fit in the head (then
    ``envelope`` is the whole payload)."""

    response: requests.Response | None
    head: bytes
    envelope: Mapping[str, Any]


def open_stream(transport: Transport, spec: ListSpec) -> Opened:
    """One attempt: send, read the head, check the envelope."""
    endpoint = spec.endpoint
    response = transport.send("GET", endpoint, dict(spec.params), stream=True)
    keep_open = False
    try:
        if response.status_code in RETRYABLE_STATUSES:
            raise transient_for_status(response, endpoint)
        head = _read_raw(response, HEAD_BYTES, endpoint)
        if len(head) < HEAD_BYTES:
            payload = decode(response, head, endpoint, transport.scrub)
            return Opened(None, b"", parse.check_envelope(endpoint, payload))
        envelope = _head_envelope(response, head, spec, transport)
        keep_open = True
        return Opened(response, head, envelope)
    finally:
        if not keep_open:
            response.close()


def iter_runs(opened: Opened, spec: ListSpec) -> Generator[list[Any], None, None]:
    """The streamed list's raw items, non-empty runs (~a megabyte of the body) at a time."""
    endpoint, list_key = spec.endpoint, spec.list_key
    response, envelope = opened.response, opened.envelope
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
        for run in iter_list_runs(opened.head, read, list_key):
            count += len(run)
            yield run
    except ijson.IncompleteJSONError:
        error = TransientApiError(f"stream cut short after {count} items", endpoint=endpoint)
    except (ijson.JSONError, UnicodeDecodeError):  # ijson reports invalid UTF-8 in a string as the latter
        error = PayloadError(f"invalid JSON after {count} items", endpoint=endpoint, field=list_key)
    except (urllib3.exceptions.HTTPError, requests.exceptions.RequestException, OSError) as exc:
        error = TransientApiError(f"stream cut short after {count} items ({exc.__class__.__name__})", endpoint=endpoint)
    finally:
        response.close()
    if error is not None:
        raise error from None
    expected = envelope.get(spec.count_key) if spec.count_key else None
    if expected is not None and str(expected).isdigit() and int(expected) != count:
        log.warning("%s announced %s items, streamed %d", endpoint, expected, count)
    log.debug("%s streamed %d items", endpoint, count)


def _read_raw(response: requests.Response, size: int, endpoint: str) -> bytes:
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


def _head_envelope(response: requests.Response, head: bytes, spec: ListSpec, transport: Transport) -> Mapping[str, Any]:
    """Top-level scalars before the list in the first bytes of a big body, envelope-checked."""
    endpoint, list_key = spec.endpoint, spec.list_key
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
    transport.scrub(scalars)
    if "success" not in scalars and "code" not in scalars:
        # Keys in another order than documented: trust the list, the items are validated one by one.
        return scalars
    return parse.check_envelope(endpoint, scalars)
