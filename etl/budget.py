"""`SharedBudget`: one account's API budget, shared by every instance through ``api_budget_slots``.

Why slots and not a token bucket: a bucket of ``N``/min refilled continuously lets a full bucket plus a
minute of refill through in one minute (up to ``2N``); "never above the budget in any 60 s window"
needs the times of the last ``N`` calls, which is what the ``N`` slot rows are. A call takes the slot
free soonest, in one short transaction (``SELECT … FOR UPDATE SKIP LOCKED``, then ``UPDATE``; on
SQLite the writer's lock), and marks it spent for the window plus the margin. No slot free: it sleeps
until the soonest is, with the injected ``sleep``. A 429 pushes every slot of the class it hit to
the end of its ``Retry-After``, so every instance waits (docs/api-client.md, "Shared API budget").

Time is the wall clock (`etl.clock.utcnow`), never the job's: instances share it, as they share leases.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone

from sqlalchemy import ColumnElement, Connection, Engine, case, delete, func, insert, select, update
from sqlalchemy.exc import IntegrityError, OperationalError

from etl.accounts import AccountRef
from etl.api.budget import DEFAULT_HOLD, BudgetRules, Limit, hold_class
from etl.clock import utcnow
from etl.config import Config
from etl.db.backends import of
from etl.db.engine import writer
from etl.db.schema import accounts, api_budget_slots

__all__ = ["BudgetUse", "SharedBudget", "for_account", "rules_of", "use_by_account"]

log = logging.getLogger(__name__)

#: ``free_at`` of a slot never spent.
NEVER_SPENT = datetime(1970, 1, 1, tzinfo=timezone.utc)
#: Seconds to wait when every slot of a class is held by another instance's open transaction.
BUSY_NAP = 0.01
#: Tries at creating the slots when instances create them at once (a duplicate key or a deadlock).
ENSURE_TRIES = 5

_slots = api_budget_slots.c


def rules_of(config: Config) -> BudgetRules | None:
    """The ``[api]`` budget, or None when ``api.max_calls_per_minute`` is 0 (no shared budget)."""
    api = config.api
    if api.max_calls_per_minute <= 0:
        return None
    return BudgetRules(
        per_window=api.max_calls_per_minute,
        cost_resume=api.cost_resume_calls_per_minute,
        verification=api.verification_calls_per_minute,
        margin=api.budget_margin,
    )


def for_account(
    config: Config, engine: Engine, account: AccountRef, *, clock: Callable[[], datetime] = utcnow
) -> SharedBudget | None:
    """The shared budget of ``account`` under ``config``, or None when there is none."""
    rules = rules_of(config)
    return None if rules is None else SharedBudget(engine, account.id, rules, clock=clock)


class SharedBudget:
    """`etl.api.budget.CallBudget` over the database: never more than the rules allow, across instances."""

    def __init__(
        self,
        engine: Engine,
        account_id: int,
        rules: BudgetRules,
        *,
        clock: Callable[[], datetime] = utcnow,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self._engine = writer(engine)
        self.account_id = account_id
        self.rules = rules
        self._clock = clock
        self._sleep = sleep
        self._ready = False
        # One writer (SQLite): threads of this process take turns here rather than in the database's
        # busy handler, which sleeps in growing steps (docs/api-client.md, "Concurrent reads").
        self._turns: AbstractContextManager[object] = nullcontext() if of(engine).concurrent_writers else threading.Lock()
        #: Seconds this budget has made calls wait, in all (tests, logs).
        self.waited = 0.0

    def take(self, endpoint: str) -> None:
        limits = self.rules.limits_for(endpoint)
        self._ensure()
        while (wait := self._take_turn(limits)) > 0:
            self.waited += wait
            self._sleep(wait)

    def refused(self, endpoint: str, retry_after: float | None) -> None:
        seconds = DEFAULT_HOLD if retry_after is None else max(retry_after, 0.0)
        until = self._clock() + timedelta(seconds=seconds)
        chosen = hold_class(endpoint)
        log.warning("API budget: 429 on %s, every instance holds %r for %.1fs", endpoint, chosen, seconds)
        with self._engine.begin() as conn:
            conn.execute(
                update(api_budget_slots)
                .where(_slots.account_id == self.account_id, _slots.endpoint_class == chosen, _slots.free_at < until)
                .values(free_at=until)
            )

    def _take_turn(self, limits: Sequence[Limit]) -> float:
        with self._turns:
            return self._try_take(limits)

    def _try_take(self, limits: Sequence[Limit]) -> float:
        """Spend one slot of each limit and return 0, or return the seconds until all could be spent."""
        now = self._clock()
        with self._engine.begin() as conn:
            backend = of(conn)
            chosen: list[tuple[Limit, int]] = []
            for limit in limits:
                # "free_at <= now" in the WHERE, not only in Python: a row another instance spent while this
                # statement ran is re-checked against its new version (PostgreSQL's EvalPlanQual, InnoDB's
                # latest committed read) and skipped, instead of being returned spent (a wait of a whole window).
                slot = conn.execute(
                    backend.claimed(
                        select(_slots.slot)
                        .where(*self._of(limit), _slots.free_at <= now)  # no slot filter: the planner would sort
                        .order_by(_slots.free_at)  # the index's order: no sort of the N slots
                        .limit(1)
                    )
                ).scalar()
                if slot is None:
                    return self._until_free(conn, limit, now)  # nothing written: the transaction ends, its locks too
                chosen.append((limit, slot))
            spent_until = now + timedelta(seconds=self.rules.span)
            for limit, slot in chosen:
                conn.execute(update(api_budget_slots).where(*self._of(limit), _slots.slot == slot).values(free_at=spent_until))
        return 0.0

    def _until_free(self, conn: Connection, limit: Limit, now: datetime) -> float:
        """Seconds until a slot of ``limit`` frees; `BUSY_NAP` when free ones are only held by other transactions."""
        soonest = conn.execute(select(func.min(_slots.free_at)).where(*self._of(limit))).scalar()
        late = 0.0 if soonest is None else float((soonest - now).total_seconds())
        return max(late, BUSY_NAP)

    def _of(self, limit: Limit) -> tuple[ColumnElement[bool], ...]:
        return (_slots.account_id == self.account_id, _slots.endpoint_class == limit.endpoint_class)

    def _ensure(self) -> None:
        """Make the account's slots match the rules (once per budget): add the missing, drop those past a lower limit."""
        if self._ready:
            return
        for attempt in range(1, ENSURE_TRIES + 1):
            try:
                with self._engine.begin() as conn:
                    for limit in self.rules.all_limits():
                        _ensure_slots(conn, self.account_id, limit)
                break
            except (IntegrityError, OperationalError):
                if attempt == ENSURE_TRIES:
                    raise
                self._sleep(BUSY_NAP * attempt)  # another instance created them at the same moment: look again
        self._ready = True


