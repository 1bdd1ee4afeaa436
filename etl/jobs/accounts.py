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

The rows themselves (labels, refresh, gone) are written by `etl.account_rows`, which ``accounts create``
and ``accounts remove`` share (`etl.jobs.actions`).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import Connection, insert, select

from etl import quarantine, runlog
from etl.account_rows import mark_unlisted_gone, upsert_listed
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
        added, changed = upsert_listed(conn, chosen, followed_tokens, excluded, now)
        listed_tokens = {sub.token for sub in listed}
        removed = mark_unlisted_gone(conn, listed_tokens, now) if not unreadable else 0
        _snapshot_balances(conn, chosen, ctx.run_id, now)
        bad = quarantine.record(
            conn, [quarantine.Rejection(u.endpoint, u.item, u.reason) for u in unreadable], now,
            run_id=ctx.run_id, secrets=ctx.secrets,
        )
        missing = sorted(label for token, label in followed_tokens.items() if token not in listed_tokens)
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


def _snapshot_balances(conn: Connection, chosen: Sequence[SubAccount], run_id: int, now: datetime) -> None:
    a = accounts.c
    ids = {t: i for t, i in conn.execute(select(a.token, a.id).where(a.token.in_([s.token for s in chosen])))} if chosen else {}
    rows = [
        {"account_id": ids[sub.token], "observed_at": now, "run_id": run_id, "balance": sub.balance, "currency": sub.currency}
        for sub in chosen if sub.token in ids
    ]
    if rows:
        conn.execute(insert(account_snapshots), rows)
