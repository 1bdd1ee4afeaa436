"""Sub-account endpoints (ACCOUNTS.md §2): create, list, remove, credit add and remove.

Why apart from handlers.py: these act on the parent's registry of sub-accounts (accounts.py), not on one
account's state. A sub-account key reaches them too and gets what a sub-account may do: nothing (code 2
on create, 4 on credit moves, an empty list, 404 on remove). The rules chosen where the docs are silent
are in docs/accounts.md.
"""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Any

from .accounts import CENT, TYPES, SubAccount, amount
from .codes import ApiFailure
from .core import Simulator
from .handlers import Params, Route, _bool, _req
from .shapes import ident, money, page_number, page_of, ymd

_PARAMETER_KEYS = ("email", "isBuyer", "creditToAttribute", "title", "firstname", "lastname")


def _parameters(p: Params) -> dict[str, Any]:
    """``parameters{}`` from a JSON body, a JSON text in the query, or flat keys (a GET, §2.1)."""
    raw = p.get("parameters")
    if isinstance(raw, str):
        try:
            raw = json.loads(raw)
        except ValueError:
            raw = None
    out = {k: p[k] for k in _PARAMETER_KEYS if k in p}
    if isinstance(raw, dict):
        out.update(raw)
    return out


def subaccount_create(sim: Simulator, p: Params, method: str) -> dict[str, Any]:
    """§2.1: POST (the header's GET is accepted); the answer carries no id, key or balance."""
    if sim.parent is not None:
        raise ApiFailure(2)
    kind = str(_req(p, "type", code=4)).strip()
    if kind not in TYPES:
        raise ApiFailure(5)
    params = _parameters(p)
    email = str(_req(params, "email", code=6)).strip()
    if kind == "advanced" and params.get("isBuyer") in (None, ""):
        raise ApiFailure(3)
    credit = Decimal(0)
    if params.get("creditToAttribute") not in (None, ""):
        credit = amount(params["creditToAttribute"], 8)
    with sim.lock:
        sub = sim.subaccounts.create(
            email, kind, credit=credit, is_buyer=_bool(params.get("isBuyer", 0)), title=str(params.get("title") or "")
        )
    return {
        "success": True,
        "code": 200,
        "subaccount": {"email": sub.email, "token": sub.token},
        "sendConfirmMailTo": sub.email,
        "parent_email": sim.user["username"],
    }


def _listed(sim: Simulator, sub: SubAccount) -> dict[str, Any]:
    q = sim.quirks
    return {
        "id": ident(q, sub.id, "int"),
        "email": sub.email,
        "type": sub.type,
        "token": sub.token,
        "apiKey": sub.api_key,  # §2.2: in clear, as documented; the client must treat it as a secret
        "createdAt": ymd(q, sub.created_at),
        "credits": {"balance": money(q, sub.account.balance.quantize(CENT), "str"), "currency": "EUR"},
    }


def subaccount_list(sim: Simulator, p: Params, method: str) -> dict[str, Any]:
    """§2.2: 20 a page, sorted by id, removed sub-accounts gone, a page past the end empty (docs/accounts.md)."""
    q = sim.quirks
    size = max(1, q.subaccount_page_size)
    page = page_number(p)
    with sim.lock:
        subs = sim.subaccounts.listed()
        data = [_listed(sim, s) for s in page_of(q, subs, page, size)]
    return {"success": True, "code": 200, "total": len(subs), "nb_per_page": size, "page": page, "data": data}


def subaccount_remove(sim: Simulator, p: Params, method: str) -> dict[str, Any]:
    """§2.3: DELETE with a JSON body (POST accepted); the key then answers code 10."""
    token = _req(p, "token", code=1)
    with sim.lock:
        sim.subaccounts.remove(token)
    return {"success": True, "code": 200}


def _credit_move(sim: Simulator, p: Params, *, to_sub: bool) -> dict[str, Any]:
    if sim.parent is not None:
        raise ApiFailure(4)
    raw = _req(p, "credit", code=2)
    token = _req(p, "tokenSubaccount", code=3)
    credit = amount(raw, 5)  # a string ("100") in most samples, an int in Java's (§2.4)
    q = sim.quirks
    with sim.lock:
        sub = sim.subaccounts.move_credit(token, credit, to_sub=to_sub)
        parent_balance, sub_balance = sim.balance, sub.account.balance
    return {
        "success": True,
        "code": 200,
        "credit": money(q, parent_balance, "float"),
        "subaccountCredit": money(q, sub_balance, "float"),
        "currency": "EUR",
    }


def credit_add(sim: Simulator, p: Params, method: str) -> dict[str, Any]:
    return _credit_move(sim, p, to_sub=True)


def credit_remove(sim: Simulator, p: Params, method: str) -> dict[str, Any]:
    return _credit_move(sim, p, to_sub=False)


_GET, _POST = frozenset({"GET"}), frozenset({"POST"})

ROUTES: dict[str, Route] = {
    "subaccount/create": Route(frozenset({"GET", "POST"}), subaccount_create, write=True),
    "subaccount/list": Route(_GET, subaccount_list),
    "subaccount/remove": Route(frozenset({"DELETE", "POST"}), subaccount_remove, write=True, missing_key_code=10),
    "subaccount/credit/add": Route(_POST, credit_add, write=True),
    "subaccount/credit/remove": Route(_POST, credit_remove, write=True),
}
