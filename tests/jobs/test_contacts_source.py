"""`etl.jobs.contacts.source`: the client's contact stream in page-sized batches, and what an unreadable contact still stands for."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from etl.api.parse.contacts import Contact
from etl.api.parse.unreadable import Unreadable
from etl.jobs.contacts.source import ClientSource, salvage


@pytest.mark.parametrize(
    ("item", "expected"),
    [
        ({"contactId": "7", "phone": "+33611111111", "stopSms": "maybe"}, ("7", "+33611111111", True)),
        ({"contactId": 7, "phone": "06 11 11 11 11", "stopSms": False, "createdAt": "never"}, ("7", "+33611111111", False)),
        ({"phone": "+33611111111", "stopSms": False}, ("phone:+33611111111", "+33611111111", False)),
        ({"contactId": "8", "phone": "n/a"}, ("8", None, True)),
        ({"contactId": "9"}, None),
        ({"phone": "n/a"}, None),
        (["not", "an", "object"], None),
    ],
    ids=["flag-unreadable", "date-unreadable", "id-missing", "number-unparseable", "no-number", "nothing", "not-an-object"],
)
def test_an_unreadable_contact_keeps_what_can_be_read_and_counts_as_stopped(item: Any, expected: Any) -> None:
    row = salvage(Unreadable("contact/list", item, "unreadable"))
    assert (None if row is None else (row.contact_id, row.phone_e164, row.stop_sms)) == expected


class _Client:
    """The client's contact stream of one group: ``pages`` lists of items; counts the pages asked for."""

    def __init__(self, pages: list[list[Any]]) -> None:
        self._pages = pages
        self.calls = 0

    def group_list(self) -> Any:
        raise NotImplementedError

    def iter_group_contacts(self, group_id: str) -> Iterator[Any]:
        for page in self._pages:
            self.calls += 1
            yield from page
            if len(page) < 20:
                return
        self.calls += 1  # the empty page after a full one


def _contact(i: int) -> Contact:
    return Contact(str(i), None, f"+336110{i:05d}", f"+336110{i:05d}", False, None, None, None)


def test_batches_follow_the_pages_so_each_batch_asked_for_is_one_call() -> None:
    client = _Client([[_contact(i) for i in range(20)], [_contact(i) for i in range(20, 40)]])
    asked: list[int] = []
    sizes = [(len(b.rows), client.calls) for b in ClientSource(client).pages("1", lambda: asked.append(client.calls))]
    assert sizes == [(20, 1), (20, 2)] and client.calls == 3 and asked == [0, 1, 2]


def test_an_unreadable_item_is_a_rejection_beside_its_salvaged_row() -> None:
    bad = Unreadable("contact/list", {"contactId": "7", "phone": "+33611111111", "stopSms": 2}, "stopSms: not a flag")
    (batch,) = list(ClientSource(_Client([[_contact(1), bad]])).pages("1", lambda: None))
    assert [(r.contact_id, r.stop_sms) for r in batch.rows] == [("1", False), ("7", True)]
    assert [(r.ref_kind, r.ref) for r in batch.rejections] == [("contact", "7")]
