"""One function per /v1 endpoint: request params in, payload dict out (or ApiFailure).

Why: keeps the endpoint rules (REFERENCE §3) apart from HTTP plumbing (server.py) and from the
state (core.py). Each handler builds the documented JSON shape; quirks alter field types/keys.
"""

from __future__ import annotations

import json
from calendar import month_name
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, time, timedelta
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

from . import phones
from .clock import PARIS
from .codes import ApiFailure
from .core import Simulator
from .render import Named, Stream
from .rentals import STATUS_TEXT
from .shapes import epoch_str, ident, money, stop_flag, ymd

Params = dict[str, Any]


@dataclass(frozen=True)
class Route:
    methods: frozenset[str]
    handler: Callable[[Simulator, Params, str], dict[str, Any]]
    write: bool = False
    #: The code a call without apiKey gets: 1 on most pages, 10 or 2 on some (ACCOUNTS.md §6.5).
    missing_key_code: int = 1


def _req(p: Params, *names: str, code: int) -> Any:
    for name in names:
        value = p.get(name)
        if value not in (None, ""):
            return value
    raise ApiFailure(code)


def _bool(value: Any) -> bool:
    return str(value).strip().lower() in ("1", "true", "yes", "on")


# ------------------------------------------------------------------ account
def me(sim: Simulator, p: Params, method: str) -> dict[str, Any]:
    q = sim.quirks
    with sim.lock:
        balance = sim.balance.quantize(Decimal("0.001"))  # a sub-account's too: "10.000", not "10"
    credits: dict[str, Any] = {"creditSms": int(balance / Decimal("0.045"))}
    eco = int(balance / Decimal("0.035"))
    if q.me_credit_names == "go":  # quirk 21
        credits["creditSmsLowCost"] = eco
    else:
        credits["creditSmsECO"] = eco
    credits.update(creditHlr=sim.credit_hlr, toSend=sim.to_send(), balance=money(q, balance, "str"), currency="EUR")
    if q.me_credit_names == "go":
        credits["solde"] = money(q, balance, "str")
    user = Named(username=sim.user["username"], firstname=sim.user["firstname"], lastname=sim.user["lastname"])
    if q.me_credit_names == "go":
        user["id"] = ident(q, int(sim.user["id"]), "int")
    return {"success": True, "code": 200, "user": user, "credits": credits}


# ------------------------------------------------------------------ sending
def _scheduled(p: Params) -> datetime | None:
    """scheduledDeliveryDate dd/MM/yyyy + time (0-24) + minute (0-55, step 5), Paris time."""
    raw = p.get("scheduledDeliveryDate")
    if raw in (None, ""):
        return None
    try:
        day = datetime.strptime(str(raw), "%d/%m/%Y").date()
        hour = int(p.get("time", 0))
        minute = int(p.get("minute", 0))
    except (TypeError, ValueError):
        raise ApiFailure(9, errors=[{"elementId": "scheduledDeliveryDate", "message": "Format de date invalide (dd/MM/yyyy)"}]) from None
    if not 0 <= hour <= 24 or not 0 <= minute <= 55 or minute % 5:
        raise ApiFailure(9, errors=[{"elementId": "minute", "message": "Heure ou minute invalide"}])
    return datetime.combine(day, time(0), PARIS) + timedelta(hours=hour, minutes=minute)


def _send_options(p: Params) -> dict[str, Any]:
    given = p.get("gamme", p.get("range", 1))  # quirk 10: gamme (FR, examples) vs range (EN table)
    try:
        gamme = int(given)  # type: ignore[arg-type] # None or a list: TypeError, answered below
    except (TypeError, ValueError):
        gamme = 0
    tag = p.get("tag")
    return {
        "tag": str(tag) if tag not in (None, "") else None,
        "scheduled_at": _scheduled(p),
        "sandbox": _bool(p.get("sandbox", 0)),
        "gamme": gamme,
        "unicode": _bool(p.get("isUnicode", 0)),
    }


