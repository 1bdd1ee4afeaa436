"""Is what the audience is checked against fresh enough, for every account? Fail closed when unsure.

`check_freshness` raises `StaleData`, unless the caller explicitly allows a stale list, when:

- an account's last *successful* ``stops`` sync started longer ago than ``audience.max_stop_age``, or
  never happened, or is dated in the future (one of the clocks is wrong, so the age is unknown). The
  accounts checked are the parent and every sub-account not gone that any job ever ran for: a number
  stopped in any of them blocks, so the stalest of their lists decides;
- an account holding contact groups (the ``contacts`` job read some) has contact flags older than the
  same limit: their ``stopSms`` flags block too (docs/audience.md).

The decision is returned so the report can say so.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import ColumnElement, Connection, exists, func, select

from etl.accounts import PARENT_ID
from etl.db.schema import accounts, contact_groups, sync_runs
from etl.errors import StaleData
from etl.outcome import SYNCED

log = logging.getLogger(__name__)

__all__ = ["ALLOW_STALE_HINT", "Freshness", "check_freshness", "last_syncs"]


@dataclass(frozen=True)
class Freshness:
    """How old the stop list is (its stalest account's), and whether a stale list was knowingly accepted."""

    last_success_at: datetime | None
    age_seconds: float | None
    max_age_seconds: float
    stale: bool
    allow_stale: bool


def last_syncs(conn: Connection, job: str, *, holding_contacts: bool = False) -> dict[str, datetime | None]:
    """Each checked account's last successful start of ``job`` by label (None: never)."""
    a, r = accounts.c, sync_runs.c
    last = (
        select(r.account_id, func.max(r.started_at).label("at"))
        .where(r.job == job, r.outcome.in_(sorted(SYNCED)))
        .group_by(r.account_id)
        .subquery()
    )
    checked: ColumnElement[bool] = (
        exists().where(contact_groups.c.account_id == a.id, contact_groups.c.gone_since.is_(None))
        if holding_contacts
        else (a.id == PARENT_ID) | exists().where(r.account_id == a.id)
    )
    rows = conn.execute(
        select(a.label, last.c.at)
        .select_from(accounts.outerjoin(last, last.c.account_id == a.id))
        .where(a.gone_since.is_(None), checked)
        .order_by(a.id)
    ).all()
    return {str(label): at for label, at in rows}


#: How a refusal tells the CLI's user to go ahead anyway (the console names its checkbox instead).
ALLOW_STALE_HINT = "pass --allow-stale to filter against whatever is stored"


def check_freshness(conn: Connection, *, now: datetime, max_age: float, allow_stale: bool = False,
                    hint: str = ALLOW_STALE_HINT) -> Freshness:
    """Refuse (`StaleData`) stop lists or contact flags older than ``max_age`` seconds, unless ``allow_stale``."""
    stops = last_syncs(conn, "stops")
    contacts = last_syncs(conn, "contacts", holding_contacts=True)
    problems = [p for p in (_problem("stop list", label, at, now, max_age) for label, at in stops.items()) if p]
    problems += [p for p in (_problem("contact flags", label, at, now, max_age) for label, at in contacts.items()) if p]
    known = [at for at in stops.values() if at is not None]
    stalest = None if None in stops.values() or not known else min(known)
    age = (now - stalest).total_seconds() if stalest is not None else None
    if problems and not allow_stale:
        raise StaleData(f"{problems[0]}; sync it, or {hint}")
    if problems:
        log.warning("filtering against stale data (%s), as --allow-stale asked", "; ".join(problems))
    return Freshness(stalest, age, max_age, bool(problems), allow_stale)


def _problem(what: str, label: str, at: datetime | None, now: datetime, max_age: float) -> str | None:
    """One clause naming what is stale and why, or None when fresh."""
    whose = f"the {what}" if label == "main" else f"the {what} of account {label}"
    if at is None:
        job = "stops" if what == "stop list" else "contacts"
        return f"no successful {job} sync on record for {whose.removeprefix('the ')}: run the {job} job first"
    age = (now - at).total_seconds()
    if age < 0:
        return (f"the last successful sync of {whose.removeprefix('the ')} is dated {_human(-age)} in the future "
                f"({at.isoformat()}, now {now.isoformat()}), so its age cannot be known: fix the clock of this "
                f"machine or of the daemon's")
    if age > max_age:
        return (f"{whose} is {_human(age)} old (last successful sync {at.isoformat()}), more than "
                f"audience.max_stop_age ({_human(max_age)})")
    return None


def _human(seconds: float) -> str:
    if seconds >= 86400:
        return f"{seconds / 86400:.1f} d"
    if seconds >= 3600:
        return f"{seconds / 3600:.1f} h"
    return f"{seconds / 60:.0f} min"
