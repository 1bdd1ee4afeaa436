"""Delivery statuses and cost: re-poll only what is not final, in the API's largest batches, for 48 h.

One cycle (each step commits on its own; a fault stops the cycle and loses nothing committed):

1. **Intake**: import new rows of the ``track_intake`` table (`etl.tracking.drain_intake`).
2. **Discovery**: a message tracked by id alone gets its recipients from ``/bulk-status``;
   followed tags are read with ``/bulk-status-by-tag`` (paged) every `TAG_READ_EVERY`.
3. **Statuses**: what is due is one indexed query (``next_poll_at <= now``); the pairs are
   fetched with the fewest calls (`etl.polling.plan_fetch`: multi-status batches of 500, bulk-status
   for a send with many due recipients when it costs no extra call), `CALLS_PER_BATCH` calls per
   transaction. Each batch is staged, then applied with one set-based statement per kind of
   change: new status → ``status_events`` row + recipient row; repeated status → nothing;
   per-item failure (code 4 "Numéro introuvable", quirk 12) → ``item_code``/``item_error``, never a
   status; poll bookkeeping (ladder, capped at the window's end); expiry after the window.
4. **Cost**: ``/message-status`` (the only endpoint with cost, §3.4) for recipients whose cost
   read is due (`etl.polling.cost_next_at`), at most `COST_READS_PER_CYCLE` per cycle. A change
   of cost, currency or country writes a ``cost_events`` row.

Why it is safe to stop anywhere: the due query is recomputed from the table each cycle, and a
recipient's ``next_poll_at`` only moves in the transaction that stores what was fetched for it.
A 429/5xx storm mid-cycle (after the client's retries) ends the cycle: committed batches stay,
the rest is still due and is polled next cycle.

`track_send_result` and `track` are re-exported for callers that send and then track (the demo).
"""

from __future__ import annotations

import logging
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import partial
from typing import Any

from sqlalchemy import (
    Boolean,
    Column,
    Connection,
    Integer,
    Numeric,
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

from etl import polling, runlog, tracking
from etl.api.parse import MessageStatus, StatusItem
from etl.config import StatusesConfig
from etl.db import dialect
from etl.db.schema import cost_events, recipients, sends, status_events, tracked_tags
from etl.db.types import Money, UtcDateTime
from etl.errors import ApiError, NotFound, TransientApiError
from etl.jobs.base import JobContext, RunResult
from etl.tracking import TrackedSend, track, track_send_result  # noqa: F401 - re-exported intake hooks

log = logging.getLogger(__name__)

NAME = "statuses"
CALLS_PER_BATCH = 4
"""Status calls per transaction: 2,000 pairs at most are lost to a crash, none to a fault."""
COST_READS_PER_CYCLE = 1_500
"""Cap on /message-status calls per cycle (SMS endpoint limits are undocumented; the only figure,
2000 requests/minute/IP, is in the Mail section of DOC-err): cost reads spread over cycles."""
COST_READS_PER_BATCH = 250
TAG_READ_EVERY = timedelta(minutes=15)
MAX_DUE_PER_CYCLE = 250_000
NOT_FOUND_IN_BULK = "absent from bulk-status"

__all__ = ["NAME", "run", "track", "track_send_result", "TrackedSend", "poll_cycle"]


# ---------------------------------------------------------------------------------------------
# Staging and set-based apply
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _StatusRow:
    message_id: str
    phone_e164: str
    ok: bool
    status: str | None
    status_at: datetime | None
    final: bool
    code: int | None
    error: str | None
    window_end: datetime | None
    polled: bool
    source: str


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
    )


def _cost_stage() -> Table:
    return dialect.temp_table(
        "stage_costs",
        Column("message_id", String(64), nullable=False),
        Column("phone_e164", String(16), nullable=False),
        Column("found", Boolean, nullable=False),
        Column("cost", Money),
        Column("currency", String(3)),
        Column("country", String(2)),
        Column("next_cost_at", UtcDateTime()),
    )


