"""What the pages read: the existing views (job_health, spend_by_day, status_funnel, ...) and tables, bound
parameters only, the same SQL on every backend (docs/console.md, "Pages")."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy import Engine, Integer, String, bindparam, text

from etl.config import JobSchedule
from etl.db.types import UtcDateTime

RUN_OUTCOMES = ("running", "success", "partial", "failed", "refused", "skipped", "abandoned")
RUNS_SHOWN = 200


@dataclass(frozen=True)
class JobRow:
    account: str
    job: str
    last_success_at: datetime | None
    last_run_at: datetime | None
    failed_runs: int
    total_runs: int
    stale: bool
    age_seconds: float | None


def job_rows(engine: Engine, schedules: Mapping[str, JobSchedule], now: datetime) -> list[JobRow]:
    """Each job of each account in `job_health`, stale when its last success is older than its staleness (or none)."""
    sql = text("SELECT account_label, job, last_success_at, last_run_at, failed_runs, total_runs FROM job_health "
               "ORDER BY account_label, job").columns(last_success_at=UtcDateTime, last_run_at=UtcDateTime)
    with engine.connect() as conn:
        rows = conn.execute(sql).all()
    out = []
    for account, job, last_ok, last_run, failed, total in rows:
        staleness = schedules.get(job, JobSchedule()).staleness
        age = (now - last_ok).total_seconds() if last_ok else None
        out.append(JobRow(account, job, last_ok, last_run, int(failed or 0), int(total or 0),
                          age is None or age > staleness, age))
    return out


def quarantined(engine: Engine) -> list[tuple[str, str, int]]:
    """(account, endpoint, items) in `rejected_items`."""
    sql = text("SELECT a.label, q.endpoint, COUNT(*) FROM rejected_items q JOIN accounts a ON a.id = q.account_id "
               "GROUP BY a.label, q.endpoint ORDER BY a.label, q.endpoint")
    with engine.connect() as conn:
        return [(str(a), str(e), int(n)) for a, e, n in conn.execute(sql)]


def spend(engine: Engine, since: date) -> dict[tuple[str, str], list[tuple[str, Decimal]]]:
    """(account, currency) -> [(day, amount)] from `spend_by_day`, SMS and rentals together, since ``since``."""
    sql = text("SELECT account_label, currency, day, SUM(amount) FROM spend_by_day WHERE day >= :since "
               "AND currency IS NOT NULL GROUP BY account_label, currency, day ORDER BY account_label, currency, day")
    out: dict[tuple[str, str], list[tuple[str, Decimal]]] = {}
    with engine.connect() as conn:
        for account, currency, day, amount in conn.execute(sql, {"since": since}):
            out.setdefault((str(account), str(currency)), []).append((str(day)[:10], Decimal(str(amount or 0))))
    return out


def funnel(engine: Engine, since: date) -> dict[str, dict[str, int]]:
    """account -> {delivered, failed, pending, expired, not_found} since ``since``: `status_funnel`'s counts, summed
    from its rollup ``funnel_days`` (migration 0025) without the view's join to every send of the window, one
    range of its key per account (docs/benchmarks.md, "Console at scale")."""
    sql = text("SELECT a.label, SUM(d.delivered), SUM(d.failed), SUM(d.pending), SUM(d.expired), SUM(d.not_found) "
               "FROM accounts a CROSS JOIN funnel_days d WHERE d.account_id = a.id AND d.sent_day >= :since "
               "GROUP BY a.label ORDER BY a.label")
    keys = ("delivered", "failed", "pending", "expired", "not_found")
    with engine.connect() as conn:
        return {str(row[0]): {k: int(v or 0) for k, v in zip(keys, row[1:])} for row in conn.execute(sql, {"since": since})}


def accounts(engine: Engine) -> list[str]:
    with engine.connect() as conn:
        return [str(label) for (label,) in conn.execute(text("SELECT label FROM accounts ORDER BY id"))]


def runs(engine: Engine, job: str | None, account: str | None, outcome: str | None) -> list[dict[str, Any]]:
    """The latest runs (at most `RUNS_SHOWN`), narrowed by job, account label and outcome."""
    where, params = ["1 = 1"], {}
    for column, value in (("r.job", job), ("a.label", account), ("r.outcome", outcome)):
        if value:
            name = column.split(".")[1]
            where.append(f"{column} = :{name}")
            params[name] = value
    sql = text(f"SELECT r.id, a.label AS account, r.job, r.started_at, r.finished_at, r.outcome, r.rows_added, "
               f"r.rows_changed, r.rows_removed, r.detail FROM sync_runs r JOIN accounts a ON a.id = r.account_id "
               f"WHERE {' AND '.join(where)} ORDER BY r.started_at DESC, r.id DESC LIMIT {RUNS_SHOWN}"
               ).columns(started_at=UtcDateTime, finished_at=UtcDateTime)
    with engine.connect() as conn:
        return [dict(row._mapping) for row in conn.execute(sql, params)]


def run(engine: Engine, run_id: int) -> dict[str, Any] | None:
    sql = text("SELECT r.id, a.label AS account, r.job, r.started_at, r.finished_at, r.outcome, r.rows_added, "
               "r.rows_changed, r.rows_removed, r.detail, r.host, r.pid FROM sync_runs r "
               "JOIN accounts a ON a.id = r.account_id WHERE r.id = :id"
               ).bindparams(bindparam("id", type_=Integer)).columns(started_at=UtcDateTime, finished_at=UtcDateTime)
    with engine.connect() as conn:
        row = conn.execute(sql, {"id": run_id}).first()
        quarantine = conn.execute(text("SELECT endpoint, reason, ref_kind, ref, times_seen FROM rejected_items "
                                       "WHERE last_run_id = :id ORDER BY id"), {"id": run_id}).all() if row else []
    if row is None:
        return None
    found = dict(row._mapping)
    found["quarantined"] = [dict(q._mapping) for q in quarantine]
    return found


def number_history(engine: Engine, e164: str) -> dict[str, list[dict[str, Any]]]:
    """A number's stop periods (every account), the tool's writes naming it, and its contact stop flags."""
    phone = bindparam("phone", type_=String)
    periods = text("SELECT a.label AS account, p.api_stop_id, p.api_created_at, p.first_seen_at, p.removed_at, p.removed_how, "
                   "p.source, w.actor, w.reason FROM stop_periods p JOIN accounts a ON a.id = p.account_id "
                   "LEFT JOIN write_actions w ON w.id = p.removed_by_action_id WHERE p.phone_e164 = :phone "
                   "ORDER BY p.first_seen_at DESC").bindparams(phone).columns(
        api_created_at=UtcDateTime, first_seen_at=UtcDateTime, removed_at=UtcDateTime)
    writes = text("SELECT a.label AS account, w.action, w.actor, w.reason, w.requested_at, w.outcome "
                  "FROM write_actions w JOIN accounts a ON a.id = w.account_id WHERE w.target = :phone "
                  "ORDER BY w.requested_at DESC").bindparams(phone).columns(requested_at=UtcDateTime)
    flags = text("SELECT account_label AS account, group_id, since FROM contact_stops WHERE phone_e164 = :phone "
                 "ORDER BY account_label, group_id").bindparams(phone).columns(since=UtcDateTime)
    with engine.connect() as conn:
        return {name: [dict(r._mapping) for r in conn.execute(sql, {"phone": e164})]
                for name, sql in (("periods", periods), ("writes", writes), ("flags", flags))}


def chart_window(engine: Engine, days: int, today: date) -> tuple[date, date]:
    """(first, last) day charted: the ``days`` up to the latest day with spend or sends, so a mirror that
    stopped receiving data (or the demo, in the simulator's time) still shows its last month.

    The latest day of `spend_by_day` and `status_funnel` without them: a MAX over either view reads all of it
    (every recipient before their rollups, migrations 0024 and 0025). Their days are the recipients' ``sent_day`` (every recipient has a send)
    and the rental costs' ``cost_day``; the latest per account is the last entry of
    ``ix_recipients_account_id_sent_day_country_currency`` (docs/benchmarks.md, "Console")."""
    sql = text("SELECT MAX(d) FROM (SELECT (SELECT MAX(r.sent_day) FROM recipients r WHERE r.account_id = a.id) AS d "
               "FROM accounts a UNION ALL SELECT MAX(cost_day) AS d FROM rental_costs) latest")
    with engine.connect() as conn:
        latest = conn.execute(sql).scalar()
    last = date.fromisoformat(str(latest)[:10]) if latest else today
    return last - timedelta(days=days - 1), last
