"""`SmsPartnerClient`: the SMS Partner API as typed methods, each call retried by policy, every error masked.

Layers, httpx style::

    public method (me, stream_list, add_stop, ...)     builds params, picks the parser or the caller's shape
      └── _call / stream_list                          retry loop (policy in etl.api.retry), masking,
                                                       the shared budget asked before each attempt (etl.api.budget)
            └── Transport.exchange / stream.open_stream one attempt → decoded JSON, or a stream's head
                  └── Transport.send                   the only method doing I/O (etl.api.transport)

`requests` is imported, for the API, by `etl.api.transport` and `etl.api.stream` only (and by
`etl.api.simulator_clock` for the simulator's clock); this module never sees it.

Why the choices:

* An API text may quote the key itself (issue 16). Every decoded answer has the key masked in all
  its strings (`_scrub`, `etl.api.redact`) before anything reads it, and every error leaving the
  client is masked once more (`_masked`), so error texts, ``api_message`` and returned messages
  never hold it. Masking stays here, not in the transport: the client knows which keys to mask.
* Big lists (stop list: 1,000,000 entries; rental files) have one reader, `stream_list`: raw items
  a run (~a megabyte of the body) at a time (`etl.api.stream`), shaped by the caller
  (`etl.api.lists`; the row shapers live beside their parsers, `etl.api.stoprows`,
  `etl.api.rentalrows`). The head is read inside the retry loop; after the first run nothing is
  retried: a failure mid-stream raises `TransientApiError` (cut short) or `PayloadError` (bad
  record) and the caller restarts the download.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from datetime import date, datetime
from typing import Any, TypeVar

from etl import phones
from etl.api import parse, stream
from etl.api.account_calls import AccountCalls
from etl.api.budget import CallBudget, NoBudget
from etl.api.lists import STOP_LIST, ListSpec, Shaper, raw
from etl.api.parse import (
    Account,
    MessageStatus,
    MonthlyCosts,
    RentalStatus,
    SendResult,
    StatusItem,
    StatusItems,
    Stop,
    Unreadable,
    WriteResult,
)
from etl.api.redact import SecretBook
from etl.api.retry import (
    WRITE_ENDPOINTS,
    RetryBudget,
    RetryPolicy,
    build_retrying,
    to_unknown_outcome,
)
from etl.api.stream import HEAD_BYTES
from etl.api.transport import Transport
from etl.config import Secret
from etl.errors import (
    ApiError,
    ConfigError,
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

MAX_TAG_PAGES = 100_000
"""Hard stop for ``/bulk-status-by-tag`` paging, whatever the server says."""

_E = TypeVar("_E", bound=BaseException)
_R = TypeVar("_R")
_T = TypeVar("_T")


class SmsPartnerClient(AccountCalls):
    """Typed access to the SMS Partner API v1 (or the simulator).

    ``base_url`` ends in ``/v1``. ``api_key`` is a `Secret`; it is revealed only when a request is
    built. ``sleep`` is what the retry loop sleeps with (tests pass a recorder). ``observer`` is
    called once per attempt, for metrics. ``secrets`` is the book of keys to mask, shared by the
    clients of several accounts when given; the client adds its key and every sub-account key it
    reads (`learn_secrets`). The sub-account and contact calls are in `etl.api.account_calls`.
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
        secrets: SecretBook | None = None,
        budget: CallBudget | None = None,
        concurrency: int = 1,
    ) -> None:
        if not isinstance(api_key, Secret):
            raise ConfigError("api_key must be an etl.config.Secret")
        if not base_url.startswith(("http://", "https://")):
            raise ConfigError(f"base_url must start with http:// or https://, got {base_url!r}")
        self.base_url = base_url.rstrip("/")
        self._key = api_key
        self._secrets = SecretBook() if secrets is None else secrets
        self._secrets.add(api_key.reveal())
        self.timeout = (connect_timeout, read_timeout)
        #: Reads a job may keep in flight on this client (`etl.api.concurrent`); the pool holds that many connections.
        self.concurrency = concurrency
        self._transport = Transport(self.base_url, api_key, self.timeout, user_agent, self._scrub, pool_size=concurrency)
        self.policy = retry_policy or RetryPolicy(max_attempts=max_attempts, max_seconds=max_retry_seconds)
        self._sleep = sleep
        self._observer = observer
        self._budget: CallBudget = NoBudget() if budget is None else budget

    def __repr__(self) -> str:
        return f"SmsPartnerClient(base_url={self.base_url!r}, api_key={self._key!r})"

    @property
    def secret(self) -> Secret:
        """The API key, masked in ``repr``/``str``: the runner removes it from every text it stores."""
        return self._key

    def learn_secrets(self, secrets: Iterable[Secret]) -> None:
        """Mask these keys too from now on (sub-account keys read from ``subaccount/list``, issue 17)."""
        self._secrets.add(*(s.reveal() for s in secrets))

    def close(self) -> None:
        self._transport.close()

    def __enter__(self) -> SmsPartnerClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def use_budget(self, budget: CallBudget) -> None:
        """Ask ``budget`` before every attempt from now on, and tell it of every 429 (etl/api/budget.py)."""
        self._budget = budget

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
                    self._budget.take(endpoint)  # every attempt spends from the shared budget, retries too
                    try:
                        result = fn()
                    except TransientApiError as exc:
                        if exc.status == 429:
                            self._budget.refused(endpoint, exc.retry_after)
                        self._transport.discard_connections()
                        raise
            self._observe(endpoint, "ok", attempt)
            return result
        except ApiError as exc:
            final = to_unknown_outcome(self._masked(exc)) if write else exc
        self._observe(endpoint, final.__class__.__name__, attempt)
        raise self._masked(final) from None

    def _observe(self, endpoint: str, outcome: str, attempt: int) -> None:
        if self._observer is not None:
            try:
                self._observer(endpoint, outcome, attempt)
            except Exception:  # metrics must never break a sync
                log.exception("observer failed for %s", endpoint)

    def _scrub(self, payload: Any) -> Any:
        """``payload`` (freshly decoded, ours to change) with the key masked in every string, in place.

        Where API text enters: everything read from an answer (error texts, ``message``, statuses)
        comes from here, so nothing downstream can forget to mask it. An ``apiKey`` field is left as
        it is: it is the key ``subaccount/list`` hands over in clear (ACCOUNTS §2.2), which its parser
        turns into a `Secret` and masks in an unreadable item; masking it would lose a learnt key.
        """
        mask = self._secrets.mask
        if isinstance(payload, str):
            return mask(payload)
        if isinstance(payload, dict):
            for name, value in payload.items():
                if isinstance(value, str):
                    if name != "apiKey":
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
        mask = self._secrets.mask
        error.args = tuple(mask(a) if isinstance(a, str) else a for a in error.args)
        for name, value in list(vars(error).items()):
            if isinstance(value, str):
                setattr(error, name, mask(value))
        return error

    def _guard(self, decide: Callable[[Any, PayloadError], _T]) -> Callable[[Any, PayloadError], _T]:
        """``decide`` seeing a streamed item scrubbed and its error masked (streamed runs are not scrubbed)."""

        def masked(item: Any, error: PayloadError) -> _T:
            return decide(self._scrub(item), self._masked(error))

        return masked

    def _call(self, method: str, endpoint: str, params: Mapping[str, Any] | None = None) -> Mapping[str, Any]:
        result: Mapping[str, Any] = self._retrying_call(
            endpoint, lambda: self._transport.exchange(method, endpoint, params or {})
        )
        return result

    def stream_list(self, spec: ListSpec, shaper: Shaper[_R], *, budget: RetryBudget | None = None) -> Iterator[_R]:
        """The big list ``spec``, streamed: ``shape(run)`` for each run of raw items (~a megabyte of the body).

        ``shape = shaper(guard)`` is built once per download; ``guard`` masks what it hands to a
        callback (`etl.api.lists`). The head is read inside the retry loop, whose retries spend
        from ``budget`` (a caller restarting the download passes the same one each time). After
        the first run nothing is retried: `TransientApiError` or `PayloadError` mid-stream, and
        the caller restarts. Errors raised by ``shape`` leave masked, like the stream's own.
        """
        opened: stream.Opened = self._retrying_call(
            spec.endpoint, lambda: stream.open_stream(self._transport, spec), budget
        )
        shape = shaper(self._guard)
        runs = stream.iter_runs(opened, spec)
        try:
            while True:
                try:
                    run = next(runs, None)
                    if run is None:
                        return
                    shaped = shape(run)
                except ApiError as exc:
                    raise self._masked(exc) from None  # streamed items are not scrubbed (the hot path); their errors are
                yield shaped
        finally:
            runs.close()

    # ----------------------------------------------------------------------------------------------
    # Reads
    # ----------------------------------------------------------------------------------------------

    def me(self) -> Account:
        """``GET /me``: account, credits and balance."""
        return parse.parse_account(self._call("GET", "me"))

    def iter_stops(self) -> Iterator[Stop]:
        """``GET /stop-sms/list`` as typed `Stop` records (the rare reads: resolving an unknown outcome).

        `stream_list`'s raw runs, each item parsed as it is taken: a run of 12,000 live records
        would cost the garbage collector more than the parsing (docs/api-client.md, Streaming).
        """
        endpoint = STOP_LIST.endpoint
        for run in self.stream_list(STOP_LIST, raw):
            for item in run:
                try:
                    stop = parse.parse_stop_item(item, endpoint)
                except ApiError as exc:
                    raise self._masked(exc) from None  # as stream_list masks a shape's errors
                yield stop

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
