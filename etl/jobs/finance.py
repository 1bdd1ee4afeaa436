"""The account's own figures: ``/me`` (credits, balance) as history, ``/statistics/cost-resume`` monthly totals.

Why: finance reconciles the spend this tool recorded per recipient (``spend_daily``) with what the
account says it spent per month; the ``spend_vs_account`` view puts both side by side with the
difference (recorded cost still missing, sends not tracked, re-pricing).

- ``/me`` gives one ``account_snapshots`` row per run (the balance is a string, quirk 20; credit
  field names differ between sources, quirk 21: all optional).
- ``/statistics/cost-resume`` is rate-limited to 5 requests a minute (§3.8): one call per run,
  ``last_twelve_months`` (this month included), and the client honours a 429's Retry-After.
  Each month is upserted into ``monthly_costs`` (the latest reading wins; months are Paris
  months and carry no currency, so the account currency from ``/me`` is stored beside them).
  A month that cannot be read (a cost that is not an exact amount) is quarantined, the others kept.

Both are written in one transaction with the run's ``sync_runs`` row.
"""

from __future__ import annotations

import logging

from sqlalchemy import insert, select, update

from etl import quarantine, runlog
from etl.db.schema import account_snapshots, monthly_costs
from etl.jobs.base import JobContext, RunResult
from etl.outcome import Outcome

log = logging.getLogger(__name__)

NAME = "finance"
INTERVAL = "last_twelve_months"


def run(ctx: JobContext) -> RunResult:
    account = ctx.client.me()
    months = ctx.client.cost_resume(INTERVAL)
    m = monthly_costs.c
    with ctx.engine.begin() as conn:
        now = ctx.now()
        conn.execute(
            insert(account_snapshots).values(
                account_id=ctx.account.id,
                observed_at=now,
                run_id=ctx.run_id,
                balance=account.balance,
                currency=account.currency,
                credit_sms=account.credit_sms,
                credit_sms_eco=account.credit_sms_eco,
                credit_hlr=account.credit_hlr,
                to_send=account.to_send,
            )
        )
        mine = m.account_id == ctx.account.id
        known = {row.period: row for row in conn.execute(select(m.period, m.cost, m.nb_send, m.currency).where(mine))}
        added = changed = 0
        for month in months:
            period = f"{month.year:04d}-{month.month:02d}"
            values = dict(
                year=month.year, month=month.month, cost=month.cost, nb_send=month.nb_send,
                currency=account.currency, observed_at=now, run_id=ctx.run_id,
            )
            old = known.get(period)
            if old is None:
                conn.execute(insert(monthly_costs).values(account_id=ctx.account.id, period=period, **values))
                added += 1
            else:
                conn.execute(update(monthly_costs).where(mine, m.period == period).values(**values))
                if old.cost != month.cost or old.nb_send != month.nb_send or old.currency != account.currency:
                    changed += 1
        # A month that cannot be read is quarantined; the others are kept (docs/statuses.md, "Finance job").
        bad = quarantine.record(
            conn, [quarantine.Rejection(u.endpoint, u.item, u.reason) for u in months.unreadable], now,
            run_id=ctx.run_id, secrets=ctx.secrets, account_id=ctx.account.id,
        )
        detail = f"months={len(months)} balance={account.balance} {account.currency or ''}".strip()
        result = RunResult(
            added=added,
            changed=changed,
            outcome=Outcome.PARTIAL if bad else Outcome.SUCCESS,
            detail=f"{quarantine.summary(bad)}; {detail}" if bad else detail,
            figures={"months": len(months), "calls_me": 1, "calls_cost_resume": 1, "quarantined": bad},
        )
        runlog.finish_run(conn, ctx.run_id, result, ctx.now())
    return result
