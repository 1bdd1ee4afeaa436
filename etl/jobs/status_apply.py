"""The statuses job's writes: staged rows applied with one set-based statement per kind of change.

Each batch of answers becomes `StatusRow` / `CostRow` tuples, bulk-loaded into a session-private
staging table and applied inside the caller's transaction (`apply_statuses`, `apply_costs`):
history rows from diffs, never a statement per recipient (STYLE habit 7).

A staged status row is one of three kinds:

* **status** (``ok``): a status the API gave; history row when it changed;
* **item failure** (``ok`` false, ``code`` set): quirk 12's per-item code, never a status;
* **unread** (``ok`` false, no ``code``): the pair was asked for but nothing readable came back
  (its item was quarantined, or missing from the answer, or its tag read was refused). Only the
  poll bookkeeping applies: the ladder moves on as for a non-final answer, and the pair expires
  at its window's end like any other.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy import (
    Boolean,
    Column,
    Connection,
    Integer,
    String,
    Table,
    and_,
    case,
    false,
    func,
    insert,
    literal,
    not_,
    or_,
    select,
    true,
    update,
)

from etl import polling
from etl.accounts import PARENT_ID
from etl.api.parse import StatusItem
from etl.config import StatusesConfig
from etl.db import dialect
from etl.db.claims import Claim
from etl.db.funnel_rollup import FunnelMove
from etl.db.schema import cost_events, recipients, status_events
from etl.db.spend_rollup import SpendMove
from etl.db.types import Id, Money, UtcDateTime

__all__ = ["CostRow", "StatusRow", "Tally", "apply_costs", "apply_statuses", "status_row", "unread_row", "with_phone"]


@dataclass(frozen=True, kw_only=True)
class StatusRow:
    """One staged (message id, number): a status, an item failure or an unread poll (module docstring)."""

    message_id: str
    phone_e164: str
    ok: bool
    polled: bool
    source: str
    status: str | None = None
    status_at: datetime | None = None
    final: bool = False
    code: int | None = None
    error: str | None = None
    window_end: datetime | None = None
    #: The whole call was refused (nothing about this pair came back): past its window the pair is
    #: asked again on its ladder for `polling.REFUSED_GRACE` before it expires.
    refused: bool = False


def _status_stage() -> Table:
    return dialect.temp_table(
        "stage_statuses",
        Column("message_id", String(64), nullable=False),
        Column("phone_e164", String(16), nullable=False),
        Column("ok", Boolean, nullable=False),
        Column("status", String(32)),
        Column("status_at", UtcDateTime()),
        Column("final", Boolean, nullable=False),
        Column("code", Integer),
        Column("error", String(128)),
        Column("window_end", UtcDateTime()),
        Column("polled", Boolean, nullable=False),
        Column("source", String(24), nullable=False),
        Column("refused", Boolean, nullable=False),
        Column("recipient_id", Id),
    )


@dataclass(frozen=True, kw_only=True)
class CostRow:
    """One cost read: ``found`` (the answer, cost possibly still missing), ``missing`` (code 4: the pair is
    unknown) or ``unreadable`` (quarantined: nothing stored, only the read's bookkeeping)."""

    message_id: str
    phone_e164: str
    kind: str
    next_cost_at: datetime | None
    cost: Decimal | None = None
    currency: str | None = None
    country: str | None = None


def _cost_stage() -> Table:
    return dialect.temp_table(
        "stage_costs",
        Column("message_id", String(64), nullable=False),
        Column("phone_e164", String(16), nullable=False),
        Column("kind", String(10), nullable=False),
        Column("cost", Money),
        Column("currency", String(3)),
        Column("country", String(2)),
        Column("next_cost_at", UtcDateTime()),
        Column("recipient_id", Id),
    )


def status_row(
    item: StatusItem, *, window: float, polled: bool, source: str, message_id: str | None = None
) -> StatusRow | None:
    """A parsed item → a staged row (``None`` when its number cannot be read: nothing to match)."""
    if item.phone_e164 is None:
        return None
    status = item.status[:32] if item.ok and item.status else None
    ok = item.ok and status is not None
    window_end = (
        polling.extended_poll_until(item.status_at, status, item.status_at, window) if ok and item.status_at else None
    )
    return StatusRow(
        message_id=message_id or item.message_id,
        phone_e164=item.phone_e164,
        ok=ok,
        status=status,
        status_at=item.status_at if ok else None,
        final=bool(ok and status is not None and polling.is_final(status)),
        code=None if ok else item.code,
        error=None if ok else (item.error or "")[:128] or None,
        window_end=window_end if ok and status is not None and not polling.is_final(status) else None,
        polled=polled,
        source=source,
    )


def unread_row(message_id: str, phone_e164: str, source: str, *, refused: bool = False) -> StatusRow:
    """A pair polled with nothing readable in the answer: bookkeeping only (the ladder moves, expiry applies).

    ``refused``: the whole call failed. A refusal says nothing about the pair, so it does not end the
    pair's life at its window's end: it is asked again for `polling.REFUSED_GRACE` after it (a
    transient refusal at the last poll would otherwise lose a status the account has).
    """
    return StatusRow(message_id=message_id, phone_e164=phone_e164, ok=False, polled=True, source=source, refused=refused)


def with_phone(row: StatusRow, phone: str) -> StatusRow:
    """message-status may give the number in national form (quirk 17): key it by what we asked."""
    return row if row.phone_e164 == phone else replace(row, phone_e164=phone)


def _dedupe(rows: Iterable[StatusRow]) -> list[StatusRow]:
    """One row per pair; a status beats an item failure, which beats an unread poll; then the latest API date wins."""

    def rank(row: StatusRow) -> tuple[bool, bool, float]:
        return (row.ok, row.code is not None, row.status_at.timestamp() if row.status_at else 0.0)

    best: dict[tuple[str, str], StatusRow] = {}
    for row in rows:
        key = (row.message_id, row.phone_e164)
        if key not in best or rank(row) >= rank(best[key]):
            best[key] = row
    return list(best.values())


def _load(conn: Connection, table: Table, rows: Sequence[Sequence[Any]], account_id: int, claim: Claim | None) -> None:
    """Bulk-load ``rows`` (in column order, but for the last, ``recipient_id``); values are converted per
    column, not per value type. Then `_resolve` the recipients."""
    convert = [dialect.driver_converter(conn, column.type) for column in table.columns if column.name != "recipient_id"]
    pairs = list(enumerate(convert))
    converted = [c for c in pairs if c[1] is not None]

    def driver_rows() -> Iterable[tuple[Any, ...]]:
        for row in rows:
            if converted:
                values = list(row)
                for i, fn in converted:
                    values[i] = fn(values[i])  # type: ignore[misc]
                yield (*values, None)
            else:
                yield (*row, None)

    dialect.create_temp(conn, table)
    dialect.bulk_load(conn, table, driver_rows())
    dialect.index_temp(conn, table, "message_id", "phone_e164", unique=True)
    _resolve(conn, table, account_id, claim)


def _resolve(conn: Connection, stage: Table, account_id: int, claim: Claim | None = None) -> None:
    """Each staged pair's ``recipients.id``, looked up from the stage (one unique-key probe per staged row), so
    that every later step joins on the id and the batch drives it: joined on (account, message id, number)
    the planner could start from the account's recipients instead, and did on SQLite, scanning every one
    per step as history grew (issue 20, docs/benchmarks.md "History growth"). Then fresh statistics of
    the stage, where the backend needs them to plan the join (`dialect.analyze_stage`).

    ``claim``: the answers of claimed work (`etl.db.claims`). A pair another instance holds resolves to no
    recipient, so no later step writes it: that instance writes its own answer (`Claim.writable`)."""
    s, r = stage.c, recipients.c
    mine = claim.writable() if claim is not None else true()
    found = select(r.id).where(r.account_id == account_id, r.message_id == s.message_id, r.phone_e164 == s.phone_e164, mine)
    conn.execute(update(stage).values(recipient_id=found.scalar_subquery()))
    dialect.analyze_stage(conn, stage)


@dataclass
class Tally:
    status_events: int = 0
    status_changed: int = 0
    item_failures: int = 0
    expired: int = 0
    cost_events: int = 0
    recipients_added: int = 0
    sends_added: int = 0

    def rows_written(self) -> int:
        return self.status_events + self.cost_events + self.recipients_added + self.sends_added


def apply_statuses(
    conn: Connection,
    rows: Iterable[StatusRow],
    *,
    now: datetime,
    run_id: int | None,
    config: StatusesConfig,
    tally: Tally,
    account_id: int = PARENT_ID,
    claim: Claim | None = None,
) -> None:
    """Stage ``rows`` and apply them to ``account_id``'s recipients with set-based SQL, inside the caller's transaction.

    ``claim``: the rows answer claimed work; pairs held by another instance are left out (`_resolve`), and
    each polled pair's poll claim ends with its bookkeeping (step 5).

    Statement order matters on MariaDB, whose multi-table UPDATE assigns left to right: columns
    that other assignments read are set last, and no statement reads a column it sets.
    """
    staged = _dedupe(rows)
    if not staged:
        return
    stage = _status_stage()
    _load(conn, stage, [
        (r.message_id, r.phone_e164, r.ok, r.status, r.status_at, r.final, r.code, r.error, r.window_end, r.polled, r.source,
         r.refused)
        for r in staged
    ], account_id, claim)
    # The funnel rollup moves with the statuses, expiries and item codes, in this transaction (`etl.db.funnel_rollup`).
    with FunnelMove(conn, select(stage.c.recipient_id).where(stage.c.recipient_id.is_not(None))):
        _apply_answers(conn, stage, now=now, run_id=run_id, tally=tally)
        _apply_polls(conn, stage, now=now, ladder=config.ladder, tally=tally)
    dialect.drop_temp(conn, stage)


def _apply_answers(conn: Connection, stage: Table, *, now: datetime, run_id: int | None, tally: Tally) -> None:
    """Steps 1-4: what the answers say (history, current status, item failures, window moves)."""
    s, r = stage.c, recipients.c
    match = r.id == s.recipient_id  # the account's, by `_resolve`
    is_ok = s.ok == true()
    now_v = literal(now, UtcDateTime())

    # 1. History: one row per change of status; a repeated status writes nothing.
    changed = and_(match, is_ok, or_(r.status.is_(None), r.status != s.status))
    tally.status_events += conn.execute(select(func.count()).select_from(recipients.join(stage, changed))).scalar_one()
    conn.execute(
        insert(status_events).from_select(
            ["recipient_id", "status", "status_at", "observed_at", "run_id", "source"],
            select(r.id, s.status, s.status_at, now_v, literal(run_id, Integer()), s.source).select_from(
                recipients.join(stage, changed)
            ),
        )
    )

    # 2. Current status. A recipient becoming final gets its first cost read scheduled (not for
    # recipients found by tag without a message id: message-status needs one).
    becomes_final = and_(s.final == true(), r.final == false())
    first_cost = literal(polling.first_cost_at(now), UtcDateTime())
    tally.status_changed += conn.execute(
        update(recipients)
        .where(match, is_ok, or_(r.status.is_(None), r.status != s.status, r.status_at.is_distinct_from(s.status_at), r.item_code.is_not(None)))
        .ordered_values(
            (
                r.next_cost_at,
                case(
                    (
                        and_(
                            becomes_final, r.cost.is_(None), r.next_cost_at.is_(None), r.cost_checks == 0,
                            not_(r.message_id.like(f"{polling.PSEUDO_PREFIX}%")),
                        ),
                        first_cost,
                    ),
                    else_=r.next_cost_at,
                ),
            ),
            (r.final_seen_at, case((becomes_final, now_v), else_=r.final_seen_at)),
            (r.status, s.status),
            (r.status_at, s.status_at),
            (r.item_code, None),
            (r.item_error, None),
            (r.final, or_(r.final == true(), s.final == true())),
        )
    ).rowcount or 0

    # 3. Per-item failures (quirk 12): recorded as such, the status is left as it was. An unread row
    # (no code) leaves both as they were.
    tally.item_failures += conn.execute(
        update(recipients).where(match, s.ok == false(), s.code.is_not(None)).values(item_code=s.code, item_error=s.error)
    ).rowcount or 0

    # 4. A not-final item dated after the start we assumed moves the window (night hold, quirk 24).
    conn.execute(
        update(recipients)
        .where(match, is_ok, s.final == false(), s.window_end.is_not(None), s.window_end > r.poll_until,
               r.final == false(), r.expired == false())
        .values(poll_until=s.window_end)
    )


def _apply_polls(conn: Connection, stage: Table, *, now: datetime, ladder: Sequence[float], tally: Tally) -> None:
    """Steps 5-6: every polled pair (unread ones included) moves on its ladder, and expires after its window."""
    s, r = stage.c, recipients.c
    match = r.id == s.recipient_id  # the account's, by `_resolve`
    now_v = literal(now, UtcDateTime())

    # 5. Poll bookkeeping on the ladder, capped at the window's end; final → no next poll. The poll's
    # claim, if any, ends here: the pair is due on its ladder again (`etl.db.claims`).
    steps = {k: literal(now + timedelta(seconds=polling.ladder_step(k + 1, ladder)), UtcDateTime()) for k in range(len(ladder))}
    after = case(*((r.poll_count == k, v) for k, v in steps.items() if k < len(ladder) - 1), else_=steps[len(ladder) - 1])
    # A refused call past the window: asked again on the ladder, not at once (the window's end is past).
    late_refusal = and_(s.refused == true(), r.poll_until <= now_v)
    capped = case((late_refusal, after), (after < r.poll_until, after), else_=r.poll_until)
    conn.execute(
        update(recipients)
        .where(match, s.polled == true(), r.expired == false(), or_(r.final == false(), r.next_poll_at.is_not(None)))
        .ordered_values(
            (r.next_poll_at, case((r.final == true(), None), else_=capped)),
            (r.poll_count, r.poll_count + 1),
            (r.last_polled_at, now_v),
            (r.poll_claimed_by, None),
        )
    )

    # 6. After the window: expired, last known status kept, polled no more.
    tally.expired += conn.execute(
        update(recipients)
        .where(
            match, s.polled == true(), r.final == false(), r.expired == false(), r.poll_until <= now_v,
            or_(s.refused == false(), r.poll_until <= literal(now - polling.REFUSED_GRACE, UtcDateTime())),
        )
        .ordered_values(
            (
                r.expired_reason,
                case(
                    (and_(r.status.is_(None), r.item_code.is_not(None)), "not found by the API within the polling window"),
                    else_="no final status within the polling window",
                ),
            ),
            (r.next_poll_at, None),
            (r.expired, True),
        )
    ).rowcount or 0


def apply_costs(
    conn: Connection,
    rows: Sequence[CostRow],
    *,
    now: datetime,
    run_id: int | None,
    tally: Tally,
    account_id: int = PARENT_ID,
    claim: Claim | None = None,
) -> None:
    """Stage cost reads and apply them: a changed cost, currency or country writes a ``cost_events`` row.

    ``claim``: the reads were claimed work; pairs held by another instance are left out (`_resolve`), and
    each read's claim ends with its bookkeeping."""
    if not rows:
        return
    stage = _cost_stage()
    _load(conn, stage, [(c.message_id, c.phone_e164, c.kind, c.cost, c.currency, c.country, c.next_cost_at) for c in rows], account_id,
          claim)
    s, r = stage.c, recipients.c
    match = r.id == s.recipient_id  # the account's, by `_resolve`
    found = s.kind == "found"
    changed = and_(
        match,
        found,
        or_(
            r.cost_checks == 0,
            r.cost.is_distinct_from(s.cost),
            r.currency.is_distinct_from(s.currency),
            r.country.is_distinct_from(s.country),
        ),
    )
    # Counted before the insert: psycopg reports -1 for INSERT ... SELECT.
    tally.cost_events += conn.execute(select(func.count()).select_from(recipients.join(stage, changed))).scalar_one()
    conn.execute(
        insert(cost_events).from_select(
            ["recipient_id", "cost", "currency", "country", "observed_at", "run_id"],
            select(r.id, s.cost, s.currency, s.country, literal(now, UtcDateTime()), literal(run_id, Integer())).select_from(
                recipients.join(stage, changed)
            ),
        )
    )
    # The spend rollup moves with the costs, in this transaction (`etl.db.spend_rollup`).
    spend = SpendMove(conn, select(s.recipient_id).where(found))
    spend.take()
    conn.execute(
        update(recipients)
        .where(match, found)
        .ordered_values(
            (r.cost, s.cost),
            (r.currency, s.currency),
            (r.country, s.country),
            (r.cost_checks, r.cost_checks + 1),
            (r.cost_checked_at, literal(now, UtcDateTime())),
            (r.next_cost_at, s.next_cost_at),
            (r.cost_claimed_by, None),
        )
    )
    spend.give()
    if any(row.kind == "missing" for row in rows):
        # Its item code makes a recipient with no status "not found": the funnel rollup moves with it.
        with FunnelMove(conn, select(s.recipient_id).where(s.kind == "missing")):
            conn.execute(
                update(recipients)
                .where(match, s.kind == "missing")
                .ordered_values(
                    (r.cost_checks, r.cost_checks + 1),
                    (r.cost_checked_at, literal(now, UtcDateTime())),
                    (r.next_cost_at, s.next_cost_at),
                    (r.item_code, 4),
                    (r.item_error, "message-status: not found"),
                    (r.cost_claimed_by, None),
                )
            )
    # Quarantined answers: nothing of them is stored; the next read waits its backoff like a missing cost.
    conn.execute(
        update(recipients)
        .where(match, s.kind == "unreadable")
        .ordered_values(
            (r.cost_checks, r.cost_checks + 1),
            (r.cost_checked_at, literal(now, UtcDateTime())),
            (r.next_cost_at, s.next_cost_at),
            (r.cost_claimed_by, None),
        )
    )
    dialect.drop_temp(conn, stage)