def status_row(item: StatusItem, *, window: float, polled: bool, source: str, message_id: str | None = None) -> _StatusRow | None:
    """A parsed item → a staged row (``None`` when its number cannot be read: nothing to match)."""
    if item.phone_e164 is None:
        return None
    status = item.status[:32] if item.ok and item.status else None
    ok = item.ok and status is not None
    window_end = (
        polling.extended_poll_until(item.status_at, status, item.status_at, window) if ok and item.status_at else None
    )
    return _StatusRow(
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


def _dedupe(rows: Iterable[_StatusRow]) -> list[_StatusRow]:
    """One row per pair; an ok row beats a failed one, then the latest API date wins."""

    def rank(row: _StatusRow) -> tuple[bool, float]:
        return (row.ok, row.status_at.timestamp() if row.status_at else 0.0)

    best: dict[tuple[str, str], _StatusRow] = {}
    for row in rows:
        key = (row.message_id, row.phone_e164)
        if key not in best or rank(row) >= rank(best[key]):
            best[key] = row
    return list(best.values())


def _load(conn: Connection, table: Table, rows: Sequence[Sequence[Any]]) -> None:
    """Bulk-load ``rows`` (in column order); values are converted per column, not per value type."""
    backend = dialect.backend(conn)
    convert: list[Callable[[Any], Any] | None] = []
    for column in table.columns:
        if isinstance(column.type, UtcDateTime):
            convert.append(partial(tracking._driver, backend))
        elif backend == "sqlite" and isinstance(column.type, (Boolean, Numeric)):
            convert.append(lambda v: tracking._driver("sqlite", v))
        else:
            convert.append(None)
    pairs = list(enumerate(convert))
    converted = [c for c in pairs if c[1] is not None]

    def driver_rows() -> Iterable[tuple[Any, ...]]:
        for row in rows:
            if converted:
                values = list(row)
                for i, fn in converted:
                    values[i] = fn(values[i])  # type: ignore[misc]
                yield tuple(values)
            else:
                yield tuple(row)

    dialect.create_temp(conn, table)
    dialect.bulk_load(conn, table, driver_rows())
    dialect.index_temp(conn, table, "message_id", "phone_e164", unique=True)


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
    conn: Connection, rows: Iterable[_StatusRow], *, now: datetime, run_id: int | None, config: StatusesConfig, tally: Tally
) -> None:
    """Stage ``rows`` and apply them with set-based SQL, inside the caller's transaction.

    Statement order matters on MariaDB, whose multi-table UPDATE assigns left to right: columns
    that other assignments read are set last, and no statement reads a column it sets.
    """
    staged = _dedupe(rows)
    if not staged:
        return
    stage = _status_stage()
    _load(conn, stage, [
        (r.message_id, r.phone_e164, r.ok, r.status, r.status_at, r.final, r.code, r.error, r.window_end, r.polled, r.source)
        for r in staged
    ])
    s, r = stage.c, recipients.c
    match = and_(r.message_id == s.message_id, r.phone_e164 == s.phone_e164)
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

    # 3. Per-item failures (quirk 12): recorded as such, the status is left as it was.
    tally.item_failures += conn.execute(
        update(recipients).where(match, s.ok == false()).values(item_code=s.code, item_error=s.error)
    ).rowcount or 0

    # 4. A not-final item dated after the start we assumed moves the window (night hold, quirk 24).
    conn.execute(
        update(recipients)
        .where(match, is_ok, s.final == false(), s.window_end.is_not(None), s.window_end > r.poll_until,
               r.final == false(), r.expired == false())
        .values(poll_until=s.window_end)
    )

    # 5. Poll bookkeeping on the ladder, capped at the window's end; final → no next poll.
    ladder = config.ladder
    steps = {k: literal(now + timedelta(seconds=polling.ladder_step(k + 1, ladder)), UtcDateTime()) for k in range(len(ladder))}
    after = case(*((r.poll_count == k, v) for k, v in steps.items() if k < len(ladder) - 1), else_=steps[len(ladder) - 1])
    capped = case((after < r.poll_until, after), else_=r.poll_until)
    conn.execute(
        update(recipients)
        .where(match, s.polled == true(), r.expired == false(), or_(r.final == false(), r.next_poll_at.is_not(None)))
        .ordered_values(
            (r.next_poll_at, case((r.final == true(), None), else_=capped)),
            (r.poll_count, r.poll_count + 1),
            (r.last_polled_at, now_v),
        )
    )

    # 6. After the window: expired, last known status kept, polled no more.
    tally.expired += conn.execute(
        update(recipients)
        .where(match, s.polled == true(), r.final == false(), r.expired == false(), r.poll_until <= now_v)
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
    dialect.drop_temp(conn, stage)


def apply_costs(
    conn: Connection, rows: Sequence[tuple[Any, ...]], *, now: datetime, run_id: int | None, tally: Tally
) -> None:
    """Stage cost reads ``(message_id, phone, found, cost, currency, country, next_cost_at)`` and apply them."""
    if not rows:
        return
    stage = _cost_stage()
    _load(conn, stage, rows)
    s, r = stage.c, recipients.c
    match = and_(r.message_id == s.message_id, r.phone_e164 == s.phone_e164)
    found = s.found == true()
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
        )
    )
    conn.execute(
        update(recipients)
        .where(match, s.found == false())
        .ordered_values(
            (r.cost_checks, r.cost_checks + 1),
            (r.cost_checked_at, literal(now, UtcDateTime())),
            (r.next_cost_at, s.next_cost_at),
            (r.item_code, 4),
            (r.item_error, "message-status: not found"),
        )
    )
    dialect.drop_temp(conn, stage)


