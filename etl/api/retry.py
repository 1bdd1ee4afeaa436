"""The retry policy, as data (dlt style): what is transient, how long to wait, reads versus writes.

No I/O and no `requests` here: the client turns transport failures into our errors first
(`ConnectFailed` for "never reached the server", `TransientApiError` for the rest), and this module
decides on those.

* **Reads** retry every `TransientApiError`: HTTP 429/500/502/503/504, timeouts, dropped
  connections, and 2xx bodies that are not JSON at all (an HTML error page from a proxy, a
  truncated body). A `PayloadError` (valid JSON of the wrong shape) is *not* retried: the same
  answer would come back and retrying only hides the contract break.
* **Writes** (``stop-sms/add``, ``stop-sms/delete``, ``message-cancel``) retry only when the request
  surely never reached the server: `ConnectFailed` (connection refused, connect timeout). One
  deliberate extension: HTTP **429** (`WRITE_RETRYABLE_STATUSES`), because a rate limiter refuses the
  request *before* processing it (RFC 6585 §4). Any other transient failure of a write (read
  timeout, dropped connection, 5xx, unreadable 200) becomes `UnknownOutcome`: the server may have
  acted, only a re-read can tell (see ``SmsPartnerClient.find_stop_by_phone``).
* **Wait**: ``Retry-After`` (seconds or HTTP-date) clamped to [`wait_min`, `wait_max`], else
  exponential back-off ``wait_initial * 2**(n-1)`` capped at `wait_max`, plus jitter.
* **Bounds**: at most `max_attempts` calls and `max_seconds` of elapsed plus planned waiting
  (checked *before* sleeping, so we never sleep past the budget).
* **Restarts**: a streamed download that breaks mid-stream cannot be resumed by the client (the
  caller has consumed part of it), so the caller restarts it (`build_restarting`). The restarts and
  the retries of each restart's start spend one `RetryBudget`: at most `max_attempts` calls to the
  endpoint and `max_seconds` of waiting for the whole download, never restarts × attempts.
* **Logging**: ``before_sleep`` logs WARNING with the endpoint path and attempt number only; our
  exception messages never contain a URL query string or the key.
"""

from __future__ import annotations

import logging
import random
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timezone
from email.utils import parsedate_to_datetime

import tenacity
from tenacity import RetryCallState

from etl.errors import ConnectFailed, TransientApiError, UnknownOutcome

__all__ = [
    "RETRYABLE_STATUSES",
    "RETRYABLE_EXCEPTIONS",
    "WRITE_ENDPOINTS",
    "WRITE_RETRYABLE_STATUSES",
    "RetryBudget",
    "RetryPolicy",
    "WaitRetryAfter",
    "build_restarting",
    "build_retrying",
    "is_retryable_read",
    "is_retryable_write",
    "parse_retry_after",
    "to_unknown_outcome",
]

log = logging.getLogger(__name__)

RETRYABLE_STATUSES: frozenset[int] = frozenset({429, 500, 502, 503, 504})
"""HTTP statuses that mean "try again later" for a read."""

WRITE_RETRYABLE_STATUSES: frozenset[int] = frozenset({429})
"""HTTP statuses after which even a write is retried: the request was refused before processing."""

RETRYABLE_EXCEPTIONS: tuple[type[BaseException], ...] = (TransientApiError,)
"""Our errors worth retrying for a read (the client maps `requests` errors onto these)."""

WRITE_ENDPOINTS: frozenset[str] = frozenset(
    {
        "stop-sms/add",
        "stop-sms/delete",
        "message-cancel",
        "subaccount/create",
        "subaccount/remove",
        "subaccount/credit/add",
        "subaccount/credit/remove",
    }
)
"""Calls that change provider state and must never run twice by accident."""


def is_retryable_read(exc: BaseException) -> bool:
    """A read may be retried after any transient failure."""
    return isinstance(exc, RETRYABLE_EXCEPTIONS)