def send(sim: Simulator, p: Params, method: str) -> dict[str, Any]:
    raw = _req(p, "phoneNumbers", code=2)
    numbers = raw if isinstance(raw, list) else [x for x in str(raw).split(",") if x.strip()]
    text = p.get("message")
    if text in (None, ""):
        raise ApiFailure(9, errors=[{"elementId": "message", "message": "Le message est requis"}])
    msg = sim.api_send([(str(n).strip(), str(text)) for n in numbers], **_send_options(p))
    q = sim.quirks
    total = sum((r.plan.cost for r in msg.recipients.values()), Decimal(0))
    out: dict[str, Any] = {
        "success": True,
        "code": 200,
        "message_id": ident(q, msg.id, "int"),
        "nb_sms": sum(r.nb_sms for r in msg.recipients.values()),
        "cost": money(q, total, "float"),
        "currency": "EUR",
    }
    if msg.scheduled and q.send_echo_scheduled:
        out["scheduledDeliveryDate"] = ymd(q, msg.send_at)
    return out


def bulk_send(sim: Simulator, p: Params, method: str) -> dict[str, Any]:
    items = p.get("SMSList")
    if not isinstance(items, list) or not items:
        raise ApiFailure(9, errors=[{"elementId": "SMSList", "message": "La liste SMSList est requise"}])
    pairs = [(str(i.get("phoneNumber", "")), str(i.get("message", ""))) for i in items if isinstance(i, dict)]
    msg = sim.api_send(pairs, per_item_errors=True, **_send_options(p))
    q = sim.quirks
    rows = [
        {"success": True, "code": 200, "nbSms": r.nb_sms, "cost": money(q, r.plan.cost, "float"), "phoneNumber": r.phone}
        for r in msg.recipients.values()
    ]
    for phone, code in msg.failed:
        rows.append({"success": False, "code": code, "nbSms": 0, "cost": money(q, Decimal(0), "float"), "phoneNumber": phone})
    total = sum((r.plan.cost for r in msg.recipients.values()), Decimal(0))
    return {
        "success": True,
        "code": 200,
        "message_id": ident(q, msg.id, "int"),
        "currency": "EUR",
        "cost": money(q, total, "float"),
        "nbSMS": sum(r.nb_sms for r in msg.recipients.values()),
        "SMSResponse_List": rows,
    }


def message_cancel(sim: Simulator, p: Params, method: str) -> dict[str, Any]:
    sim.api_cancel(_req(p, "messageId", code=3))
    return {"success": True, "code": 200, "message": "L'envoi du SMS a été annulé."}


# ------------------------------------------------------------------ statuses
def message_status(sim: Simulator, p: Params, method: str) -> dict[str, Any]:
    phone = _req(p, "phoneNumber", code=2)
    mid = _req(p, "messageId", code=3)
    q = sim.quirks
    with sim.lock:
        msg, rcpt = sim.lookup(mid, phone)
        assert rcpt is not None
        truth = sim.truth(msg, rcpt)
        stopped = sim.is_stopped(rcpt.phone)
    number = phones.national(rcpt.phone) if q.message_status_number == "national" else rcpt.phone  # quirk 17
    key, flag = stop_flag(q, stopped, "stopSms", "bool")
    out: dict[str, Any] = {
        "success": True,
        "code": 200,
        "number": number,
        "messageId": ident(q, msg.id, "str"),
        key: flag,
        "date": ymd(q, truth.date) if q.message_status_date == "ymd" else epoch_str(truth.date),  # quirk 5
        q.message_status_key: truth.status,  # quirk 3
    }
    if truth.cost is not None:
        out["cost"] = money(q, truth.cost, "float")
    elif q.cost_missing_style == "null":
        out["cost"] = None
    elif q.cost_missing_style == "zero":
        out["cost"] = money(q, Decimal(0), "float")
    out["countryCode"] = truth.country
    out["currency"] = truth.currency
    return out


def _status_list(p: Params) -> Any:
    items = p.get("SMSStatut_List", p.get("SMSStatus_List"))  # quirk 7: EN table misspelling
    if isinstance(items, str):
        try:
            items = json.loads(items)
        except ValueError:
            raise ApiFailure(90) from None
    return items


