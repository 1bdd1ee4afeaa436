"""Pure polling decisions, by table (etl/polling.py)."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from etl import polling

T0 = datetime(2026, 1, 5, 8, 0, tzinfo=timezone.utc)
LADDER = (60.0, 300.0, 900.0, 3600.0, 21600.0)
M, H = timedelta(minutes=1), timedelta(hours=1)


@pytest.mark.parametrize(
    ("attempt", "now", "until", "expected"),
    [
        (0, T0, None, T0 + M),
        (0, T0 + 3 * H, None, T0 + M),  # imported late: due at once
        (1, T0 + M, None, T0 + 6 * M),
        (2, T0 + 6 * M, None, T0 + 21 * M),
        (3, T0 + 21 * M, None, T0 + 81 * M),
        (4, T0 + 81 * M, None, T0 + 81 * M + 6 * H),
        (9, T0 + 30 * H, None, T0 + 36 * H),  # the last step repeats
        (9, T0 + 45 * H, T0 + 48 * H, T0 + 48 * H),  # the last poll is at the window's end
        (9, T0 + 49 * H, T0 + 48 * H, T0 + 49 * H),  # past the window: now (then expired)
    ],
    ids=["first", "first-late", "second", "third", "fourth", "fifth", "repeats", "capped", "past-window"],
)
def test_next_poll_at_follows_the_ladder(attempt, now, until, expected):
    assert polling.next_poll_at(T0, attempt, now, LADDER, until) == expected


def test_next_poll_at_of_a_scheduled_send_counts_from_its_send_time():
    scheduled = T0 + 10 * H
    assert polling.next_poll_at(scheduled, 0, T0, LADDER) == scheduled + M
    assert polling.next_poll_at(scheduled, 1, T0, LADDER) == scheduled + 5 * M


def test_next_poll_at_refuses_naive_datetimes():
    with pytest.raises(ValueError):
        polling.next_poll_at(T0.replace(tzinfo=None), 0, T0, LADDER)


@pytest.mark.parametrize(
    ("next_at", "now", "due"),
    [(None, T0, False), (T0, T0, True), (T0 + M, T0, False), (T0 - M, T0, True)],
    ids=["final-or-expired", "exactly-now", "later", "overdue"],
)
def test_is_due(next_at, now, due):
    assert polling.is_due(next_at, now) is due


@pytest.mark.parametrize(
    ("sent", "scheduled", "expected"),
    [(T0, None, T0), (T0, T0 + H, T0 + H), (T0, T0 - H, T0)],
    ids=["immediate", "scheduled", "scheduled-in-the-past"],
)
def test_window_start_is_the_actual_send_time(sent, scheduled, expected):
    assert polling.window_start(sent, scheduled) == expected
    assert polling.poll_until(expected, 48 * 3600) == expected + 48 * H


@pytest.mark.parametrize(
    ("status", "status_at", "expected"),
    [
        ("Waiting", T0 + 12 * H, T0 + 60 * H),  # night-held: the window moves
        ("Waiting", T0 - H, T0 + 48 * H),  # earlier date: unchanged
        ("Delivered", T0 + 12 * H, T0 + 48 * H),  # final: unchanged
        (None, T0 + 12 * H, T0 + 48 * H),
    ],
    ids=["held-waiting", "earlier", "final", "no-status"],
)
def test_extended_poll_until(status, status_at, expected):
    assert polling.extended_poll_until(T0 + 48 * H, status, status_at, 48 * 3600) == expected


@pytest.mark.parametrize(
    ("final", "now", "expire"),
    [(False, T0 + 48 * H, True), (False, T0 + 47 * H, False), (True, T0 + 50 * H, False)],
    ids=["window-over", "within", "final-never-expires"],
)
def test_should_expire(final, now, expire):
    assert polling.should_expire(final, T0 + 48 * H, now) is expire


@pytest.mark.parametrize(
    ("final_at", "now", "found", "expected"),
    [
        (T0, T0 + H, True, None),  # found: never again
        (T0, T0 + H, False, T0 + 7 * H),  # missing: after cost_retry
        (T0, T0 + 7 * 24 * H - H, False, None),  # the retry would fall past cost_window
    ],
    ids=["found", "missing-retry", "missing-give-up"],
)
def test_cost_next_at(final_at, now, found, expected):
    assert polling.cost_next_at(final_at, now, found, 6 * 3600, 7 * 86400) == expected


def test_first_cost_read_waits_after_the_final_status():
    assert polling.first_cost_at(T0) == T0 + polling.COST_FIRST_DELAY


@pytest.mark.parametrize(
    ("due", "threshold", "bulk", "multi_sizes"),
    [
        ({"a": ["p"] * 200}, 50, ("a",), ()),  # one send alone: bulk costs no more
        ({f"m{i}": ["p"] * 200 for i in range(500)}, 50, (), (500,) * 200),  # 100k over 500 sends: 200 multi
        ({"a": ["p"] * 30}, 50, (), (30,)),  # under the threshold
        ({"a": ["p"] * 500, "b": ["q"] * 10}, 50, ("a",), (10,)),  # a full send: tie, bulk wins
        ({"a": ["p"] * 300, "b": ["q"] * 300}, 50, ("a", "b"), ()),  # 2 calls either way: bulk
        ({"a": ["p"] * 300, "b": ["q"] * 300, "c": ["r"] * 300}, 50, (), (500, 400)),  # bulk would add a call
        ({}, 50, (), ()),
    ],
    ids=["single-send", "many-sends", "threshold", "full-send", "two-sends", "three-sends", "nothing"],
)
def test_plan_fetch_uses_fewest_calls(due, threshold, bulk, multi_sizes):
    plan = polling.plan_fetch(due, threshold)
    assert plan.bulk == bulk
    assert tuple(len(b) for b in plan.multi) == multi_sizes
    assert sum(len(b) for b in plan.multi) + sum(len(due[m]) for m in plan.bulk) == sum(len(v) for v in due.values())


@pytest.mark.parametrize(
    ("status", "final"),
    [("Delivered", True), ("Not delivered", True), ("ko", True), ("Waiting", False), ("Numéro introuvable", False)],
    ids=["delivered", "not-delivered", "ko", "waiting", "error-text"],
)
def test_final_statuses(status, final):
    assert polling.is_final(status) is final


@pytest.mark.parametrize(
    ("failures", "expected"),
    [(0, T0 + 15 * M), (1, T0 + 15 * M), (2, T0 + 30 * M), (3, T0 + H), (5, T0 + 4 * H), (6, T0 + 6 * H),
     (10_000, T0 + 6 * H)],
    ids=["none", "first", "second", "third", "fifth", "capped", "huge"],
)
def test_refused_tag_waits_15_min_doubling_up_to_6_h(failures: int, expected: datetime) -> None:
    assert polling.tag_retry_at(failures, T0) == expected


@pytest.mark.parametrize(
    ("last_read", "next_read", "recipients_due", "due"),
    [
        (None, None, False, True),  # never read
        (T0 - 10 * M, None, False, False),  # read 10 min ago
        (T0 - 15 * M, None, False, True),  # its beat
        (T0 - 10 * M, None, True, True),  # its recipients are due: read sooner
        (T0 - H, T0 + 5 * M, True, False),  # refused: the backoff wins over due recipients
        (T0 - H, T0, False, True),  # backoff over
    ],
    ids=["never-read", "read-recently", "beat", "recipients-due", "backing-off", "backoff-over"],
)
def test_tag_read_due(last_read: datetime | None, next_read: datetime | None, recipients_due: bool, due: bool) -> None:
    assert polling.tag_read_due(last_read, next_read, T0, 15 * M, recipients_due) is due
