"""Contact group and contact endpoints (ACCOUNTS.md §3), on the state of the account the key opens.

Why apart from handlers.py: a family of its own with its own lies (group/add succeeds with code 2,
group/list says success:false with no code, the batch add has no envelope at all) and id types (a group
id is a string in group/*, an int in contact/detail). docs/accounts.md lists the answers chosen where the
docs are silent.
"""

from __future__ import annotations

import re
from typing import Any

from . import phones
from .codes import ApiFailure
from .contacts import CONTACT_FIELDS, Contact, ContactBook
from .core import Simulator
from .handlers import Params, Route, _req
from .shapes import ident, iso_offset, page_number, page_of, stop_flag

MAX_BATCH = 500
_DATE = re.compile(r"\d{4}-\d{2}-\d{2}|\d{2}-\d{2}-\d{4}")  # the table's YYYY-MM-DD, the update example's dd-mm-yyyy
_BATCH_ERRORS = ("stopSms", "invalidePhone", "duplicatePhone", "allreadyInGroupe", "urlInvalide", "dateInvalide", "empty", "unactivated", "dateInvalid")


def _record(sim: Simulator, c: Contact, *, with_group: bool) -> dict[str, Any]:
    """§3.10: every field a string ("" when empty), ``stopSms`` a bool, ``groupId`` an int on detail only."""
    q = sim.quirks
    out: dict[str, Any] = {"contactId": ident(q, c.id, "str"), "phone": c.phone}
    out.update({name: c.fields.get(name, "") for name in CONTACT_FIELDS})
    out["createdAt"] = iso_offset(c.created_at)
    key, flag = stop_flag(q, c.stop_sms, "stopSms", "bool")
    out[key] = flag
    if with_group:
        out["groupId"] = ident(q, c.group_id, "int")
    return out


# ------------------------------------------------------------------ groups
def group_add(sim: Simulator, p: Params, method: str) -> dict[str, Any]:
    """§3.1: the documented success carries code 2 (``quirks.group_add_code``)."""
    name = str(_req(p, "name", code=1))
    with sim.lock:
        group = sim.contacts.add_group(name, sim.clock.now())
    return {"success": True, "code": sim.quirks.group_add_code, "name": group.name, "groupId": ident(sim.quirks, group.id, "str")}


def group_list(sim: Simulator, p: Params, method: str) -> dict[str, Any]:
    """§3.2: not paged; the documented answer says success:false and has no code (``quirks.group_list_honest``)."""
    q = sim.quirks
    with sim.lock:
        groups = [
            {
                "id": ident(q, g.id, "str"),
                "name": g.name,
                "createdAt": iso_offset(g.created_at),
                "isSpecialFile": g.special_file,
                "isLocationFile": g.location_file,
            }
            for g in sorted(sim.contacts.groups.values(), key=lambda g: g.id)
        ]
    head: dict[str, Any] = {"success": True, "code": 200} if q.group_list_honest else {"success": False}
    return {**head, "groups": groups}


def group_delete(sim: Simulator, p: Params, method: str) -> dict[str, Any]:
    """§3.3: ``group/delete`` (EN) and ``groupe/delete`` (FR), DELETE or POST; the contacts go with the group."""
    group_id = _req(p, "groupId", code=1)
    with sim.lock:
        sim.contacts.delete_group(group_id)
    return {"success": True, "code": 200}


# ------------------------------------------------------------------ contacts
def _contact_values(p: Params) -> dict[str, Any]:
    """``contact{}`` as the example nests it, or the table's flat fields."""
    nested = p.get("contact")
    if isinstance(nested, dict):
        return nested
    return {k: p[k] for k in ("phoneNumber", *CONTACT_FIELDS) if k in p}


def contact_add(sim: Simulator, p: Params, method: str) -> dict[str, Any]:
    """§3.4 one contact (``contact{}``), §3.5 a batch (``contactsList[]``, at most 500) on the same path."""
    group_id = _req(p, "groupId", code=1)
    if "contactsList" in p:
        return _batch_add(sim, group_id, p["contactsList"])
    values = _contact_values(p)
    phone = _req(values, "phoneNumber", code=2)
    with sim.lock:
        group = sim.contacts.group(group_id)
        contact = sim.contacts.add_contact(group.id, str(phone), sim.clock.now(), values=_strings(values))
    return {"success": True, "code": 200, "contact": {**values, "contactId": ident(sim.quirks, contact.id, "str")}}


def _strings(values: dict[str, Any]) -> dict[str, str]:
    return {k: str(v) for k, v in values.items() if k in CONTACT_FIELDS and v is not None}


