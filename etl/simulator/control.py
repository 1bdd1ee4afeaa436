"""/_sim/ control endpoints: drive a simulator running in another process (demo, bench, soak).

No apiKey, no faults, not in the call log. All answers are JSON; datetimes are ISO 8601.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any

from . import seedfile
from .codes import ApiFailure
from .core import Simulator


def _target(sim: Simulator, p: dict[str, Any]) -> Simulator:
    """The account a control call names: ``account`` = a sub-account token, absent or "main" = the parent."""
    token = p.get("account")
    if token in (None, "", "main"):
        return sim
    sub = sim.subaccounts.get(token)
    if sub is None:
        raise KeyError(f"account {token!r}")
    return sub.account


def _iso(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, dict):
        return {k: _iso(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_iso(v) for v in value]
    return value


def control(sim: Simulator, method: str, action: str, p: dict[str, Any]) -> tuple[int, dict[str, Any]]:
    """Dispatch one control call; returns (HTTP status, JSON payload)."""
    try:
        return 200, _iso(_ACTIONS[action](sim, p))
    except KeyError as exc:
        if action not in _ACTIONS:
            return 404, {"ok": False, "error": f"unknown control action {action!r}", "actions": sorted(_ACTIONS)}
        return 400, {"ok": False, "error": f"missing or unknown: {exc}"}
    except (ValueError, TypeError) as exc:
        return 400, {"ok": False, "error": str(exc)}
    except ApiFailure as failure:
        return 400, {"ok": False, "error": f"the API would answer code {failure.code}", "code": failure.code}


def _state(sim: Simulator, p: dict[str, Any]) -> dict[str, Any]:
    return {
        "ok": True,
        "now": sim.clock.now(),
        "stops": len(sim.stops_snapshot()),
        "messages": len(sim.messages),
        "rentals": {t: {"status": r.status, "numbers": len(r)} for t, r in sim.rentals.items()},
        "balance": sim.balance,
        "quirks": sim.quirks.as_dict(),
        "faults": [{"endpoint": f.endpoint, "kind": f.kind, "count": f.count, "rate": f.rate} for f in sim.faults.pending()],
        "calls": len(sim.calls),
    }


def _clock(sim: Simulator, p: dict[str, Any]) -> dict[str, Any]:
    if "set" in p:
        sim.clock.set(datetime.fromisoformat(str(p["set"])))
    if "advance" in p:
        sim.clock.advance(float(p["advance"]))
    if "running" in p:
        sim.clock.running = bool(p["running"])
    return {"ok": True, "now": sim.clock.now()}


def _faults(sim: Simulator, p: dict[str, Any]) -> dict[str, Any]:
    if p.get("clear"):
        sim.faults.clear()
        return {"ok": True}
    params = dict(p.get("params") or {})
    count = p.get("count", 1)
    sim.faults.inject(str(p.get("endpoint", "*")), str(p["kind"]), count=count, rate=p.get("rate"), **params)
    return {"ok": True}


def _quirks(sim: Simulator, p: dict[str, Any]) -> dict[str, Any]:
    sim.quirks.update(**p)
    return {"ok": True, "quirks": sim.quirks.as_dict()}


def _calls(sim: Simulator, p: dict[str, Any]) -> dict[str, Any]:
    calls = sim.calls_to(p["endpoint"]) if p.get("endpoint") else list(sim.calls)
    if p.get("reset"):
        sim.reset_calls()
    return {"ok": True, "calls": [c.__dict__ for c in calls[-int(p.get("limit", 1000)) :]]}


def _stops(sim: Simulator, p: dict[str, Any]) -> dict[str, Any]:
    rows = _target(sim, p).stops()
    return {"ok": True, "count": len(rows), "stops": [[i, ph, c] for i, ph, c in rows[: int(p.get("limit", 100_000))]]}


def _stop_add(sim: Simulator, p: dict[str, Any]) -> dict[str, Any]:
    return {"ok": True, "id": _target(sim, p).add_stop(str(p["phone"]))}


def _stop_remove(sim: Simulator, p: dict[str, Any]) -> dict[str, Any]:
    _target(sim, p).remove_stop(int(p["id"]))
    return {"ok": True}


def _send(sim: Simulator, p: dict[str, Any]) -> dict[str, Any]:
    sched = datetime.fromisoformat(p["scheduled_at"]) if p.get("scheduled_at") else None
    numbers = p["phone_numbers"]
    mid = _target(sim, p).send(list(numbers), str(p.get("message", "hello")), tag=p.get("tag"), scheduled_at=sched, sandbox=bool(p.get("sandbox")))
    return {"ok": True, "message_id": mid}


def _messages(sim: Simulator, p: dict[str, Any]) -> dict[str, Any]:
    out = []
    with sim.lock:
        for m in sim.messages.values():
            out.append(
                {
                    "id": str(m.id),
                    "tag": m.tag,
                    "send_at": m.send_at,
                    "cancelled": m.cancelled_at is not None,
                    "sandbox": m.sandbox,
                    "recipients": [dict(phone=r.phone, **sim.truth(m, r).as_dict()) for r in m.recipients.values()],
                }
            )
    return {"ok": True, "messages": out}


def _recipient(sim: Simulator, p: dict[str, Any]) -> dict[str, Any]:
    return {"ok": True, **sim.recipient_truth(p["message_id"], str(p["phone"]))}


def _events(sim: Simulator, p: dict[str, Any]) -> dict[str, Any]:
    return {"ok": True, "events": [{"at": e.at, "kind": e.kind, **e.data} for e in sim.events]}


def _rental_flip(sim: Simulator, p: dict[str, Any]) -> dict[str, Any]:
    return {"ok": True, "flipped": sim.flip_rental_stops(str(p["token"]), float(p["share"]), int(p.get("seed", 7)))}


def _rental_status(sim: Simulator, p: dict[str, Any]) -> dict[str, Any]:
    sim.set_rental_status(str(p["token"]), int(p["status"]))
    return {"ok": True}


def _rental_cost(sim: Simulator, p: dict[str, Any]) -> dict[str, Any]:
    sim.set_rental_unit_cost(str(p["token"]), Decimal(str(p["unit_cost"])))
    return {"ok": True}


def _callbacks(sim: Simulator, p: dict[str, Any]) -> dict[str, Any]:
    """The callback URLs of the account ``account`` names (each account calls its own: docs/push.md)."""
    account = _target(sim, p)
    cb = account.attach_callbacks(**{k: v for k, v in p.items() if k != "account"})
    return {"ok": True, "stop_url": cb.stop_url is not None, "dlr_url": cb.dlr_url is not None, "sent": len(cb.deliveries)}


def _inbound(sim: Simulator, p: dict[str, Any]) -> dict[str, Any]:
    at = datetime.fromisoformat(p["at"]) if p.get("at") else None
    _target(sim, p).inbound_sms(
        str(p["phone"]), str(p.get("text", "STOP")), message_id=p.get("message_id"), at=at, style=str(p.get("style", "short"))
    )
    return {"ok": True}


def _subaccount_create(sim: Simulator, p: dict[str, Any]) -> dict[str, Any]:
    """A sub-account with its own state: the seed file's sub-account entry (stops, groups, balance...)."""
    sub = seedfile.add_subaccount(sim, p)
    return {"ok": True, "id": sub.id, "token": sub.token, "api_key": sub.api_key}


