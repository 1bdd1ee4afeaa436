"""`etl.jobs.contacts.source.salvage`: what an unreadable contact still stands for (fail-closed)."""

from __future__ import annotations

from typing import Any

import pytest

from etl.api.parse.unreadable import Unreadable
from etl.jobs.contacts.source import salvage


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