def _batch_line(book: ContactBook, group_id: int, item: Any, seen: set[str], now: Any) -> tuple[str | None, str, int]:
    """(error counter or None, phone as shown, item code) for one line of a batch."""
    if not isinstance(item, dict) or item.get("phoneNumber") in (None, ""):
        return "empty", "", 2
    raw = str(item["phoneNumber"])
    e164 = phones.normalize(raw)
    if e164 is None:
        return "invalidePhone", raw, 9
    if e164 in seen:
        return "duplicatePhone", e164, 16
    url, day = str(item.get("url") or ""), str(item.get("date") or "")
    if url and not url.startswith(("http://", "https://")):
        return "urlInvalide", e164, 17
    if day and not _DATE.fullmatch(day):
        return "dateInvalide", e164, 18
    seen.add(e164)
    try:
        book.add_contact(group_id, e164, now, values=_strings(item))
    except ApiFailure as failure:
        return "allreadyInGroupe", e164, failure.code
    return None, e164, 200


def _batch_add(sim: Simulator, raw_group: Any, items: Any) -> dict[str, Any]:
    """§3.5: no success, no code; ``results`` lists the failed lines only (our answer); counts are ints."""
    if not isinstance(items, list) or not items:
        raise ApiFailure(2)
    if len(items) > MAX_BATCH:
        raise ApiFailure(50)
    errors = dict.fromkeys(_BATCH_ERRORS, 0)
    results: list[dict[str, Any]] = []
    imported = 0
    seen: set[str] = set()
    with sim.lock:
        group = sim.contacts.group(raw_group)
        now = sim.clock.now()
        for item in items:
            counter, phone, code = _batch_line(sim.contacts, group.id, item, seen, now)
            if counter is None:
                imported += 1
                continue
            errors[counter] += 1
            results.append({"success": False, "code": code, "phoneNumber": phone, "message": _BATCH_TEXT.get(code, counter)})
    rapport = {"nbline": len(items), "nbline_imported": imported, "nbline_updated": 0, "errors": errors}
    return {"groupe": {"name": group.name, "token": ident(sim.quirks, group.id, "str")}, "results": results, "rapport": rapport}


_BATCH_TEXT = {15: "Le numéro existe déjà dans ce groupe", 9: "Numéro invalide", 16: "Numéro en double", 2: "Ligne vide"}


def contact_update(sim: Simulator, p: Params, method: str) -> dict[str, Any]:
    """§3.6: a partial update of the fields given; the answer echoes them with ``contactId``."""
    contact_id = _req(p, "contactId", code=1)
    values = _contact_values(p)
    if not values:
        raise ApiFailure(2)
    with sim.lock:
        contact = sim.contacts.update_contact(contact_id, values)
    return {"success": True, "code": 200, "contact": {**values, "contactId": ident(sim.quirks, contact.id, "str")}}


def contact_delete(sim: Simulator, p: Params, method: str) -> dict[str, Any]:
    contact_id = _req(p, "contactId", code=1)
    with sim.lock:
        sim.contacts.delete_contact(contact_id)
    return {"success": True, "code": 200}


def contact_detail(sim: Simulator, p: Params, method: str) -> dict[str, Any]:
    contact_id = _req(p, "contactId", code=1)
    with sim.lock:
        record = _record(sim, sim.contacts.contact(contact_id), with_group=True)
    return {"success": True, "code": 200, "contact": record}


def contact_list(sim: Simulator, p: Params, method: str) -> dict[str, Any]:
    """§3.9: GET or POST, 20 a page by contact id; ``total`` a string counting the whole group (our answer)."""
    group_id = _req(p, "groupId", code=1)
    q = sim.quirks
    page = page_number(p)
    with sim.lock:
        members = sim.contacts.members(sim.contacts.group(group_id).id)
        rows = [_record(sim, c, with_group=False) for c in page_of(q, members, page, max(1, q.contact_page_size))]
    total = len(members) if q.contact_total_meaning == "group" else len(rows)
    return {"success": True, "code": 200, "currentPage": page, "total": str(total), "datas": rows}


_BOTH = frozenset({"GET", "POST"})
_GET, _POST = frozenset({"GET"}), frozenset({"POST"})
_DELETE = frozenset({"DELETE", "POST"})

ROUTES: dict[str, Route] = {
    "group/add": Route(_POST, group_add, write=True, missing_key_code=2),
    "group/list": Route(_GET, group_list, missing_key_code=10),
    "group/delete": Route(_DELETE, group_delete, write=True, missing_key_code=10),
    "groupe/delete": Route(_DELETE, group_delete, write=True, missing_key_code=10),
    "contact/add": Route(_POST, contact_add, write=True, missing_key_code=10),
    "contact/update": Route(_POST, contact_update, write=True, missing_key_code=10),
    "contact/delete": Route(_POST, contact_delete, write=True, missing_key_code=10),
    "contact/detail": Route(_GET, contact_detail, missing_key_code=10),
    "contact/list": Route(_BOTH, contact_list, missing_key_code=10),
}
