"""Contact groups and contacts: ``/group/list``, ``/contact/list`` pages, ``/contact/detail`` (ACCOUNTS.md §3).

Ids come as ints or strings (a group id is a string in group/list, an int in contact/detail, §3) and are
always returned as strings. ``stopSms`` is read like every stop flag (bool, "0"/"1", "true": REFERENCE
quirk 4); a contact without a readable flag is `Unreadable`, never assumed unflagged.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from etl.api.parse.unreadable import Unreadable
from etl.api.parse.values import (
    _bool,
    _id_str,
    _mapping,
    _opt_bool,
    _opt_int,
    _opt_str,
    _phone,
    _require,
    _str,
    parse_datetime,
)
from etl.errors import PayloadError

CONTACT_PAGE_SIZE = 20
"""Contacts per ``/contact/list`` page (§3.9): a shorter page is the last one."""


@dataclass(frozen=True, slots=True)
class ContactGroup:
    """One ``groups[]`` item of ``/group/list``."""

    group_id: str
    name: str
    created_at: datetime | None
    special_file: bool | None
    location_file: bool | None


@dataclass(frozen=True, slots=True)
class ContactGroups:
    """``/group/list`` (not paged): the readable groups and the others."""

    items: tuple[ContactGroup, ...]
    unreadable: tuple[Unreadable, ...]


@dataclass(frozen=True, slots=True)
class Contact:
    """A contact of ``/contact/list`` (no ``groupId``) or ``/contact/detail`` (with it)."""

    contact_id: str
    group_id: str | None
    phone_raw: str
    phone_e164: str | None
    #: The contact's own opt-out flag, independent of the STOP list (docs/accounts.md).
    stop_sms: bool
    created_at: datetime | None
    firstname: str | None
    lastname: str | None


@dataclass(frozen=True, slots=True)
class ContactPage:
    """One page of ``/contact/list``: ``total`` (a string in the answer) and ``currentPage`` as ints."""

    total: int | None
    page: int | None
    items: tuple[Contact, ...]
    unreadable: tuple[Unreadable, ...]


def _items(payload: Mapping[str, Any], key: str, endpoint: str) -> list[Any]:
    """The answer's list; null, absent or an empty object (PHP's empty array) read as empty."""
    raw = payload.get(key)
    if raw is None or raw == {}:
        return []
    if not isinstance(raw, list):
        raise PayloadError(f"expected a list, got {type(raw).__name__}", endpoint=endpoint, field=key)
    return raw


def parse_group_item(item: Any, endpoint: str = "group/list") -> ContactGroup:
    """``{id, name, createdAt, isSpecialFile, isLocationFile}``."""
    item = _mapping(item, endpoint, "groups[]")
    return ContactGroup(
        group_id=_id_str(_require(item, ("id", "groupId"), endpoint), endpoint, "groups[].id"),
        name=_str(_require(item, ("name",), endpoint), endpoint, "groups[].name"),
        created_at=parse_datetime(item.get("createdAt"), endpoint, "groups[].createdAt"),
        special_file=_opt_bool(item.get("isSpecialFile"), endpoint, "groups[].isSpecialFile"),
        location_file=_opt_bool(item.get("isLocationFile"), endpoint, "groups[].isLocationFile"),
    )


def parse_group_list(payload: Mapping[str, Any], endpoint: str = "group/list") -> ContactGroups:
    """Every group, item by item (the envelope's ``success: false`` is judged in `check_envelope`)."""
    good: list[ContactGroup] = []
    bad: list[Unreadable] = []
    for item in _items(payload, "groups", endpoint):
        try:
            good.append(parse_group_item(item, endpoint))
        except PayloadError as exc:
            bad.append(Unreadable(endpoint, item, str(exc)))
    return ContactGroups(tuple(good), tuple(bad))


def parse_contact_item(item: Any, endpoint: str = "contact/list") -> Contact:
    """§3.10: ``{contactId, phone, stopSms, createdAt, firstname, lastname, ..., groupId (detail only)}``."""
    item = _mapping(item, endpoint, "contact")
    raw, e164 = _phone(_require(item, ("phone", "phoneNumber"), endpoint), endpoint, "phone")
    group = item.get("groupId")
    return Contact(
        contact_id=_id_str(_require(item, ("contactId", "id"), endpoint), endpoint, "contactId"),
        group_id=None if group in (None, "") else _id_str(group, endpoint, "groupId"),
        phone_raw=raw,
        phone_e164=e164,
        stop_sms=_bool(_require(item, ("stopSms", "stopSMS"), endpoint), endpoint, "stopSms"),
        created_at=parse_datetime(item.get("createdAt"), endpoint, "createdAt"),
        firstname=_opt_str(item.get("firstname"), endpoint, "firstname") or None,
        lastname=_opt_str(item.get("lastname"), endpoint, "lastname") or None,
    )


def parse_contact_page(payload: Mapping[str, Any], endpoint: str = "contact/list") -> ContactPage:
    """One page: ``total`` string or int, ``currentPage`` int, ``datas[]`` read item by item."""
    good: list[Contact] = []
    bad: list[Unreadable] = []
    for item in _items(payload, "datas", endpoint):
        try:
            good.append(parse_contact_item(item, endpoint))
        except PayloadError as exc:
            bad.append(Unreadable(endpoint, item, str(exc)))
    return ContactPage(
        total=_opt_int(payload.get("total"), endpoint, "total"),
        page=_opt_int(payload.get("currentPage"), endpoint, "currentPage"),
        items=tuple(good),
        unreadable=tuple(bad),
    )


def parse_contact_detail(payload: Mapping[str, Any], endpoint: str = "contact/detail") -> Contact:
    """``{contact: {...}}`` with ``groupId`` an int (§3.8); raises `PayloadError` when unreadable."""
    return parse_contact_item(_require(payload, ("contact",), endpoint), endpoint)
