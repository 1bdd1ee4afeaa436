"""Sub-accounts: ``/subaccount/list`` pages, ``/subaccount/create`` and the credit moves (ACCOUNTS.md §2).

A listed sub-account carries its own API key in clear (§2.2): it becomes a `Secret` here, the only place
it is read, and an item that cannot be read is kept as an `Unreadable` with the key masked, so the
quarantine never stores one.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

from etl.api.parse.unreadable import Unreadable
from etl.api.parse.values import (
    _currency,
    _id_str,
    _mapping,
    _opt_amount,
    _opt_int,
    _require,
    _str,
    parse_datetime,
)
from etl.errors import PayloadError
from etl.secrets import Secret

SUBACCOUNT_PAGE_SIZE = 20
"""``nb_per_page`` when an answer omits it (§2.2)."""

_MASK = "***"


@dataclass(frozen=True, slots=True)
class SubAccount:
    """One ``data[]`` item of ``/subaccount/list``. ``token`` is the identifier the parent's calls take;
    ``api_key`` the sub-account's own key, a secret held in memory only."""

    api_id: str
    email: str
    type: str
    token: str
    api_key: Secret
    #: ``createdAt`` is Paris local time without a zone (§6.7), returned in UTC.
    created_at: datetime | None
    balance: Decimal | None
    currency: str | None


@dataclass(frozen=True, slots=True)
class SubAccountPage:
    """One page of ``/subaccount/list``: ``total`` over every page, the readable items and the others."""

    total: int | None
    per_page: int
    page: int | None
    items: tuple[SubAccount, ...]
    unreadable: tuple[Unreadable, ...]


@dataclass(frozen=True, slots=True)
class NewSubAccount:
    """``/subaccount/create``: only the e-mail and the token; id, key and balance come from the list (§2.1)."""

    email: str | None
    token: str


@dataclass(frozen=True, slots=True)
class CreditMove:
    """``/subaccount/credit/add`` and ``/remove``: the balances after the move (floats in the answer, §2.4;
    our reading: ``credit`` is the parent's, ``subaccountCredit`` the sub-account's)."""

    parent_balance: Decimal | None
    subaccount_balance: Decimal | None
    currency: str | None


def parse_subaccount_item(item: Any, endpoint: str = "subaccount/list") -> SubAccount:
    """``{id, email, type, token, apiKey, createdAt, credits{balance, currency}}``; the id as int or string."""
    item = _mapping(item, endpoint, "data[]")
    credits = _mapping({} if item.get("credits") is None else item["credits"], endpoint, "data[].credits")
    key = _str(_require(item, ("apiKey",), endpoint), endpoint, "data[].apiKey")
    if not key.strip():
        raise PayloadError("an empty key", endpoint=endpoint, field="data[].apiKey")
    return SubAccount(
        api_id=_id_str(_require(item, ("id",), endpoint), endpoint, "data[].id"),
        email=_str(_require(item, ("email",), endpoint), endpoint, "data[].email"),
        type=_str(_require(item, ("type",), endpoint), endpoint, "data[].type").strip().lower(),
        token=_id_str(_require(item, ("token",), endpoint), endpoint, "data[].token"),
        api_key=Secret(key.strip()),
        created_at=parse_datetime(item.get("createdAt"), endpoint, "data[].createdAt"),
        balance=_opt_amount(credits.get("balance"), endpoint, "data[].credits.balance", signed=True),
        currency=_currency(credits.get("currency"), endpoint, "data[].credits.currency"),
    )


def _without_key(item: Any) -> Any:
    """The item as the quarantine may keep it: its ``apiKey`` masked."""
    if isinstance(item, Mapping) and "apiKey" in item:
        return {**item, "apiKey": _MASK}
    return item


def parse_subaccount_page(payload: Mapping[str, Any], endpoint: str = "subaccount/list") -> SubAccountPage:
    """One page; ``total``/``nb_per_page``/``page`` as ints or digit strings; ``data`` empty, null or absent
    past the end (undocumented, docs/accounts.md); each item read on its own."""
    raw = payload.get("data")
    if raw is None or raw == {}:
        raw = []
    if not isinstance(raw, list):
        raise PayloadError(f"expected a list, got {type(raw).__name__}", endpoint=endpoint, field="data")
    good: list[SubAccount] = []
    bad: list[Unreadable] = []
    for item in raw:
        try:
            good.append(parse_subaccount_item(item, endpoint))
        except PayloadError as exc:
            bad.append(Unreadable(endpoint, _without_key(item), str(exc)))
    per_page = _opt_int(payload.get("nb_per_page"), endpoint, "nb_per_page")
    return SubAccountPage(
        total=_opt_int(payload.get("total"), endpoint, "total"),
        per_page=per_page if per_page and per_page > 0 else SUBACCOUNT_PAGE_SIZE,
        page=_opt_int(payload.get("page"), endpoint, "page"),
        items=tuple(good),
        unreadable=tuple(bad),
    )


def parse_subaccount_created(payload: Mapping[str, Any], endpoint: str = "subaccount/create") -> NewSubAccount:
    """``{subaccount: {email, token}, sendConfirmMailTo, parent_email}``."""
    sub = _mapping(_require(payload, ("subaccount",), endpoint), endpoint, "subaccount")
    email = sub.get("email")
    return NewSubAccount(
        email=email if isinstance(email, str) else None,
        token=_id_str(_require(sub, ("token",), endpoint), endpoint, "subaccount.token"),
    )


def parse_credit_move(payload: Mapping[str, Any], endpoint: str) -> CreditMove:
    """``{credit, subaccountCredit, currency}``: floats (decoded as decimals) or numeric strings."""
    return CreditMove(
        parent_balance=_opt_amount(payload.get("credit"), endpoint, "credit", signed=True),
        subaccount_balance=_opt_amount(payload.get("subaccountCredit"), endpoint, "subaccountCredit", signed=True),
        currency=_currency(payload.get("currency"), endpoint, "currency"),
    )