# ---------------------------------------------------------------------------------------------
# The cycle
# ---------------------------------------------------------------------------------------------


class _Calls(Counter[str]):
    def wrap(self, endpoint: str, fn: Callable[[], Any]) -> Any:
        self[endpoint] += 1
        return fn()


@dataclass
class _Cycle:
    ctx: JobContext
    calls: _Calls
    tally: Tally
    stopped: str | None = None

    @property
    def cfg(self) -> StatusesConfig:
        return self.ctx.config.statuses

    def now(self) -> datetime:
        return self.ctx.now()

    def region(self) -> str:
        return self.ctx.config.api.default_region


def _intake(cy: _Cycle) -> None:
    with cy.ctx.engine.begin() as conn:
        report = tracking.drain_intake(conn, now=cy.now(), config=cy.cfg, default_region=cy.region())
        tracking.ensure_tags(conn, cy.cfg.tags, cy.now())
    cy.tally.sends_added += report.sends_added
    cy.tally.recipients_added += report.recipients_added


def _discover_sends(cy: _Cycle) -> None:
    """Sends tracked by message id alone: list their recipients with /bulk-status."""
    with cy.ctx.engine.connect() as conn:
        todo = conn.execute(
            select(sends.c.message_id, sends.c.started_at).where(sends.c.kind == "discover", sends.c.discovered_at.is_(None))
        ).all()
        conn.rollback()
    for message_id, started_at in todo:
        if cy.ctx.should_stop():
            cy.stopped = "asked to stop"
            return
        now = cy.now()
        try:
            items = cy.calls.wrap("bulk-status", partial(cy.ctx.client.bulk_status, message_id))
        except NotFound:
            if now >= polling.poll_until(started_at, cy.cfg.window):
                with cy.ctx.engine.begin() as conn:
                    conn.execute(update(sends).where(sends.c.message_id == message_id).values(discovered_at=now))
            log.warning("message %s: bulk-status does not know it (yet)", message_id)
            continue
        except ApiError as exc:
            cy.stopped = f"{type(exc).__name__}: {exc}"
            return
        with cy.ctx.engine.begin() as conn:
            rcpts = [(message_id, i.phone_e164, i.phone_raw) for i in items if i.phone_e164]
            _, added, _ = tracking.ingest(conn, [], rcpts, now=now, config=cy.cfg)
            cy.tally.recipients_added += added
            rows = [status_row(i, window=cy.cfg.window, polled=True, source="bulk-status", message_id=message_id) for i in items]
            apply_statuses(conn, [x for x in rows if x], now=now, run_id=cy.ctx.run_id, config=cy.cfg, tally=cy.tally)
            conn.execute(update(sends).where(sends.c.message_id == message_id).values(discovered_at=now))