def _subaccount_revoke(sim: Simulator, p: dict[str, Any]) -> dict[str, Any]:
    sub = sim.subaccounts.revoke(p["token"], rotate=bool(p.get("rotate")))
    return {"ok": True, "token": sub.token, "api_key": sub.api_key}


def _subaccount_remove(sim: Simulator, p: dict[str, Any]) -> dict[str, Any]:
    with sim.lock:
        sim.subaccounts.remove(p["token"])
    return {"ok": True}


def _subaccounts(sim: Simulator, p: dict[str, Any]) -> dict[str, Any]:
    subs = sim.subaccounts.listed()
    rows = [
        {"id": s.id, "email": s.email, "type": s.type, "token": s.token, "revoked": s.revoked, "balance": s.account.balance}
        for s in subs
    ]
    return {"ok": True, "balance": sim.balance, "subaccounts": rows}


def _group_add(sim: Simulator, p: dict[str, Any]) -> dict[str, Any]:
    group_id, contact_ids = seedfile.add_group(_target(sim, p), p)
    return {"ok": True, "group_id": group_id, "contact_ids": contact_ids}


def _contact_stop(sim: Simulator, p: dict[str, Any]) -> dict[str, Any]:
    """Flip a contact's ``stopSms`` (no endpoint does; the flag is independent of the STOP list)."""
    account = _target(sim, p)
    with account.lock:
        contact = account.contacts.set_stop(p["contact_id"], bool(p.get("stop", True)))
    return {"ok": True, "contact_id": contact.id, "stop_sms": contact.stop_sms}


_ACTIONS = {
    "state": _state,
    "clock": _clock,
    "faults": _faults,
    "quirks": _quirks,
    "calls": _calls,
    "truth/stops": _stops,
    "truth/messages": _messages,
    "truth/recipient": _recipient,
    "events": _events,
    "stops/add": _stop_add,
    "stops/remove": _stop_remove,
    "send": _send,
    "rentals/flip": _rental_flip,
    "rentals/status": _rental_status,
    "rentals/cost": _rental_cost,
    "callbacks": _callbacks,
    "inbound": _inbound,
    "subaccounts": _subaccounts,
    "subaccounts/create": _subaccount_create,
    "subaccounts/revoke": _subaccount_revoke,
    "subaccounts/remove": _subaccount_remove,
    "groups/add": _group_add,
    "contacts/stop": _contact_stop,
}