def _ensure_slots(conn: Connection, account_id: int, limit: Limit) -> None:
    where = (_slots.account_id == account_id, _slots.endpoint_class == limit.endpoint_class)
    conn.execute(delete(api_budget_slots).where(*where, _slots.slot >= limit.calls))
    have = set(conn.execute(select(_slots.slot).where(*where)).scalars())
    missing = [
        {"account_id": account_id, "endpoint_class": limit.endpoint_class, "slot": slot, "free_at": NEVER_SPENT}
        for slot in range(limit.calls)
        if slot not in have
    ]
    if missing:
        conn.execute(insert(api_budget_slots), missing)


@dataclass(frozen=True, slots=True)
class BudgetUse:
    """One account class's slots at a moment: how many exist (its limit) and how many are spent or held."""

    account: str
    endpoint_class: str
    slots: int
    used: int


def use_by_account(conn: Connection, now: datetime) -> list[BudgetUse]:
    """Every account's budget use at ``now`` (the metrics' gauge), ordered by account and class."""
    spent = func.sum(case((_slots.free_at > now, 1), else_=0))
    rows = conn.execute(
        select(accounts.c.label, _slots.endpoint_class, func.count(), spent)
        .select_from(api_budget_slots.join(accounts, accounts.c.id == _slots.account_id))
        .group_by(accounts.c.label, _slots.endpoint_class)
        .order_by(accounts.c.label, _slots.endpoint_class)
    ).all()
    return [BudgetUse(label, kind, int(count), int(used or 0)) for label, kind, count, used in rows]