def multi_status(sim: Simulator, p: Params, method: str) -> dict[str, Any]:
    items = _status_list(p)
    if not isinstance(items, list) or not items:
        raise ApiFailure(9, errors=[{"elementId": "SMSStatut_List", "message": "La liste SMSStatut_List est requise"}])
    if len(items) > 500:
        raise ApiFailure(50)
    q = sim.quirks
    out = []
    with sim.lock:
        for item in items:
            item = item if isinstance(item, dict) else {}
            phone, raw_id = item.get("phoneNumber"), item.get("messageId")
            try:
                shown_id: Any = ident(q, int(str(raw_id)), "int")
            except ValueError:
                shown_id = raw_id
            if phone in (None, "") or raw_id in (None, ""):
                code = 2 if phone in (None, "") else 3
                out.append({"success": False, "code": code, "phoneNumber": phone, "messageId": shown_id, "status": "Numéro introuvable"})
                continue
            try:
                # numbers must be international (DOC-st2): a national form is simply not found
                msg, rcpt = sim.lookup(raw_id, phone, allow_national=False)
            except ApiFailure:
                out.append({"success": False, "code": 4, "phoneNumber": phone, "messageId": shown_id, "status": "Numéro introuvable"})
                continue
            assert rcpt is not None
            truth = sim.truth(msg, rcpt)
            key, flag = stop_flag(q, sim.is_stopped(rcpt.phone), "stopSms", "string")
            out.append(
                {
                    "success": True,
                    "code": 200,
                    "phoneNumber": rcpt.phone,
                    "messageId": ident(q, msg.id, "int"),
                    "status": truth.status,
                    "date": epoch_str(truth.date),
                    key: flag,
                    "isSpam": "0",
                }
            )
    return {"success": True, "code": 200, "StatutResponse_List": out}


def _bulk_item(sim: Simulator, msg: Any, rcpt: Any, with_id: bool = False) -> dict[str, Any]:
    q = sim.quirks
    truth = sim.truth(msg, rcpt)
    key, flag = stop_flag(q, sim.is_stopped(rcpt.phone), "stopSMS", "bool")
    item: dict[str, Any] = {"phoneNumber": rcpt.phone, "status": truth.status, key: flag, "date": epoch_str(truth.date)}
    if with_id:
        item["messageId"] = ident(q, msg.id, "int")
    return item


def bulk_status(sim: Simulator, p: Params, method: str) -> dict[str, Any]:
    mid = _req(p, "messageId", code=3)
    with sim.lock:
        msg, _ = sim.lookup(mid)
        rows = [_bulk_item(sim, msg, r) for r in msg.recipients.values()]
    return {"success": True, "code": 200, "message_id": ident(sim.quirks, msg.id, "str"), "StatutResponse_List": rows}


