"""The ``accounts`` rows of sub-accounts, as ``subaccount/list`` shows them: inserted, refreshed, gone.

Shared by the ``accounts`` job (every listed, followed sub-account) and the audited sub-account writes
(``accounts create`` records the new one once the list shows it, ``accounts remove`` marks it gone), so
both label and date a row the same way. Helpers take a connection and never commit.

Labels: the configured one, else the e-mail's local part and the API id (``shop-lyon-12``), so a
label is readable and never collides (docs/accounts.md).
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, bindparam, insert, select, update

from etl.accounts import PARENT_ID
from etl.api.parse import SubAccount
from etl.db.schema import accounts

__all__ = ["mark_tokens_gone", "mark_unlisted_gone", "upsert_listed"]


def upsert_listed(
    conn: Connection, chosen: Sequence[SubAccount], configured: Mapping[str, str], excluded: set[str], now: datetime
) -> tuple[int, int]:
    """Insert the new followed sub-accounts, refresh the known ones; (added, changed). Also what a
    sub-account created by ``accounts create`` gets once the list shows it (`etl.jobs.actions`)."""
    a = accounts.c
    known = {row.token: row for row in conn.execute(select(a.id, a.token, a.label, a.email, a.type, a.gone_since))}
    taken = {row.label for row in conn.execute(select(a.label))}
    new_rows: list[dict[str, Any]] = []
    refreshed: list[dict[str, Any]] = []
    changed = 0
    for sub in chosen:
        row = known.get(sub.token)
        if row is None:
            label = configured.get(sub.token) or _label_for(sub, taken)
            taken.add(label)
            new_rows.append({
                "api_id": sub.api_id, "parent_id": PARENT_ID, "label": label, "email": sub.email, "type": sub.type,
                "token": sub.token, "api_created_at": sub.created_at, "first_seen_at": now, "last_seen_at": now,
            })
            continue
        if row.gone_since is not None or row.email != sub.email or row.type != sub.type:
            changed += 1
        refreshed.append({"b_id": row.id, "email": sub.email, "type": sub.type, "api_id": sub.api_id, "last_seen_at": now})
    if new_rows:
        conn.execute(insert(accounts), new_rows)
    if refreshed:
        conn.execute(
            update(accounts).where(a.id == bindparam("b_id")).values(
                email=bindparam("email"), type=bindparam("type"), api_id=bindparam("api_id"),
                last_seen_at=bindparam("last_seen_at"), gone_since=None,
            ),
            refreshed,
        )
    return len(new_rows), changed


def mark_unlisted_gone(conn: Connection, listed_tokens: set[str], now: datetime) -> int:
    """Sub-accounts no longer listed: ``gone_since`` now (only after a complete read)."""
    a = accounts.c
    rows = conn.execute(
        select(a.id, a.token).where(a.parent_id == PARENT_ID, a.gone_since.is_(None), a.token.is_not(None))
    ).all()
    return mark_tokens_gone(conn, [row.token for row in rows if row.token not in listed_tokens], now)


def mark_tokens_gone(conn: Connection, tokens: Sequence[str], now: datetime) -> int:
    """These sub-accounts left the list (or were removed by ``accounts remove``): ``gone_since`` now."""
    a = accounts.c
    if not tokens:
        return 0
    return int(conn.execute(
        update(accounts).where(a.token.in_(list(tokens)), a.gone_since.is_(None)).values(gone_since=now)
    ).rowcount or 0)


_SLUG = re.compile(r"[^a-z0-9]+")


def _label_for(sub: SubAccount, taken: set[str]) -> str:
    """``shop-lyon-12`` from ``shop.lyon@example.com`` and API id 12; the id alone without an e-mail."""
    local = _SLUG.sub("-", (sub.email or "").split("@", 1)[0].lower()).strip("-")[:24].strip("-")
    base = f"{local}-{sub.api_id}" if local else f"sub-{sub.api_id}"
    label, n = base[:32], 2
    while label in taken:
        label, n = f"{base[:28]}-{n}", n + 1
    return label
