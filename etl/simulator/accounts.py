"""Sub-accounts of the simulated parent account (ACCOUNTS.md §2): each one a whole `Simulator` of its own.

Why: the platform keeps one state per account (stop list, messages, rentals, groups, balance) behind one
key per account; a sub-account here is a `Simulator` that shares the parent's clock, quirks, faults, lock
and call log but nothing else, so every existing endpoint answers a sub-account key unchanged. Requests are
routed by key (`SubAccounts.account_for_key`); a revoked or removed key is unknown (code 10). The answers
chosen where the docs are silent are in docs/accounts.md.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import TYPE_CHECKING

from .codes import ApiFailure

if TYPE_CHECKING:
    from .core import Simulator

TYPES = ("simple", "advanced")
CENT = Decimal("0.001")

#: Every generated sub-account key starts so (tests/harness/leakcheck.py searches logs for it).
KEY_PREFIX = "sim-sub-"


@dataclass
class SubAccount:
    """What the platform knows of a sub-account besides its state (``account``)."""

    id: int
    email: str
    type: str
    token: str
    api_key: str
    created_at: datetime
    account: Simulator
    is_buyer: bool = False
    title: str = ""
    revoked: bool = False


def derived(kind: str, seed: int, number: int, email: str, size: int) -> str:
    """A stable hex string: tokens and keys are the same from run to run for the same seed."""
    return hashlib.sha256(f"{kind}:{seed}:{number}:{email}".encode()).hexdigest()[:size]


def amount(raw: object, code: int) -> Decimal:
    """A euro amount sent as a string or a number (§2.4), > 0 with at most 3 decimals, else ``code``."""
    if isinstance(raw, bool):
        raise ApiFailure(code)
    try:
        value = Decimal(str(raw).strip())
    except ArithmeticError:
        raise ApiFailure(code) from None
    if not value.is_finite() or value <= 0 or value != value.quantize(CENT):
        raise ApiFailure(code)
    return value


class SubAccounts:
    """The parent's sub-accounts, by token; only the parent `Simulator` holds one."""

    def __init__(self, parent: Simulator) -> None:
        self.parent = parent
        self.by_token: dict[str, SubAccount] = {}
        self._next_id = 1

    def account_for_key(self, key: str) -> tuple[Simulator, SubAccount | None] | None:
        """The account a key opens (parent or live sub-account), None for an unknown key."""
        if key == self.parent.api_key:
            return self.parent, None
        for sub in self.by_token.values():
            if sub.api_key == key and not sub.revoked:
                return sub.account, sub
        return None

    def listed(self) -> list[SubAccount]:
        """What subaccount/list shows: sorted by id, removed ones gone (our answers, docs/accounts.md)."""
        return sorted(self.by_token.values(), key=lambda s: s.id)

    def get(self, token: object) -> SubAccount | None:
        return self.by_token.get(str(token).strip())

    def create(
        self,
        email: str,
        type_: str = "simple",
        *,
        credit: Decimal = Decimal(0),
        token: str | None = None,
        api_key: str | None = None,
        created_at: datetime | None = None,
        is_buyer: bool = False,
        title: str = "",
    ) -> SubAccount:
        """A new sub-account, ``credit`` euros taken from the parent (code 9 when the parent lacks them)."""
        from .core import Simulator

        parent = self.parent
        if type_ not in TYPES:
            raise ApiFailure(5)
        if any(s.email.lower() == email.lower() for s in self.by_token.values()) or email.lower() == parent.user["username"]:
            raise ApiFailure(7)
        if credit > parent.balance:
            raise ApiFailure(9)
        number = self._next_id
        token = token or derived("token", parent.seed, number, email, 24)
        api_key = api_key or KEY_PREFIX + derived("key", parent.seed, number, email, 32)
        if token in self.by_token or self.account_for_key(api_key) is not None:
            raise ValueError(f"sub-account token or key already in use ({token})")
        self._next_id += 1
        account = Simulator(api_key=api_key, seed=parent.seed * 1000 + number, parent=parent)
        account.balance = credit
        account.credit_hlr = 0
        account.user = {"id": 5000 + number, "username": email, "firstname": title, "lastname": ""}
        parent.balance -= credit
        sub = SubAccount(number, email, type_, token, api_key, created_at or parent.clock.now(), account, is_buyer, title)
        self.by_token[token] = sub
        parent._event("subaccount_created", id=number, token=token, credit=credit)
        return sub

    def remove(self, token: object) -> SubAccount:
        """Remove a sub-account: its key answers code 10 and, with ``subaccount_remove_refund``, its balance returns to the parent."""
        sub = self.get(token)
        if sub is None:
            raise ApiFailure(404)
        del self.by_token[sub.token]
        if self.parent.quirks.subaccount_remove_refund:
            self.parent.balance += sub.account.balance
        self.parent._event("subaccount_removed", id=sub.id, token=sub.token, balance=sub.account.balance)
        return sub

    def revoke(self, token: object, *, rotate: bool = False) -> SubAccount:
        """The key stops working (code 10); ``rotate`` issues a new key, which the list then shows."""
        sub = self.get(token)
        if sub is None:
            raise KeyError(str(token))
        if rotate:
            sub.api_key = KEY_PREFIX + derived("rotated", self.parent.seed, sub.id, sub.api_key, 32)
            sub.account.api_key = sub.api_key
            sub.revoked = False
        else:
            sub.revoked = True
        self.parent._event("subaccount_revoked", id=sub.id, token=sub.token, rotated=rotate)
        return sub

    def move_credit(self, token: object, credit: Decimal, *, to_sub: bool) -> SubAccount:
        """Move euros between the parent and a sub-account (§2.4): 7 unknown sub-account, 6 the source
        holds nothing, 8 the source holds less than ``credit``."""
        sub = self.get(token)
        if sub is None:
            raise ApiFailure(7)
        source, target = (self.parent, sub.account) if to_sub else (sub.account, self.parent)
        if source.balance <= 0:
            raise ApiFailure(6)
        if source.balance < credit:
            raise ApiFailure(8)
        source.balance -= credit
        target.balance += credit
        self.parent._event("credit_moved", token=sub.token, credit=credit, to_sub=to_sub)
        return sub