def is_retryable_write(exc: BaseException) -> bool:
    """A write may be retried only if it surely never reached the server (or was rate-limited)."""
    if isinstance(exc, ConnectFailed):
        return True
    return isinstance(exc, TransientApiError) and exc.status in WRITE_RETRYABLE_STATUSES


def to_unknown_outcome(exc: BaseException) -> BaseException:
    """What a write's final failure means to the caller: a transient fault that may have reached
    the server becomes `UnknownOutcome`; everything else is returned unchanged."""
    if isinstance(exc, TransientApiError) and not is_retryable_write(exc):
        return UnknownOutcome(
            f"outcome unknown after {exc.__class__.__name__} ({_short(exc)}); re-read before retrying",
            endpoint=exc.endpoint,
        )
    return exc


def parse_retry_after(value: str | None, now: datetime | None = None) -> float | None:
    """Seconds to wait from a ``Retry-After`` header: delta-seconds or an HTTP-date (RFC 9110 §10.2.3).

    ``now`` is the reference for an HTTP-date; the client passes the response's ``Date`` header
    (the server's clock, which the date was computed against) and falls back to the local clock.
    Returns ``None`` when the header is absent or unreadable, never a negative number.
    """
    if value is None:
        return None
    text = value.strip()
    if not text:
        return None
    try:
        return max(0.0, float(text))
    except ValueError:
        pass
    try:
        when = parsedate_to_datetime(text)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=timezone.utc)
    reference = now if now is not None else datetime.now(timezone.utc)
    return max(0.0, (when - reference).total_seconds())


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """Bounds and back-off for one client. Defaults suit the real API; tests shrink them."""

    max_attempts: int = 5
    max_seconds: float = 120.0
    wait_initial: float = 0.5
    wait_min: float = 0.0
    wait_max: float = 60.0
    jitter: float = 0.5

    def __post_init__(self) -> None:
        if self.max_attempts < 1:
            raise ValueError("max_attempts must be >= 1")
        if self.max_seconds < 0 or self.wait_min < 0 or self.wait_max < self.wait_min or self.jitter < 0:
            raise ValueError("retry bounds must be non-negative and wait_min <= wait_max")


@dataclass
class WaitRetryAfter:
    """tenacity wait: the server's ``Retry-After`` within [min, max], else exponential + jitter."""

    policy: RetryPolicy
    rand: Callable[[], float] = field(default=random.random)

    def __call__(self, retry_state: RetryCallState) -> float:
        exc = retry_state.outcome.exception() if retry_state.outcome else None
        retry_after = getattr(exc, "retry_after", None)
        if retry_after is not None:
            return float(min(max(retry_after, self.policy.wait_min), self.policy.wait_max))
        backoff = self.policy.wait_initial * 2 ** (retry_state.attempt_number - 1)
        backoff = min(backoff, self.policy.wait_max)
        return float(max(self.policy.wait_min, backoff) + self.policy.jitter * self.rand())


def _short(exc: BaseException) -> str:
    text = str(exc)
    return text if len(text) <= 200 else text[:197] + "..."


@dataclass
class RetryBudget:
    """One allowance of calls and waiting, shared by everything one piece of work retries.

    A call's retries get a fresh budget each (`build_retrying` without one); a download restarted
    after a fault mid-stream passes the same budget to each restart's call and to
    `build_restarting`, so the restarts spend from the calls' budget instead of multiplying it.
    ``sleep`` is what every wait of the budget sleeps with (tests pass a recorder).
    """

    policy: RetryPolicy
    sleep: Callable[[float], None] = time.sleep
    #: Calls started (attempts) and seconds waited so far, across every retry and restart.
    calls: int = 0
    waited: float = 0.0

    @property
    def exhausted(self) -> bool:
        return self.calls >= self.policy.max_attempts

    def wait(self, seconds: float) -> None:
        self.waited += seconds
        self.sleep(seconds)

    def count_call(self, retry_state: RetryCallState) -> None:
        self.calls += 1

    def over_time(self, elapsed: float, upcoming: float | None) -> bool:
        """``elapsed`` (or all the waiting so far, if more) plus the wait about to happen exceeds the bound."""
        return max(elapsed, self.waited) + (upcoming or 0.0) > self.policy.max_seconds


