"""One account's contact groups and contacts (ACCOUNTS.md §3): ground truth behind group/* and contact/*.

Why apart from core.py: the book is plain state with its own rules (code 15 when a number is already in a
group, a group delete takes its contacts), and every account (parent or sub-account) holds one. The answers
chosen where the docs are silent are listed in docs/accounts.md.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime

from . import phones
from .codes import ApiFailure

#: Optional contact fields, all strings, "" when empty (§3.10).
CONTACT_FIELDS = ("firstname", "lastname", "url", "date", "custom1", "custom2", "custom3", "custom4", "shortUrl")


@dataclass
class Group:
    id: int
    name: str
    created_at: datetime
    special_file: bool = False
    location_file: bool = False


@dataclass
class Contact:
    id: int
    group_id: int
    phone: str  # E.164
    created_at: datetime
    stop_sms: bool = False
    fields: dict[str, str] = field(default_factory=dict)


class ContactBook:
    """Groups and contacts of one account. Ids come from ``ids`` (shared by every account, like the platform's)."""

    def __init__(self, ids: Iterator[int]) -> None:
        self._ids = ids
        self.groups: dict[int, Group] = {}
        self.contacts: dict[int, Contact] = {}
        # Indexes, so a 2,000-contact group is paged and filled without scanning every contact.
        self._members: dict[int, dict[int, Contact]] = {}
        self._phones: dict[tuple[int, str], int] = {}

    # ------------------------------------------------------------------ groups
    def add_group(self, name: str, at: datetime, *, special_file: bool = False, location_file: bool = False) -> Group:
        group = Group(next(self._ids), name, at, special_file, location_file)
        self.groups[group.id] = group
        self._members[group.id] = {}
        return group

    def group(self, raw_id: object) -> Group:
        """The group an id names (int or digit string), else code 404 (§3.3)."""
        group = self.groups.get(_as_id(raw_id))
        if group is None:
            raise ApiFailure(404)
        return group

    def delete_group(self, raw_id: object) -> list[Contact]:
        """Delete a group and its contacts (our answer to §6.13); returns the contacts deleted."""
        group = self.group(raw_id)
        gone = list(self._members[group.id].values())
        for contact in gone:
            self._forget(contact)
        del self.groups[group.id], self._members[group.id]
        return gone

    def members(self, group_id: int) -> list[Contact]:
        """The group's contacts by id (the order contact/list pages in)."""
        return sorted(self._members.get(group_id, {}).values(), key=lambda c: c.id)

    # ------------------------------------------------------------------ contacts
    def find(self, group_id: int, e164: str) -> Contact | None:
        cid = self._phones.get((group_id, e164))
        return None if cid is None else self.contacts[cid]

    def add_contact(
        self, group_id: int, raw_phone: str, at: datetime, *, stop_sms: bool = False, values: dict[str, str] | None = None
    ) -> Contact:
        """Add one contact: code 9 for a number that does not parse, 15 when the group already has it."""
        if group_id not in self.groups:
            raise ApiFailure(404)
        e164 = phones.normalize(str(raw_phone))
        if e164 is None:
            raise ApiFailure(9)
        if self.find(group_id, e164) is not None:
            raise ApiFailure(15)
        contact = Contact(next(self._ids), group_id, e164, at, stop_sms, _fields(values or {}))
        self.contacts[contact.id] = contact
        self._members[group_id][contact.id] = contact
        self._phones[(group_id, e164)] = contact.id
        return contact

    def _forget(self, contact: Contact) -> None:
        del self.contacts[contact.id]
        self._members.get(contact.group_id, {}).pop(contact.id, None)
        self._phones.pop((contact.group_id, contact.phone), None)

    def contact(self, raw_id: object) -> Contact:
        contact = self.contacts.get(_as_id(raw_id))
        if contact is None:
            raise ApiFailure(404)
        return contact

    def update_contact(self, raw_id: object, values: dict[str, object]) -> Contact:
        """A partial update (§3.6): only the fields given change; a new number already in the group is code 15."""
        contact = self.contact(raw_id)
        if values.get("phoneNumber") not in (None, ""):
            e164 = phones.normalize(str(values["phoneNumber"]))
            if e164 is None:
                raise ApiFailure(9)
            other = self.find(contact.group_id, e164)
            if other is not None and other.id != contact.id:
                raise ApiFailure(15)
            self._phones.pop((contact.group_id, contact.phone), None)
            contact.phone = e164
            self._phones[(contact.group_id, e164)] = contact.id
        contact.fields.update(_fields({k: str(v) for k, v in values.items() if v is not None}))
        return contact

    def delete_contact(self, raw_id: object) -> Contact:
        contact = self.contact(raw_id)
        self._forget(contact)
        return contact

    def set_stop(self, raw_id: object, flag: bool) -> Contact:
        """Flip a contact's ``stopSms`` (no endpoint does: it is independent of the STOP list, docs/accounts.md)."""
        contact = self.contact(raw_id)
        contact.stop_sms = bool(flag)
        return contact


def _as_id(raw: object) -> int:
    try:
        return int(str(raw).strip())
    except ValueError:
        raise ApiFailure(404) from None


def _fields(values: dict[str, str]) -> dict[str, str]:
    return {k: str(v) for k, v in values.items() if k in CONTACT_FIELDS}
