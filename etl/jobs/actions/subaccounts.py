"""The parent's audited writes on its sub-accounts: credit moves, create, remove (docs/rentals-and-actions.md).

Each goes the way of the stop writes (`etl.jobs.actions`): a ``pending`` row before the one call, made with
the parent's key, completed with its effect; an answer that never came is settled by re-reading
``subaccount/list`` (`listing.reread`), never by sending again. A sub-account is named by its label or token
in ``accounts``; the parent, an unknown name and a removed sub-account are refused before any call and row.

A credit move first reads the list: the sub-account must be listed, and its balance there is recorded on
the row (``balance_before``, with ``amount``) so that an unknown outcome can be settled by the balance.
A creation first reads it too: an e-mail already listed is refused (the API would answer code 7, and a
re-read could not tell the new sub-account from the old one).
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from sqlalchemy import Connection, Engine, func, or_, select

from etl.accounts import PARENT
from etl.api.parse import CreditMove, NewSubAccount, SubAccount, WriteResult
from etl.api.protocol import ApiClient
from etl.clock import Clock, utcnow
from etl.db.engine import writer
from etl.db.schema import accounts
from etl.errors import ApiError, InputError
from etl.jobs.actions.audit import _open_action
from etl.jobs.actions.call import ActionResult, _call, _dry_run
from etl.jobs.actions.codes import ENDPOINT_OF
from etl.jobs.actions.listing import read_listing, record_created, record_removed

log = logging.getLogger(__name__)

SUBACCOUNT_TYPES = ("simple", "advanced")
#: A euro amount: digits, optionally a point and at most 3 decimals (the list quotes balances so; the
#: simulator refuses more, ACCOUNTS §2.4). 12 integer digits is what ``write_actions.amount`` holds.
_AMOUNT = re.compile(r"\d{1,12}(\.\d{1,3})?")
#: ``write_actions.target`` holds 64 characters, and a creation is settled by finding its e-mail again.
MAX_EMAIL = 64
_EMAIL = re.compile(r"[^@\s]+@[^@\s]+\.[^@\s]+")


@dataclass(frozen=True)
class SubAccountRow:
    """A sub-account as ``accounts`` knows it."""

    id: int
    label: str
    token: str
    email: str | None


def parse_amount(text: str | Decimal) -> Decimal:
    """A positive euro amount with at most 3 decimals, or `InputError` saying what is wrong."""
    raw = str(text).strip()
    if "," in raw:
        raise InputError(f"{text!r} is not an amount: write euros with a point, e.g. 10.50")
    if not _AMOUNT.fullmatch(raw):
        raise InputError(f"{text!r} is not an amount: a positive number of euros with at most 3 decimals, e.g. 10.50")
    amount = Decimal(raw)
    if amount <= 0:
        raise InputError(f"{text!r} is not an amount: it must be above 0")
    return amount


def find_subaccount(engine: Engine, name: str) -> SubAccountRow:
    """The sub-account labelled or with token ``name``; `InputError` for the parent, an unknown name or a gone one."""
    a = accounts.c
    with engine.connect() as conn:
        row = conn.execute(
            select(a.id, a.label, a.token, a.email, a.gone_since).where(or_(a.label == name, a.token == name))
        ).first()
        conn.rollback()
    if row is None:
        raise InputError(
            f"{name!r} is neither the label nor the token of a sub-account in the accounts table "
            "(the accounts job records them: `smspartner-etl sync accounts --once`)"
        )
    if row.id == PARENT.id or row.token is None:
        raise InputError(f"{row.label} is the parent account: name one of its sub-accounts")
    if row.gone_since is not None:
        raise InputError(f"{row.label} left subaccount/list on {row.gone_since:%Y-%m-%d %H:%M} UTC (removed): nothing sent")
    return SubAccountRow(int(row.id), str(row.label), str(row.token), row.email)


def credit_add(
    client: ApiClient | None, engine: Engine, sub: str, amount: str | Decimal, *, actor: str | None = None,
    reason: str | None = None, now: Clock = utcnow, dry_run: bool = False,
) -> ActionResult:
    """Move ``amount`` euros from the parent to the sub-account ``sub`` (label or token)."""
    return _move_credit(client, engine, sub, amount, to_sub=True, actor=actor, reason=reason, now=now, dry_run=dry_run)


def credit_remove(
    client: ApiClient | None, engine: Engine, sub: str, amount: str | Decimal, *, actor: str | None = None,
    reason: str | None = None, now: Clock = utcnow, dry_run: bool = False,
) -> ActionResult:
    """Move ``amount`` euros from the sub-account ``sub`` (label or token) back to the parent."""
    return _move_credit(client, engine, sub, amount, to_sub=False, actor=actor, reason=reason, now=now, dry_run=dry_run)


def _move_credit(
    client: ApiClient | None, engine: Engine, sub: str, amount: str | Decimal, *, to_sub: bool,
    actor: str | None, reason: str | None, now: Clock, dry_run: bool,
) -> ActionResult:
    engine = writer(engine)
    euros = parse_amount(amount)
    account = find_subaccount(engine, sub)
    action = "credit_add" if to_sub else "credit_remove"
    way = f"from {PARENT.label} to {account.label}" if to_sub else f"from {account.label} to {PARENT.label}"
    if dry_run:
        return _dry_run(action, account.token, f"would move {euros} EUR {way} (POST {ENDPOINT_OF[action]})")
    assert client is not None, "only a dry run goes without a client"
    listed = read_listing(client).by_token(account.token)
    if listed is None:
        raise InputError(f"{account.label} is not in the parent's subaccount/list (removed?): nothing sent")
    if listed.balance is None:
        raise InputError(f"{account.label}'s balance is not readable in subaccount/list: nothing sent")
    action_id = _open_action(
        engine, action, account.token, actor, reason, now(), amount=euros, balance_before=listed.balance
    )

    def call() -> CreditMove:
        return client.credit_add(account.token, euros) if to_sub else client.credit_remove(account.token, euros)

    def effect(conn: Connection, answer: CreditMove, at: datetime) -> tuple[str, int | None]:
        after = [
            f"{name} {value:.3f} {answer.currency or 'EUR'}"
            for name, value in ((account.label, answer.subaccount_balance), (PARENT.label, answer.parent_balance))
            if value is not None
        ]
        return f"moved {euros} EUR {way}" + (f" (now {', '.join(after)})" if after else ""), None

    return _call(engine, client, action_id, action, account.token, call, effect, now)


@dataclass(frozen=True)
class _Created:
    """A creation's answer and the new sub-account as the list then shows it (``None`` when not yet)."""

    new: NewSubAccount
    listed: SubAccount | None