def _read_tags(cy: _Cycle) -> None:
    """Followed tags, every TAG_READ_EVERY (or sooner when recipients found by tag are due)."""
    now = cy.now()
    with cy.ctx.engine.connect() as conn:
        tags = conn.execute(select(tracked_tags.c.tag, tracked_tags.c.last_read_at)).all()
        due_pseudo = set(
            conn.execute(
                select(recipients.c.message_id)
                .where(recipients.c.next_poll_at <= now, recipients.c.message_id.like(f"{polling.PSEUDO_PREFIX}%"))
                .distinct()
            ).scalars()
        )
        conn.rollback()
    for tag, last_read in tags:
        if not (last_read is None or last_read + TAG_READ_EVERY <= now or polling.pseudo_message_id(tag) in due_pseudo):
            continue
        if cy.ctx.should_stop():
            cy.stopped = "asked to stop"
            return
        items: list[StatusItem] = []
        try:
            for item in cy.ctx.client.iter_bulk_status_by_tag(tag):
                items.append(item)
        except NotFound:
            items = []  # no message with this tag yet (code 4)
        except ApiError as exc:
            cy.stopped = f"{type(exc).__name__}: {exc}"
            return
        finally:
            # Pages of up to 500 items (the simulator's and, we assume, the API's page size).
            cy.calls["bulk-status-by-tag"] += max(1, -(-len(items) // 500))
        _ingest_tag_items(cy, tag, items)


def _ingest_tag_items(cy: _Cycle, tag: str, items: list[StatusItem]) -> None:
    now = cy.now()
    pseudo = polling.pseudo_message_id(tag)
    by_send: dict[str, list[StatusItem]] = defaultdict(list)
    for item in items:
        if item.phone_e164:
            by_send[item.message_id or pseudo].append(item)
    send_rows = []
    for mid, group in by_send.items():
        dates = [i.status_at for i in group if i.status_at is not None]
        first = min(dates) if dates else now
        send_rows.append(
            tracking.SendRow(mid, "tag" if mid == pseudo else "message", tag, min(first, now), None, None, None, None, "tag")
        )
    with cy.ctx.engine.begin() as conn:
        added_sends, added, _ = tracking.ingest(
            conn, send_rows, [(m, i.phone_e164, i.phone_raw) for m, g in by_send.items() for i in g if i.phone_e164],
            now=now, config=cy.cfg,
        )
        cy.tally.sends_added += added_sends
        cy.tally.recipients_added += added
        rows = [status_row(i, window=cy.cfg.window, polled=True, source="bulk-status-by-tag", message_id=m) for m, g in by_send.items() for i in g]
        apply_statuses(conn, [x for x in rows if x], now=now, run_id=cy.ctx.run_id, config=cy.cfg, tally=cy.tally)
        conn.execute(
            update(tracked_tags).where(tracked_tags.c.tag == tag).values(last_read_at=now, items_seen=len(items))
        )


def due_pairs(conn: Connection, now: datetime, limit: int = MAX_DUE_PER_CYCLE) -> dict[str, list[str]]:
    """What is due, grouped by message id: one range scan of ``ix_recipients_next_poll_at``."""
    r = recipients.c
    rows = conn.execute(
        select(r.message_id, r.phone_e164).where(r.next_poll_at <= now).order_by(r.next_poll_at).limit(limit)
    ).all()
    grouped: dict[str, list[str]] = defaultdict(list)
    for mid, phone in rows:
        if not polling.is_pseudo_message_id(mid):  # served by the tag reads
            grouped[mid].append(phone)
    return grouped


def _poll_statuses(cy: _Cycle) -> int:
    now = cy.now()
    with cy.ctx.engine.connect() as conn:
        due = due_pairs(conn, now)
        conn.rollback()
    plan = polling.plan_fetch(due, cy.cfg.bulk_threshold)
    work: list[tuple[str, Any]] = [("bulk", mid) for mid in plan.bulk] + [("multi", batch) for batch in plan.multi]
    window = cy.cfg.window
    for start in range(0, len(work), CALLS_PER_BATCH):
        if cy.ctx.should_stop():
            cy.stopped = "asked to stop"
            break
        rows: list[_StatusRow] = []
        # The answers describe the account as of when they were asked: apply them at that time, or a
        # batch that ends past a window's end expires recipients whose last poll came before it.
        asked_at = cy.now()
        try:
            for kind, what in work[start : start + CALLS_PER_BATCH]:
                if kind == "bulk":
                    rows.extend(_fetch_bulk(cy, what, due[what], window))
                else:
                    items = cy.calls.wrap("multi-status", partial(cy.ctx.client.multi_status, list(what)))
                    rows.extend(x for x in (status_row(i, window=window, polled=True, source="multi-status") for i in items) if x)
        except ApiError as exc:
            cy.stopped = f"{type(exc).__name__}: {exc}"
            log.warning("statuses: cycle stopped after a fault, committing what was fetched: %s", exc)
        with cy.ctx.engine.begin() as conn:
            apply_statuses(conn, rows, now=asked_at, run_id=cy.ctx.run_id, config=cy.cfg, tally=cy.tally)
        if cy.stopped:
            break
    return sum(len(v) for v in due.values())


def _fetch_bulk(cy: _Cycle, message_id: str, due_phones: Sequence[str], window: float) -> list[_StatusRow]:
    try:
        items = cy.calls.wrap("bulk-status", lambda: cy.ctx.client.bulk_status(message_id))
    except NotFound as exc:
        items = []
        error = f"bulk-status: {exc.api_message}"[:128]
    else:
        error = NOT_FOUND_IN_BULK
    rows = [x for x in (status_row(i, window=window, polled=True, source="bulk-status", message_id=message_id) for i in items) if x]
    listed = {row.phone_e164 for row in rows}
    rows.extend(
        _StatusRow(message_id, phone, False, None, None, False, 4, error, None, True, "bulk-status")
        for phone in due_phones
        if phone not in listed
    )
    return rows


def _read_costs(cy: _Cycle) -> None:
    now = cy.now()
    r = recipients.c
    with cy.ctx.engine.connect() as conn:
        todo = conn.execute(
            select(r.message_id, r.phone_e164, r.final_seen_at)
            .where(r.next_cost_at <= now)
            .order_by(r.next_cost_at)
            .limit(COST_READS_PER_CYCLE)
        ).all()
        conn.rollback()
    cfg = cy.cfg
    for start in range(0, len(todo), COST_READS_PER_BATCH):
        if cy.ctx.should_stop():
            cy.stopped = "asked to stop"
            break
        cost_rows: list[tuple[Any, ...]] = []
        status_rows: list[_StatusRow] = []
        try:
            for mid, phone, final_at in todo[start : start + COST_READS_PER_BATCH]:
                now = cy.now()
                try:
                    ms: MessageStatus = cy.calls.wrap("message-status", partial(cy.ctx.client.message_status, mid, phone))
                except NotFound:
                    cost_rows.append((mid, phone, False, None, None, None, polling.cost_next_at(final_at, now, False, cfg.cost_retry, cfg.cost_window)))
                    continue
                found = ms.cost is not None
                cost_rows.append(
                    (mid, phone, True, ms.cost, ms.currency, (ms.country or None) and ms.country[:2].upper(),
                     polling.cost_next_at(final_at, now, found, cfg.cost_retry, cfg.cost_window))
                )
                row = status_row(ms, window=cfg.window, polled=False, source="message-status", message_id=mid)
                if row is not None:
                    status_rows.append(row if row.phone_e164 == phone else _with_phone(row, phone))
        except ApiError as exc:
            cy.stopped = f"{type(exc).__name__}: {exc}"
            log.warning("statuses: cost reads stopped after a fault, committing what was read: %s", exc)
        with cy.ctx.engine.begin() as conn:
            now = cy.now()
            apply_statuses(conn, status_rows, now=now, run_id=cy.ctx.run_id, config=cfg, tally=cy.tally)
            apply_costs(conn, cost_rows, now=now, run_id=cy.ctx.run_id, tally=cy.tally)
        if cy.stopped:
            break


def _with_phone(row: _StatusRow, phone: str) -> _StatusRow:
    """message-status may give the number in national form (quirk 17): key it by what we asked."""
    from dataclasses import replace

    return replace(row, phone_e164=phone)


def poll_cycle(ctx: JobContext) -> tuple[Tally, Counter[str], int, str | None]:
    """One full cycle; returns ``(tally, calls per endpoint, due count, why it stopped early)``."""
    cy = _Cycle(ctx, _Calls(), Tally())
    due = 0
    for step in (_intake, _discover_sends, _read_tags):
        step(cy)
        if cy.stopped:
            return cy.tally, cy.calls, due, cy.stopped
    # Delivery reports pushed for a message before it was tracked apply now, in this cycle
    # (the receiver also does this on its own every minute; see docs/push.md).
    from etl.push import resolve_pending

    with ctx.engine.begin() as conn:
        resolve_pending(conn, ctx.now())
    due = _poll_statuses(cy)
    if not cy.stopped:
        _read_costs(cy)
    return cy.tally, cy.calls, due, cy.stopped


def run(ctx: JobContext) -> RunResult:
    try:
        tally, calls, due, stopped = poll_cycle(ctx)
    except TransientApiError as exc:
        tally, calls, due, stopped = Tally(), Counter(), 0, f"{type(exc).__name__}: {exc}"
    figures: dict[str, int | float] = {f"calls_{k.replace('-', '_').replace('/', '_')}": v for k, v in sorted(calls.items())}
    figures.update(
        due=due,
        status_events=tally.status_events,
        cost_events=tally.cost_events,
        item_failures=tally.item_failures,
        expired=tally.expired,
    )
    result = RunResult(
        added=tally.recipients_added,
        changed=tally.status_events + tally.cost_events,
        removed=tally.expired,
        outcome="failed" if stopped and not stopped.startswith("asked") else "success",
        detail=(f"stopped early: {stopped}; committed batches kept, the rest stays due" if stopped else None),
        figures=figures,
    )
    with ctx.engine.begin() as conn:
        runlog.finish_run(conn, ctx.run_id, result, ctx.now())
    return result
