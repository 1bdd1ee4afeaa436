"""What the parent's ``subaccount/list`` says about a sub-account write, and the write's effect on ``accounts``.

The list is the only read that shows a sub-account's existence and balance (ACCOUNTS §2.2), so it is read
before a credit move (the balance the move starts from) or a creation (is the e-mail already there?), and
again to settle a write whose answer never came: the balance moved by the amount or not at all, the e-mail
appeared or not, the token left or not. A listing with an unreadable item is incomplete: an absence in it
proves nothing, so it decides nothing that rests on an absence.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Protocol

from sqlalchemy import Connection, select

from etl.account_rows import mark_tokens_gone, upsert_listed
from etl.api.parse import SubAccount, Unreadable
from etl.api.protocol import ApiClient
from etl.db.schema import accounts
from etl.outcome import ActionOutcome

#: The sub-account writes, settled from the list (the others from the stop list or the message statuses).
SUBACCOUNT_ACTIONS = frozenset({"credit_add", "credit_remove", "subaccount_create", "subaccount_remove"})

#: What settling a sub-account write does to our copy once it is known to have happened.
Effect = Callable[[Connection, datetime], None]


class AuditRow(Protocol):
    """The ``write_actions`` columns a re-read needs."""

    action: str
    target: str
    amount: Decimal | None
    balance_before: Decimal | None


@dataclass(frozen=True)
class Listing:
    """One full read of ``subaccount/list``; ``complete`` when no item was unreadable."""

    subs: tuple[SubAccount, ...]
    complete: bool

    def by_token(self, token: str) -> SubAccount | None:
        return next((s for s in self.subs if s.token == token), None)

    def by_email(self, email: str) -> SubAccount | None:
        wanted = email.strip().lower()
        return next((s for s in self.subs if s.email.strip().lower() == wanted), None)


def read_listing(client: ApiClient) -> Listing:
    """Every page of the parent's list (the client learns each key read as a secret, never returns it in text)."""
    subs: list[SubAccount] = []
    complete = True
    for item in client.iter_subaccounts():
        if isinstance(item, Unreadable):
            complete = False
        else:
            subs.append(item)
    return Listing(tuple(subs), complete)


def record_created(conn: Connection, sub: SubAccount, now: datetime) -> str:
    """The ``accounts`` row of a sub-account this tool created (the accounts job's own upsert); its label."""
    upsert_listed(conn, [sub], {}, set(), now)
    return str(conn.execute(select(accounts.c.label).where(accounts.c.token == sub.token)).scalar_one())


def record_removed(conn: Connection, token: str, now: datetime) -> None:
    mark_tokens_gone(conn, [token], now)


def reread(client: ApiClient, row: AuditRow) -> tuple[ActionOutcome, str, Effect | None] | None:
    """(outcome, message, effect) of a sub-account write from a fresh listing; ``None`` when it cannot tell yet."""
    listing = read_listing(client)
    if row.action in ("credit_add", "credit_remove"):
        return _credit_moved(row, listing.by_token(row.target))
    if row.action == "subaccount_create":
        sub = listing.by_email(row.target)
        if sub is not None:
            def created(conn: Connection, at: datetime) -> None:
                record_created(conn, sub, at)

            return ActionOutcome.RESOLVED_SUCCESS, f"{row.target} is in subaccount/list (token {sub.token}): created", created
        if listing.complete:
            return ActionOutcome.RESOLVED_NOT_DONE, f"{row.target} is not in subaccount/list: not created", None
        return None
    if row.action == "subaccount_remove":
        if listing.by_token(row.target) is not None:
            return ActionOutcome.RESOLVED_NOT_DONE, f"token {row.target} is still in subaccount/list: not removed", None
        if listing.complete:
            def removed(conn: Connection, at: datetime) -> None:
                record_removed(conn, row.target, at)

            return ActionOutcome.RESOLVED_SUCCESS, f"token {row.target} is no longer in subaccount/list: removed", removed
    return None


def _credit_moved(row: AuditRow, sub: SubAccount | None) -> tuple[ActionOutcome, str, Effect | None] | None:
    """The balance moved by exactly the amount (done) or not at all (not done). Anything else (the
    sub-account sent messages meanwhile, another move) cannot tell: the row stays ``unknown``."""
    if sub is None or sub.balance is None or row.balance_before is None or row.amount is None:
        return None
    before, amount = row.balance_before, row.amount
    expected = amount if row.action == "credit_add" else -amount
    moved = sub.balance - before
    seen = f"balance {_euros(before)} before, {_euros(sub.balance)} now"
    if moved == expected:
        return ActionOutcome.RESOLVED_SUCCESS, f"{seen}: the {_euros(amount)} EUR were moved", None
    if moved == 0:
        return ActionOutcome.RESOLVED_NOT_DONE, f"{seen}: nothing was moved", None
    return None


def _euros(value: Decimal) -> str:
    """3 decimals, as the list quotes balances."""
    return f"{value:.3f}"
