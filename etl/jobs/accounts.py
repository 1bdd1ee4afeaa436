"""The ``accounts`` job: the parent's sub-accounts (`subaccount/list`) into ``accounts``, with their balances.

Run for the parent only (`etl.jobs.PARENT_ONLY_JOBS`). Each run reads every page of the list, then:

- a listed sub-account that is followed (``accounts.discover``, or named by token in
  ``[[accounts.follow]]``) gets its row (inserted with a label, or refreshed, ``gone_since``
  cleared) and its key handed to the process's directory (``ctx.learn_keys``), never stored;
- a followed sub-account missing from a **complete** read gets ``gone_since`` (its rows stay; its
  jobs stop running for it). An unreadable item makes the read incomplete: it is quarantined
  with its ``apiKey`` masked, nothing is marked gone, the run is ``partial``;
- each listed sub-account's ``credits.balance``/``currency`` becomes an ``account_snapshots`` row
  (the parent's comes from ``/me`` in the finance job).

Labels: the configured one, else the e-mail's local part and the API id (``shop-lyon-12``), so a
label is readable and never collides (docs/accounts.md).
"""

from __future__ import annotations

import logging
import re
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, bindparam, insert, select, update

from etl import quarantine, runlog
from etl.accounts import PARENT_ID
from etl.api.parse import SubAccount, Unreadable
from etl.db.schema import account_snapshots, accounts
from etl.jobs.base import JobContext, RunResult
from etl.outcome import Outcome

log = logging.getLogger(__name__)

NAME = "accounts"
ENDPOINT = "subaccount/list"


def run(ctx: JobContext) -> RunResult:
    followed_tokens = {entry.token: entry.label for entry in ctx.config.accounts.follow}
    if not ctx.config.accounts.discover and not followed_tokens:
        with ctx.engine.begin() as conn:
            result = RunResult(detail="no sub-account followed ([accounts] discover = false, no [[accounts.follow]])")
            runlog.finish_run(conn, ctx.run_id, result, ctx.now())
        return result
    listed: list[SubAccount] = []
    unreadable: list[Unreadable] = []
    for item in ctx.client.iter_subaccounts():
        if isinstance(item, Unreadable):
            unreadable.append(item)
        else:
            listed.append(item)
    excluded = set(ctx.config.accounts.exclude)
    chosen = [
        sub for sub in listed
        if sub.token in followed_tokens or (ctx.config.accounts.discover and sub.token not in excluded)
    ]
    ctx.learn_keys([(sub.token, sub.api_key) for sub in chosen])
    now = ctx.now()
    with ctx.engine.begin() as conn:
        added, changed = _upsert(conn, chosen, followed_tokens, excluded, now)
        removed = _mark_gone(conn, {sub.token for sub in listed}, now) if not unreadable else 0
        _snapshot_balances(conn, chosen, ctx.run_id, now)
        bad = quarantine.record(
            conn, [quarantine.Rejection(u.endpoint, u.item, u.reason) for u in unreadable], now,
            run_id=ctx.run_id, secrets=ctx.secrets,
        )
        missing = sorted(label for token, label in followed_tokens.items() if token not in {s.token for s in listed})
        detail = f"listed {len(listed)}, followed {len(chosen)}"
        if missing:
            detail += f"; [[accounts.follow]] not in the list: {', '.join(missing)}"
        result = RunResult(
            added=added, changed=changed, removed=removed,
            outcome=Outcome.PARTIAL if bad else Outcome.SUCCESS,
            detail=f"{quarantine.summary(bad)}; {detail}" if bad else detail,
            figures={"listed": len(listed), "followed": len(chosen)},
        )
        runlog.finish_run(conn, ctx.run_id, result, now)
    for label in missing:
        log.warning("accounts: the followed sub-account %s is not in subaccount/list (removed, or another parent's?)", label)
    return result


def _upsert(
    conn: Connection, chosen: Sequence[SubAccount], configured: Mapping[str, str], excluded: set[str], now: datetime
) -> tuple[int, int]:
    """Insert the new followed sub-accounts, refresh the known ones; (added, changed)."""
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


def _mark_gone(conn: Connection, listed_tokens: set[str], now: datetime) -> int:
    """Sub-accounts no longer listed: ``gone_since`` now (only after a complete read)."""
    a = accounts.c
    rows = conn.execute(
        select(a.id, a.token).where(a.parent_id == PARENT_ID, a.gone_since.is_(None), a.token.is_not(None))
    ).all()
    gone = [row.id for row in rows if row.token not in listed_tokens]
    if gone:
        conn.execute(update(accounts).where(a.id.in_(gone)).values(gone_since=now))
    return len(gone)


def _snapshot_balances(conn: Connection, chosen: Sequence[SubAccount], run_id: int, now: datetime) -> None:
    a = accounts.c
    ids = {t: i for t, i in conn.execute(select(a.token, a.id).where(a.token.in_([s.token for s in chosen])))} if chosen else {}
    rows = [
        {"account_id": ids[sub.token], "observed_at": now, "run_id": run_id, "balance": sub.balance, "currency": sub.currency}
        for sub in chosen if sub.token in ids
    ]
    if rows:
        conn.execute(insert(account_snapshots), rows)


_SLUG = re.compile(r"[^a-z0-9]+")


def _label_for(sub: SubAccount, taken: set[str]) -> str:
    """``shop-lyon-12`` from ``shop.lyon@example.com`` and API id 12; the id alone without an e-mail."""
    local = _SLUG.sub("-", (sub.email or "").split("@", 1)[0].lower()).strip("-")[:24].strip("-")
    base = f"{local}-{sub.api_id}" if local else f"sub-{sub.api_id}"
    label, n = base[:32], 2
    while label in taken:
        label, n = f"{base[:28]}-{n}", n + 1
    return label