def _stop(budget: RetryBudget) -> Callable[[RetryCallState], bool]:
    def stop(retry_state: RetryCallState) -> bool:
        if budget.exhausted:
            return True
        # With a real sleep, seconds_since_start includes the sleeps; with an injected one it does
        # not, so count whichever is larger (the budget's waits), plus the wait we are about to do.
        return budget.over_time(retry_state.seconds_since_start or 0.0, retry_state.upcoming_sleep)

    return stop


def build_retrying(
    policy: RetryPolicy,
    *,
    endpoint: str,
    write: bool,
    sleep: Callable[[float], None] = time.sleep,
    on_retry: Callable[[str, int, BaseException], None] | None = None,
    rand: Callable[[], float] = random.random,
    budget: RetryBudget | None = None,
) -> tenacity.Retrying:
    """The one factory: a `tenacity.Retrying` for one call to ``endpoint``.

    ``on_retry(endpoint, attempt, exc)`` is called before each sleep (metrics); the final error is
    re-raised as is (``reraise=True``); a write's is then passed through `to_unknown_outcome` by
    the caller. ``budget``: the calls and waiting this call may spend, shared with the rest of its
    piece of work (a restarted download); by default a fresh one from ``policy`` and ``sleep``.
    """
    if budget is None:
        budget = RetryBudget(policy, sleep)

    def before_sleep(retry_state: RetryCallState) -> None:
        exc = retry_state.outcome.exception() if retry_state.outcome else None
        log.warning(
            "retrying %s after attempt %d/%d in %.2fs: %s",
            endpoint,
            budget.calls,
            policy.max_attempts,
            retry_state.upcoming_sleep,
            _short(exc) if exc is not None else "?",
        )
        if on_retry is not None and exc is not None:
            on_retry(endpoint, retry_state.attempt_number, exc)

    predicate = is_retryable_write if write else is_retryable_read
    return tenacity.Retrying(
        retry=tenacity.retry_if_exception(predicate),
        wait=WaitRetryAfter(policy, rand),
        stop=_stop(budget),
        sleep=budget.wait,
        before=budget.count_call,
        before_sleep=before_sleep,
        reraise=True,
    )


def build_restarting(
    budget: RetryBudget, *, endpoint: str, rand: Callable[[], float] = random.random
) -> tenacity.Retrying:
    """A `tenacity.Retrying` for whole restarts of a streamed download of ``endpoint``.

    Each restart's own call passes the same ``budget`` to the client, so once the calls (or the
    waiting) of the whole download reach the policy's bounds, the last error is re-raised. A
    restart waits as a retry does (back-off, jitter), with the budget's ``sleep``. Only transient
    faults restart (a `PayloadError` or a refusal is the same answer again).
    """
    policy = budget.policy

    def stop(retry_state: RetryCallState) -> bool:
        if budget.exhausted or retry_state.attempt_number >= policy.max_attempts:
            return True
        return budget.over_time(0.0, retry_state.upcoming_sleep)

    def before_sleep(retry_state: RetryCallState) -> None:
        exc = retry_state.outcome.exception() if retry_state.outcome else None
        log.warning(
            "restarting the download of %s (%d/%d calls spent) in %.2fs: %s",
            endpoint,
            budget.calls,
            policy.max_attempts,
            retry_state.upcoming_sleep,
            _short(exc) if exc is not None else "?",
        )

    return tenacity.Retrying(
        retry=tenacity.retry_if_exception(is_retryable_read),
        wait=WaitRetryAfter(policy, rand),
        stop=stop,
        sleep=budget.wait,
        before_sleep=before_sleep,
        reraise=True,
    )