def bulk_status_by_tag(sim: Simulator, p: Params, method: str) -> dict[str, Any]:
    """Paged by ``page`` (undocumented, quirk 23); ``tag_page_size`` items per page."""
    tag = str(_req(p, "tag", code=3))
    q = sim.quirks
    try:
        page = max(1, int(p.get("page", 1)))
    except (TypeError, ValueError):
        page = 1
    size = max(1, q.tag_page_size)
    with sim.lock:
        msgs = [m for m in sorted(sim.messages.values(), key=lambda m: m.id) if m.tag == tag and not sim._purged(m)]
        if not msgs:
            raise ApiFailure(4)
        pairs = [(m, r) for m in msgs for r in sorted(m.recipients.values(), key=lambda r: r.phone)]
        chunk = pairs[(page - 1) * size : page * size]
        rows = [_bulk_item(sim, m, r, q.tag_items_message_id) for m, r in chunk]
    total = len(pairs) if q.tag_total_meaning == "items" else -(-len(pairs) // size)
    return {"success": True, "code": 200, "currentPage": page, "total": total, "StatutResponse_List": rows}


# ------------------------------------------------------------------ statistics
def _month_start(d: datetime) -> datetime:
    return datetime(d.year, d.month, 1, tzinfo=PARIS)


def _add_months(d: datetime, n: int) -> datetime:
    y, m = divmod(d.month - 1 + n, 12)
    return datetime(d.year + y, m + 1, 1, tzinfo=PARIS)


def cost_resume(sim: Simulator, p: Params, method: str) -> dict[str, Any]:
    interval = str(p.get("interval") or "last_month")
    now = sim.clock.now().astimezone(PARIS)
    this_month = _month_start(now)
    if interval == "last_month":
        first, last = _add_months(this_month, -1), _add_months(this_month, -1)
    elif interval == "last_twelve_months":
        first, last = _add_months(this_month, -11), this_month
    elif interval == "custom":
        try:
            f = datetime.strptime(str(p.get("from")), "%d-%m-%Y").replace(tzinfo=PARIS)
            t = datetime.strptime(str(p.get("to")), "%d-%m-%Y").replace(tzinfo=PARIS)
        except ValueError:
            raise ApiFailure(9, errors=[{"elementId": "from", "message": "Dates invalides (dd-mm-yyyy)"}]) from None
        first, last = _month_start(f), _month_start(t)
    else:
        raise ApiFailure(9, errors=[{"elementId": "interval", "message": "Intervalle invalide"}])
    q = sim.quirks
    datas = []
    month = first
    with sim.lock:
        while month <= last:
            nxt = _add_months(month, 1)
            cost, count = Decimal(0), 0
            for m in sim.messages.values():
                if m.sandbox or m.cancelled_at is not None or not (month <= m.send_at < nxt) or m.send_at > now:
                    continue
                for r in m.recipients.values():
                    cost += r.plan.cost
                    count += r.nb_sms
            datas.append(
                {
                    "month": month_name[month.month].lower(),
                    "year": str(month.year),
                    "m": f"{month.month:02d}",
                    "date": int(month.timestamp()),
                    "type": "month",
                    "cost": money(q, cost, "str"),
                    "nb_send": str(count),
                }
            )
            month = nxt
    return {"success": True, "code": 200, "datas": datas}


# ------------------------------------------------------------------ stop list
def stop_list(sim: Simulator, p: Params, method: str) -> dict[str, Any]:
    """Whole list, unpaged (§3.10), as a Stream so 1,000,000 entries never sit in memory."""
    q = sim.quirks
    snap = sim.stops_snapshot()
    zone = ZoneInfo(q.naive_timezone)
    paris = zone.key == "Europe/Paris"
    id_q = '"' if ident(q, 1, "int") == "1" else ""

    def when(created: str) -> str:
        if paris:
            return created  # naive Paris local "Y-m-d H:i:s" (quirk 5, our documented choice)
        local = datetime.strptime(created, "%Y-%m-%d %H:%M:%S").replace(tzinfo=PARIS)
        return local.astimezone(zone).strftime("%Y-%m-%d %H:%M:%S")

    fast = '{"id": %s%%d%s, "phoneNumber": "%%s", "createdAt": "%%s"}' % (id_q, id_q)

    def js_converted(row: tuple[int, str, str]) -> str:
        return fast % (row[0], row[1], when(row[2]))

    # Paris dates go out as stored: the hot path for 1,000,000 entries is the format itself.
    js: Callable[[tuple[int, str, str]], str] = fast.__mod__ if paris else js_converted

    def xm(row: tuple[int, str, str]) -> str:
        return f"<entry>{row[0]}</entry><entry><![CDATA[{row[1]}]]></entry><entry><![CDATA[{when(row[2])}]]></entry>"

    stream = Stream(snap.iter_text(), js, xm, q.stream_chunk_entries)
    return {"success": True, "code": 200, "nbData": len(snap), "data": stream}


def stop_add(sim: Simulator, p: Params, method: str) -> dict[str, Any]:
    names = ("phoneNumber", "phoneNumbers") if sim.quirks.stop_add_plural_param else ("phoneNumber",)  # quirk 2
    raw = _req(p, *names, code=2)
    if isinstance(raw, list):
        raw = raw[0] if raw else ""
    raw = str(raw).split(",")[0].strip()
    sid = sim.api_add_stop(raw)
    return {"success": True, "code": 200, "stopId": ident(sim.quirks, sid, "int")}


def stop_delete(sim: Simulator, p: Params, method: str) -> dict[str, Any]:
    sim.api_delete_stop(_req(p, "id", code=3))
    return {"success": True, "code": 200}


# ------------------------------------------------------------------ rentals
def _rental(sim: Simulator, p: Params) -> Any:
    token = str(_req(p, "token", code=31))
    rental = sim.rentals.get(token)
    if rental is None:
        raise ApiFailure(32)
    return rental


def location_status(sim: Simulator, p: Params, method: str) -> dict[str, Any]:
    q = sim.quirks
    with sim.lock:
        r = _rental(sim, p)
        n = len(r)
        status: Any = r.status if q.rental_status_numeric else STATUS_TEXT.get(r.status, str(r.status))
        unit = r.unit_cost
    out: dict[str, Any] = {"success": True}
    if q.rental_download_code:
        out["code"] = 200
    out.update(
        token=r.token,
        status=status,
        location={
            "sexe": "m",
            "minAge": 18,
            "maxAge": 65,
            "zipcode": "75001",
            "interest": "1",
            "category": 102,
            "details_localisation": [{"Type": "zipcode", "Location": "75001", "VolumeDesired": str(n), "Volume": str(n)}],
            "cost": {"quantity": n, "total": money(q, unit * n, "str"), "cost_unity": money(q, unit, "str")},
        },
        file={"phoneNumbers": str(n)},  # quirk 19: a string count here
    )
    return out


def location_download(sim: Simulator, p: Params, method: str) -> dict[str, Any]:
    """Codes 33-36 by rental state; success has no ``code`` (quirk 19); rows are streamed."""
    q = sim.quirks
    with sim.lock:
        r = _rental(sim, p)
        if r.status in (0, 1):
            raise ApiFailure(35)
        if r.status == 3:
            raise ApiFailure(36)
        if r.status == 5 or (r.single_download and r.downloads > 0):
            raise ApiFailure(34)
        if not r.file_present:
            raise ApiFailure(33)
        r.downloads += 1
        if r.single_download:
            r.status = 5
        overrides = dict(r.stop)
        n = len(r)
    id_q = '"' if ident(q, 1, "int") == "1" else ""

    # The stop flag's rendering depends only on the quirks and the value: two templates, made once
    # (a json.dumps per row made the 500,000-number file the slow side of the download).
    templates = {}
    for value in (False, True):
        key, flag = stop_flag(q, value, "stopSms", "bool")
        templates[value] = '{"id": %s%%d%s, "phone": "%%s", %s: %s}' % (id_q, id_q, json.dumps(key), json.dumps(flag))

    def js(row: tuple[int, str, bool]) -> str:
        return templates[bool(row[2])] % (row[0], row[1])

    def xm(row: tuple[int, str, bool]) -> str:
        return f"<entry>{row[0]}</entry><entry><![CDATA[{row[1]}]]></entry><entry>{'true' if row[2] else 'false'}</entry>"

    out: dict[str, Any] = {"success": True}
    if q.rental_download_code:
        out["code"] = 200
    out["phoneNumbers"] = n  # quirk 19: an int count, not a list
    out["datas"] = Stream(r.iter_rows(overrides), js, xm, q.stream_chunk_entries)
    return out


GET, POST = frozenset({"GET"}), frozenset({"POST"})

ROUTES: dict[str, Route] = {
    "me": Route(GET, me),
    "send": Route(POST, send, write=True),
    "bulk-send": Route(POST, bulk_send, write=True),
    "message-status": Route(GET, message_status),
    "multi-status": Route(frozenset({"GET", "POST"}), multi_status),
    "bulk-status": Route(GET, bulk_status),
    "bulk-status-by-tag": Route(GET, bulk_status_by_tag),
    "statistics/cost-resume": Route(GET, cost_resume),
    "message-cancel": Route(GET, message_cancel, write=True),
    "stop-sms/list": Route(GET, stop_list),
    "stop-sms/add": Route(POST, stop_add, write=True),
    "stop-sms/delete": Route(GET, stop_delete, write=True),
    "location/status": Route(GET, location_status),
    "location/file/download": Route(GET, location_download),
}
