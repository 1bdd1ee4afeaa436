"""The API client's group and contact records as the job's rows (`etl.jobs.contacts.read.ContactSource`).

An item the parser could not read is quarantined (`etl.quarantine`) and read fail-closed: when its
contact id and number can still be read it stays in its group, flagged unless its ``stopSms`` is
plainly false (an unreadable one counts as set); a number read without its id is kept under ``phone:<E.164>``, flagged, until a
complete read of its group no longer shows it. Either way the group's read is partial.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping
from itertools import islice
from typing import Any, Protocol

from etl import phones
from etl.api.parse.contacts import CONTACT_PAGE_SIZE, Contact, ContactGroups
from etl.api.parse.unreadable import Unreadable
from etl.jobs.contacts.read import PHONE_RAW_WIDTH, Batch, ContactRow, GroupListing, GroupRow
from etl.quarantine import Rejection

GROUPS_ENDPOINT = "group/list"
CONTACTS_ENDPOINT = "contact/list"
ENDPOINTS = (GROUPS_ENDPOINT, CONTACTS_ENDPOINT)


class ContactsClient(Protocol):
    """The two calls of `etl.api.client.SmsPartnerClient` this job makes."""

    def group_list(self) -> ContactGroups: ...

    def iter_group_contacts(self, group_id: str) -> Iterator[Contact | Unreadable]: ...


class ClientSource:
    def __init__(self, client: ContactsClient) -> None:
        self._client = client

    def groups(self) -> GroupListing:
        listed = self._client.group_list()
        rows = [
            GroupRow(g.group_id, g.name, g.created_at, bool(g.special_file), bool(g.location_file)) for g in listed.items
        ]
        rejections = [Rejection(GROUPS_ENDPOINT, bad.item, bad.reason, "contact_group", _key(bad.item, "id", "groupId"))
                      for bad in listed.unreadable]
        return GroupListing(rows, rejections)

    def pages(self, group_id: str, before_call: Callable[[], None]) -> Iterator[Batch]:
        """The group's contacts a page (20) at a time: the client streams them item by item and calls for the
        next page when a page's items are used up (and not after a short page), so each batch is one call."""
        items = self._client.iter_group_contacts(group_id)
        while True:
            before_call()
            page = list(islice(items, CONTACT_PAGE_SIZE))
            if page:
                yield _batch(page)
            if len(page) < CONTACT_PAGE_SIZE:
                return


def _batch(items: Iterable[Contact | Unreadable]) -> Batch:
    rows, rejections = [], []
    for item in items:
        if not isinstance(item, Unreadable):
            rows.append(_row(item))
            continue
        salvaged = salvage(item)
        if salvaged is not None:
            rows.append(salvaged)
        kept = "; kept, flagged unless plainly false" if salvaged is not None else ""
        ref = salvaged.contact_id if salvaged is not None else _key(item.item, "contactId", "id")
        rejections.append(Rejection(CONTACTS_ENDPOINT, item.item, f"{item.reason}{kept}", "contact", ref))
    return Batch(rows, rejections)


def _row(contact: Contact) -> ContactRow:
    return ContactRow(contact.contact_id, contact.phone_raw[:PHONE_RAW_WIDTH], contact.phone_e164, contact.stop_sms,
                      contact.created_at)


def _key(item: Any, *names: str) -> str | None:
    """An id as text, when the item is an object holding one as an int or a non-empty string."""
    if not isinstance(item, Mapping):
        return None
    for name in names:
        value = item.get(name)
        if (isinstance(value, int) and not isinstance(value, bool)) or (isinstance(value, str) and value.strip()):
            return str(value).strip()[:64]
    return None


def salvage(bad: Unreadable) -> ContactRow | None:
    """What still stands for an unreadable contact: its id (or ``phone:<E.164>``) and number, and its
    flag when that is a plain bool, else set."""
    item = bad.item
    raw = item.get("phone", item.get("phoneNumber")) if isinstance(item, Mapping) else None
    if not isinstance(raw, str) or not raw.strip():
        return None
    e164 = phones.canonicalize(raw)
    contact_id = _key(item, "contactId", "id") or (f"phone:{e164}" if e164 else None)
    if contact_id is None:
        return None
    flag = item.get("stopSms", item.get("stopSMS"))
    return ContactRow(contact_id, raw[:PHONE_RAW_WIDTH], e164, flag if isinstance(flag, bool) else True, None)
