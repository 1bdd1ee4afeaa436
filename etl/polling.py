"""Pure decisions of status polling: when to poll, until when, with which endpoint, when to read cost.

No I/O and no clock: ``now`` is always passed in (STYLE habit 5). The statuses job
(`etl.jobs.statuses`) turns these rules into set-based SQL; ``tests/test_polling.py`` pins them
with tables.

The rules, and why:

* **Ladder.** The first poll is ``ladder[0]`` after the *actual* send time, then each later poll
  waits the next step, the last step repeating (the defaults: docs/statuses.md, "The ladder and
  the window"). Reports come seconds after sending on average (REFERENCE §4), so early steps are short;
  a few lag up to 48 h, so later steps are long.
* **Window.** Polling stops ``window`` (48 h) after the actual send time: the platform's default
  validity is 48 h, after which a message expires (§4). The last poll is moved to the window's
  end exactly, so nothing between the last ladder step and the deadline is missed.
* **Actual send time.** A scheduled send starts at its scheduled time; a commercial SMS sent at
  night is held until 08:00 of the next working day (quirk 24). The API never says when a held
  message left, but a ``Waiting`` item's ``date`` is when it was queued for sending, so a later
  non-final date than the one we assumed moves the window (`extended_poll_until`).
* **Fewest calls.** ``/bulk-status`` returns every recipient of one message id in one call;
  ``/multi-status`` takes 500 (message id, number) pairs from any sends. A send can have at most
  500 recipients (REFERENCE §3.2), so a bulk call never beats full multi-status batches: a send is
  fetched with bulk-status only when it has ``bulk_threshold`` due recipients *and* doing so adds
  no call (`plan_fetch`).
* **Cost** is only in ``/message-status`` (§3.4): read once a recipient is final (after
  `COST_FIRST_DELAY`, since cost often lags the report); while missing, again every
  ``cost_retry``; never after ``cost_window`` past the final status; never again once known. A cost
  read whose answer is quarantined (``currency: "EURO"``) counts as a read that found no cost.
* **Unreadable answers.** A pair whose item is quarantined, or missing from the answer, was still
  polled: its ladder moves on as for a non-final answer, so it expires at its window's end.
* **Tags.** Read on a fixed interval; a refused read waits `tag_retry_at` (`TAG_RETRY_FIRST`
  doubling up to `TAG_RETRY_MAX`; docs/statuses.md).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from etl.api.parse import is_final

__all__ = [
    "COST_FIRST_DELAY",
    "MULTI_STATUS_LIMIT",
    "FetchPlan",
    "cost_next_at",
    "extended_poll_until",
    "first_cost_at",
    "is_due",
    "is_final",
    "is_pseudo_message_id",
    "ladder_step",
    "next_poll_at",
    "plan_fetch",
    "poll_until",
    "pseudo_message_id",
    "should_expire",
    "tag_read_due",
    "tag_retry_at",
    "window_start",
]

MULTI_STATUS_LIMIT = 500
"""Pairs per ``/multi-status`` call (DOC-st2, code 50)."""

COST_FIRST_DELAY = timedelta(hours=3)
#: How long after its window a pair whose status calls were refused (the whole call: nothing came back
#: about it) is still asked on its ladder before it expires. An unreadable *item* expires at the
#: window's end; a refusal (an outage past the retries, a validation error) says nothing about the
#: pair, and the account still has its status: an outage of up to a week loses none.
REFUSED_GRACE = timedelta(days=7)
"""Wait after a final status before the first cost read. Cost lags the report for some recipients
(the simulator: 15 %, by 10 min to 6 h), and a read that finds no cost costs a second call 6 h
later: reading 3 h after the report finds most late costs at the first read (bench: cost calls
1.13 → ~1.07 per recipient), and the spend views are daily anyway."""

PSEUDO_PREFIX = "tag:"


def _aware(value: datetime, name: str) -> None:
    if value.tzinfo is None:
        raise ValueError(f"{name} must be timezone-aware, got {value!r}")


def window_start(sent_at: datetime, scheduled_at: datetime | None = None) -> datetime:
    """When the send actually started as far as we know: the scheduled time if later than submission."""
    _aware(sent_at, "sent_at")
    if scheduled_at is None:
        return sent_at
    _aware(scheduled_at, "scheduled_at")
    return max(sent_at, scheduled_at)


def poll_until(start: datetime, window: float) -> datetime:
    """The end of the polling window: ``window`` seconds after the actual send time."""
    return start + timedelta(seconds=window)


def extended_poll_until(current: datetime, status: str | None, status_at: datetime | None, window: float) -> datetime:
    """Move the window when a not-final item is dated after the start we assumed (night hold, quirk 24)."""
    if status is None or status_at is None or is_final(status):
        return current
    return max(current, status_at + timedelta(seconds=window))


def ladder_step(polls_done: int, ladder: Sequence[float]) -> float:
    """Seconds to wait after ``polls_done`` polls (0 → the wait from the send to the first poll)."""
    if not ladder:
        raise ValueError("the ladder needs at least one step")
    return float(ladder[min(max(polls_done, 0), len(ladder) - 1)])


def next_poll_at(
    sent_at: datetime, attempt: int, now: datetime, ladder: Sequence[float], until: datetime | None = None
) -> datetime:
    """When to poll next, after ``attempt`` polls (0: none yet).

    Before the first poll the ladder counts from the actual send time (a scheduled send is not
    polled before it leaves); after a poll it counts from ``now``. Never later than ``until``
    (the window's end), so the last poll happens at the deadline.
    """
    _aware(sent_at, "sent_at")
    _aware(now, "now")
    base = sent_at if attempt <= 0 else max(now, sent_at)
    at = base + timedelta(seconds=ladder_step(attempt, ladder))
    if until is not None and at > until:
        return max(until, now) if attempt > 0 else until
    return at


def is_due(next_at: datetime | None, now: datetime) -> bool:
    """A recipient is due when it has a next poll time (not final, not expired) that has come."""
    return next_at is not None and next_at <= now


def should_expire(final: bool, until: datetime, now: datetime) -> bool:
    """After its last poll, a recipient still not final once the window has passed is expired."""
    return not final and now >= until


def first_cost_at(final_seen_at: datetime) -> datetime:
    """When to read cost for a recipient that just became final."""
    return final_seen_at + COST_FIRST_DELAY


def cost_next_at(
    final_at: datetime | None, now: datetime, cost_found: bool, cost_retry: float, cost_window: float
) -> datetime | None:
    """After a cost read: ``None`` (never again) once found or past ``cost_window``, else ``now + cost_retry``."""
    if cost_found:
        return None
    retry = now + timedelta(seconds=cost_retry)
    if final_at is not None and retry > final_at + timedelta(seconds=cost_window):
        return None
    return retry


def pseudo_message_id(tag: str) -> str:
    """The key of recipients found by tag whose items carry no message id (DOC-st4, quirk 23)."""
    return f"{PSEUDO_PREFIX}{tag}"


def is_pseudo_message_id(message_id: str) -> bool:
    return message_id.startswith(PSEUDO_PREFIX)


@dataclass(frozen=True)
class FetchPlan:
    """Which sends to read whole (bulk-status) and which pairs to batch (multi-status)."""

    bulk: tuple[str, ...]
    multi: tuple[tuple[tuple[str, str], ...], ...]

    @property
    def calls(self) -> int:
        return len(self.bulk) + len(self.multi)


def plan_fetch(
    due: Mapping[str, Sequence[str]] | Iterable[tuple[str, Sequence[str]]],
    bulk_threshold: int,
    limit: int = MULTI_STATUS_LIMIT,
) -> FetchPlan:
    """Fewest calls for the due pairs, grouped ``{message_id: [phone, ...]}``.

    Greedy over sends by due count, largest first: a send goes to bulk-status when it has at least
    ``bulk_threshold`` due recipients and taking it out of the multi-status batches costs no extra
    call (on a tie bulk-status wins: its answer also refreshes the send's recipients not yet due).
    A send has at most 500 recipients, so bulk-status never *saves* a call over full multi-status
    batches: with 500 sends of 200 due recipients, 240 multi-status calls beat 500 bulk ones.
    """
    groups = sorted(
        ((mid, list(ph)) for mid, ph in (due.items() if isinstance(due, Mapping) else due) if ph),
        key=lambda g: (-len(g[1]), g[0]),
    )
    remaining = sum(len(ph) for _, ph in groups)
    bulk: list[str] = []
    rest: list[tuple[str, list[str]]] = []
    for mid, phones in groups:
        n = len(phones)
        if n >= max(bulk_threshold, 1) and len(bulk) + 1 + math.ceil((remaining - n) / limit) <= len(bulk) + math.ceil(
            remaining / limit
        ):
            bulk.append(mid)
            remaining -= n
        else:
            rest.append((mid, phones))
    pairs = [(mid, phone) for mid, phones in rest for phone in phones]
    batches = tuple(tuple(pairs[i : i + limit]) for i in range(0, len(pairs), limit))
    return FetchPlan(tuple(bulk), batches)


TAG_RETRY_FIRST = timedelta(minutes=15)
"""Wait after a tag read is refused; doubled at each refusal in a row, up to `TAG_RETRY_MAX`."""
TAG_RETRY_MAX = timedelta(hours=6)


def tag_retry_at(failures: int, now: datetime) -> datetime:
    """When to read a tag again after ``failures`` refused reads in a row (1 → `TAG_RETRY_FIRST`)."""
    _aware(now, "now")
    steps = min(max(failures, 1) - 1, 16)  # 2**16 first waits are far past the cap: no overflow
    return now + min(TAG_RETRY_FIRST * (1 << steps), TAG_RETRY_MAX)


def tag_read_due(
    last_read_at: datetime | None, next_read_at: datetime | None, now: datetime, every: timedelta, recipients_due: bool
) -> bool:
    """Is a followed tag to be read now?

    A refused tag waits for ``next_read_at`` whatever is due (its backoff, so one bad tag costs one call
    per backoff step, not one per cycle); otherwise every ``every``, or sooner when recipients found by
    the tag are due (their polls are the tag reads).
    """
    if next_read_at is not None:
        return next_read_at <= now
    return last_read_at is None or last_read_at + every <= now or recipients_due