def create_subaccount(
    client: ApiClient | None, engine: Engine, email: str, kind: str, *, credit: str | Decimal | None = None,
    actor: str | None = None, reason: str | None = None, now: Clock = utcnow, dry_run: bool = False,
) -> ActionResult:
    """Create a ``simple`` or ``advanced`` sub-account for ``email``, optionally with ``credit`` euros from the
    parent; once the list shows it, its ``accounts`` row is inserted as the accounts job would."""
    engine = writer(engine)
    address = email.strip()
    if len(address) > MAX_EMAIL or not _EMAIL.fullmatch(address):
        raise InputError(f"{email!r} is not an e-mail address of at most {MAX_EMAIL} characters")
    if kind not in SUBACCOUNT_TYPES:
        raise InputError(f"{kind!r} is not a sub-account type: simple or advanced")
    euros = parse_amount(credit) if credit is not None else None
    _refuse_known_email(engine, address)
    gift = f" with {euros} EUR from {PARENT.label}" if euros is not None else ""
    if dry_run:
        return _dry_run(
            "subaccount_create", address,
            f"would create a {kind} sub-account for {address}{gift} (POST subaccount/create; the type is permanent)",
        )
    assert client is not None, "only a dry run goes without a client"
    if read_listing(client).by_email(address) is not None:
        raise InputError(f"{address} is already a sub-account in the parent's subaccount/list: nothing sent")
    action_id = _open_action(engine, "subaccount_create", address, actor, reason, now(), amount=euros)

    def call() -> _Created:
        new = client.subaccount_create(address, kind, credit=euros)
        try:
            listed = read_listing(client).by_token(new.token)
        except ApiError as exc:  # the creation is done; the accounts job records the row later
            log.warning("subaccount/create: %s created, but the list could not be read (%s)", address, exc)
            listed = None
        return _Created(new, listed)

    def effect(conn: Connection, answer: _Created, at: datetime) -> tuple[str, int | None]:
        made = f"{kind} sub-account {address} created{gift} (token {answer.new.token})"
        if answer.listed is None:
            return f"{made}; not yet in subaccount/list: the accounts job records it", None
        return f"{made}, recorded as {record_created(conn, answer.listed, at)}", None

    return _call(engine, client, action_id, "subaccount_create", address, call, effect, now)


def _refuse_known_email(engine: Engine, address: str) -> None:
    a = accounts.c
    with engine.connect() as conn:
        known = conn.execute(
            select(a.label).where(func.lower(a.email) == address.lower(), a.gone_since.is_(None), a.token.is_not(None))
        ).scalar()
        conn.rollback()
    if known is not None:
        raise InputError(f"{address} is already the sub-account {known}: nothing sent")


def remove_subaccount(
    client: ApiClient | None, engine: Engine, sub: str, *, actor: str | None = None, reason: str | None = None,
    now: Clock = utcnow, dry_run: bool = False,
) -> ActionResult:
    """Remove the sub-account ``sub`` (label or token): its key stops working; its row gets ``gone_since``."""
    engine = writer(engine)
    account = find_subaccount(engine, sub)
    named = f"{account.label}" + (f" ({account.email})" if account.email else "")
    if dry_run:
        return _dry_run(
            "subaccount_remove", account.token,
            f"would remove the sub-account {named} (DELETE subaccount/remove); its key would stop working",
        )
    assert client is not None, "only a dry run goes without a client"
    action_id = _open_action(engine, "subaccount_remove", account.token, actor, reason, now())

    def effect(conn: Connection, answer: WriteResult, at: datetime) -> tuple[str, int | None]:
        record_removed(conn, account.token, at)
        return f"sub-account {named} removed", None

    return _call(
        engine, client, action_id, "subaccount_remove", account.token, lambda: client.subaccount_remove(account.token),
        effect, now,
    )
