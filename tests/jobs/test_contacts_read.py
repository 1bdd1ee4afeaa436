"""`etl.jobs.contacts.read`: the call budget on an injected clock, and what each kind of broken read leaves."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import datetime, timedelta, timezone

import pytest
from harness.clock import SleepingClock

from etl.errors import ApiRejected, AuthError, TransientApiError
from etl.jobs.contacts.read import (
    COMPLETE,
    FAILED,
    PARTIAL,
    Batch,
    ContactRow,
    GroupListing,
    GroupRow,
    Pacer,
    read_account,
)
from etl.quarantine import Rejection

T0 = datetime(2026, 12, 3, 12, 0, tzinfo=timezone.utc)


def FakeClock() -> SleepingClock:  # noqa: N802 - was a class; reads as one at the call sites
    return SleepingClock(T0)


def contact(cid: str, stop: bool = False) -> ContactRow:
    return ContactRow(cid, f"+3361234{int(cid):04d}", f"+3361234{int(cid):04d}", stop, None)


def group(gid: str) -> GroupRow:
    return GroupRow(gid, f"group {gid}", None, False, False)


class FakeSource:
    """Pages per group; an exception in a group's pages is raised when that page is asked for."""

    def __init__(self, pages: dict[str, list[Batch | Exception]]) -> None:
        self._pages = pages
        self.listed = GroupListing([group(g) for g in pages])

    def groups(self) -> GroupListing:
        return self.listed

    def pages(self, group_id: str, before_call: Callable[[], None]) -> Iterator[Batch]:
        for page in self._pages[group_id]:
            before_call()
            if isinstance(page, Exception):
                raise page
            yield page


def test_calls_are_spaced_by_the_budget_on_the_injected_clock() -> None:
    clock = FakeClock()
    pacer = Pacer(60, clock, clock.sleep)
    for _ in range(4):
        pacer.before_call()
    assert clock.slept == [1.0, 1.0, 1.0]
    assert clock.now == T0 + timedelta(seconds=3) and pacer.calls == 4


def test_a_clock_that_does_not_move_while_sleeping_still_spaces_by_one_interval() -> None:
    slept: list[float] = []
    pacer = Pacer(30, lambda: T0, slept.append)
    for _ in range(3):
        pacer.before_call()
    assert slept == [2.0, 2.0]


def test_time_already_spent_between_calls_is_not_slept_again() -> None:
    clock = FakeClock()
    pacer = Pacer(60, clock, clock.sleep)
    pacer.before_call()
    clock.now += timedelta(seconds=0.75)
    pacer.before_call()
    clock.now += timedelta(seconds=5)
    pacer.before_call()
    assert clock.slept == [pytest.approx(0.25)]


def test_no_budget_means_no_sleep() -> None:
    clock = FakeClock()
    pacer = Pacer(0, clock, clock.sleep)
    for _ in range(5):
        pacer.before_call()
    assert clock.slept == [] and pacer.calls == 5


def test_read_paces_every_page_and_the_group_list() -> None:
    clock = FakeClock()
    source = FakeSource({"1": [Batch([contact("1"), contact("2")]), Batch([contact("3")])], "2": [Batch([])]})
    reading = read_account(source, lambda _g: True, Pacer(120, clock, clock.sleep))
    # group/list, group 1: two pages, group 2: one page.
    assert reading.calls == 4 and clock.slept == [0.5] * 3
    assert [(r.group_id, r.status, len(r.rows)) for r in reading.reads] == [("1", COMPLETE, 3), ("2", COMPLETE, 0)]


def test_a_group_failing_mid_paging_is_failed_and_the_others_are_read() -> None:
    source = FakeSource({
        "1": [Batch([contact("1")]), TransientApiError("timed out", endpoint="contact/list")],
        "2": [ApiRejected(1, "groupId required", endpoint="contact/list")],
        "3": [Batch([contact("5", stop=True)])],
    })
    reading = read_account(source, lambda _g: True, Pacer(0, lambda: T0, lambda _s: None))
    assert [(r.group_id, r.status, len(r.rows)) for r in reading.reads] == [("1", FAILED, 0), ("2", FAILED, 0), ("3", COMPLETE, 1)]
    assert [r.group_id for r in reading.kept()] == ["1", "2"]


def test_a_refused_key_stops_the_whole_read() -> None:
    source = FakeSource({"1": [AuthError(10, "invalid key", endpoint="contact/list")]})
    with pytest.raises(AuthError):
        read_account(source, lambda _g: True, Pacer(0, lambda: T0, lambda _s: None))


def test_an_unreadable_item_makes_its_group_partial_and_keeps_the_rows_read() -> None:
    bad = Rejection("contact/list", {"contactId": "9"}, "stopSms: not a bool", "contact", "9")
    source = FakeSource({"1": [Batch([contact("1")], [bad]), Batch([contact("2")])]})
    reading = read_account(source, lambda _g: True, Pacer(0, lambda: T0, lambda _s: None))
    (read,) = reading.reads
    assert (read.status, [r.contact_id for r in read.rows]) == (PARTIAL, ["1", "2"])
    assert reading.rejections == [bad]


def test_only_followed_groups_are_read_and_a_stop_leaves_the_rest_unread() -> None:
    source = FakeSource({"1": [Batch([contact("1")])], "2": [Batch([contact("2")])], "3": [Batch([contact("3")])]})
    asked = iter([False, True])
    reading = read_account(source, lambda g: g != "2", Pacer(0, lambda: T0, lambda _s: None), should_stop=lambda: next(asked))
    assert [(r.group_id, r.status) for r in reading.reads] == [("1", COMPLETE), ("3", FAILED)]


def test_a_contact_repeated_across_pages_is_kept_once() -> None:
    source = FakeSource({"1": [Batch([contact("1"), contact("2")]), Batch([contact("2"), contact("3")])]})
    reading = read_account(source, lambda _g: True, Pacer(0, lambda: T0, lambda _s: None))
    assert [r.contact_id for r in reading.reads[0].rows] == ["1", "2", "3"]
