"""One cycle of the statuses job, phase by phase: intake, discovery, tags, statuses, cost.

Intake, discovery and tags (and the delivery reports pushed ahead of their tracking) are the *exclusive*
phases: only the instance holding the job's lock runs them (``ctx.exclusive``). Status polling and cost
reads are *claimed* work: every instance claims bounded batches of what is due (`etl.db.claims`), calls
the API outside any transaction, and writes each batch with its claim's end in its own transaction; an
instance without the lock does only these (docs/statuses.md, "Claimed work").

Each phase commits its own batches (`etl.jobs.status_apply`), and each fails on its own:

* an item that cannot be read is quarantined (`etl.quarantine`) and its pair's ladder moves on,
  as for a non-final answer, so it still expires at the end of its window;
* a call the API refuses (any code but "not found", or an answer of the wrong shape) ends that
  call only: a refused tag waits its own backoff (`etl.polling.tag_retry_at`), a refused status
  call moves its pairs' ladders on, a refused cost read waits the cost backoff;
* a transient fault that outlasts the client's retries (429/5xx storm, timeouts) or a bad key
  ends the cycle: committed batches stay, the rest is still due next cycle.
"""

from __future__ import annotations

import logging
from collections import Counter, defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from functools import partial
from typing import Any

from sqlalchemy import Connection, not_, select, update

from etl import phones, polling, quarantine, tracking
from etl.accounts import PARENT_ID
from etl.api.concurrent import in_flight
from etl.api.parse import MessageStatus, StatusItem, StatusItems, Unreadable
from etl.config import StatusesConfig
from etl.db import claims
from etl.db.claims import Claim, Claimed
from etl.db.schema import recipients, sends, tracked_tags
from etl.errors import ApiError, AuthError, NotFound, TransientApiError, UnreadableItem
from etl.jobs import status_cost
from etl.jobs.base import JobContext
from etl.jobs.status_apply import CostRow, StatusRow, Tally, apply_costs, apply_statuses, status_row, unread_row, with_phone
from etl.quarantine import Rejection

log = logging.getLogger(__name__)

CALLS_PER_BATCH = 4
"""Status calls per transaction: 2,000 pairs at most are lost to a crash, none to a fault."""
COST_READS_PER_CYCLE = StatusesConfig.cost_reads_per_cycle
"""The default of ``statuses.cost_reads_per_cycle``, the cap on /message-status calls per cycle (SMS endpoint
limits are undocumented; the only figure, 2000 requests/minute/IP, is in the Mail section of DOC-err): cost
reads spread over cycles."""
COST_READS_PER_BATCH = 250
TAG_READ_EVERY = timedelta(minutes=15)
MAX_DUE_PER_CYCLE = 250_000
NOT_FOUND_IN_BULK = "absent from bulk-status"
#: What ends the cycle rather than one call: the API is down for everything, or the key is wrong.
CYCLE_FAULTS = (TransientApiError, AuthError)


class _Calls(Counter[str]):
    def wrap(self, endpoint: str, fn: Callable[[], Any]) -> Any:
        self[endpoint] += 1
        return fn()


@dataclass
class Cycle:
    """The state of one cycle: what it did, and why it ended early if it did."""

    ctx: JobContext
    calls: _Calls = field(default_factory=_Calls)
    tally: Tally = field(default_factory=Tally)
    due: int = 0
    #: Why the cycle ended early (a fault, or the daemon asking); None when it ran to the end.
    stopped: str | None = None
    #: The daemon asked to stop (SIGTERM): an early end that is not a failure.
    asked_to_stop: bool = False
    #: Items quarantined in this cycle (``times_seen`` counted), and calls refused on their own.
    quarantined: int = 0
    refused: list[str] = field(default_factory=list)
    #: Claimed work: pairs claimed for status polling, pairs asked for, cost reads made, and claims taken
    #: over from an instance that died or stalled past its lease (both kinds).
    claimed: int = 0
    polled: int = 0
    cost_claimed: int = 0
    cost_reads: int = 0
    taken_over: int = 0

    @property
    def cfg(self) -> StatusesConfig:
        return self.ctx.config.statuses

    @property
    def account_id(self) -> int:
        """The account this cycle reads and writes (every query below is scoped to it)."""
        return self.ctx.account.id

    def now(self) -> datetime:
        return self.ctx.now()

    def stop_asked(self) -> bool:
        if self.ctx.should_stop():
            self.stopped, self.asked_to_stop = "asked to stop", True
        return self.asked_to_stop

    def fault(self, exc: ApiError) -> None:
        self.stopped = f"{type(exc).__name__}: {exc}"
        log.warning("statuses: cycle stopped after a fault, committing what was fetched: %s", exc)

    def refuse(self, what: str, exc: ApiError) -> None:
        self.refused.append(f"{what}: {type(exc).__name__}: {exc}")
        log.warning("statuses: %s refused, the cycle goes on: %s", what, exc)

    def claim(self, work: claims.Work, *, due_by: datetime, limit: int, where: Sequence[Any] = ()) -> Claim:
        """The next batch of ``work`` due by ``due_by`` for this instance (`etl.db.claims.claim`)."""
        held = claims.claim(
            self.ctx.engine, work, account_id=self.account_id, owner=self.ctx.owner, due_by=due_by, now=self.now(),
            lease=self.cfg.claim_lease, limit=limit, where=where,
        )
        self.taken_over += held.taken_over
        return held

    def quarantine(self, conn: Connection, rejections: Sequence[Rejection], now: datetime) -> None:
        if rejections:
            self.quarantined += quarantine.record(
                conn, rejections, now, run_id=self.ctx.run_id, secrets=self.ctx.secrets, account_id=self.account_id
            )


def _rejection(u: Unreadable, ref: str | None = None) -> Rejection:
    ref = ref or u.ref
    return Rejection(u.endpoint, u.item, u.reason, "recipient" if ref else None, ref)


def _e164(phone: str | None) -> str | None:
    """The number of an unreadable item when it is a canonical E.164 key (the one recipients use)."""
    return phone if phone and phones.canonicalize(phone) == phone else None


# ---------------------------------------------------------------------------------------------
# Intake and discovery
# ---------------------------------------------------------------------------------------------


def intake(cy: Cycle) -> None:
    with cy.ctx.engine.begin() as conn:
        report = tracking.drain_intake(
            conn, now=cy.now(), config=cy.cfg, default_region=cy.ctx.config.api.default_region, account_id=cy.account_id
        )
        if cy.ctx.account.is_parent:  # ``statuses.tags`` in the config are the parent's
            tracking.ensure_tags(conn, cy.cfg.tags, cy.now())
    cy.tally.sends_added += report.sends_added
    cy.tally.recipients_added += report.recipients_added


def discover_sends(cy: Cycle) -> None:
    """Sends tracked by message id alone: list their recipients with /bulk-status."""
    with cy.ctx.engine.connect() as conn:
        todo = conn.execute(
            select(sends.c.message_id, sends.c.started_at)
            .where(sends.c.account_id == cy.account_id, sends.c.kind == "discover", sends.c.discovered_at.is_(None))
        ).all()
        conn.rollback()
    for message_id, started_at in todo:
        if cy.stop_asked():
            return
        now = cy.now()
        try:
            items = cy.calls.wrap("bulk-status", partial(cy.ctx.client.bulk_status, message_id))
        except NotFound:
            if now >= polling.poll_until(started_at, cy.cfg.window):
                with cy.ctx.engine.begin() as conn:
                    conn.execute(update(sends).where(sends.c.account_id == cy.account_id, sends.c.message_id == message_id).values(discovered_at=now))
            log.warning("message %s: bulk-status does not know it (yet)", message_id)
            continue
        except CYCLE_FAULTS as exc:
            cy.fault(exc)
            return
        except ApiError as exc:
            cy.refuse(f"bulk-status of message {message_id}", exc)
            continue
        # An unreadable item whose number reads is still a recipient of the send: tracked, its poll unread.
        unread = [p for u in items.unreadable if (p := _e164(u.phone))]
        with cy.ctx.engine.begin() as conn:
            rcpts = [(message_id, i.phone_e164, i.phone_raw) for i in items if i.phone_e164]
            tracking.start_discovered(conn, message_id, [i.status_at for i in items], cy.account_id)
            _, added, _ = tracking.ingest(
                conn, [], rcpts + [(message_id, p, p) for p in unread], now=now, config=cy.cfg, account_id=cy.account_id
            )
            cy.tally.recipients_added += added
            rows = [status_row(i, window=cy.cfg.window, polled=True, source="bulk-status", message_id=message_id) for i in items]
            staged = [x for x in rows if x] + [unread_row(message_id, p, "bulk-status") for p in unread]
            apply_statuses(conn, staged, now=now, run_id=cy.ctx.run_id, config=cy.cfg, tally=cy.tally, account_id=cy.account_id)
            cy.quarantine(conn, [_rejection(u) for u in items.unreadable], now)
            conn.execute(update(sends).where(sends.c.account_id == cy.account_id, sends.c.message_id == message_id).values(discovered_at=now))


# ---------------------------------------------------------------------------------------------
# Tags
# ---------------------------------------------------------------------------------------------


def read_tags(cy: Cycle) -> None:
    """Followed tags, every TAG_READ_EVERY (or sooner when recipients found by tag are due); a refused
    tag on its own backoff."""
    now = cy.now()
    with cy.ctx.engine.connect() as conn:
        t = tracked_tags.c
        tags = conn.execute(select(t.tag, t.last_read_at, t.next_read_at, t.failures).where(t.account_id == cy.account_id)).all()
        r = recipients.c
        due_pseudo = set(
            conn.execute(
                select(r.message_id)
                .where(r.account_id == cy.account_id, r.next_poll_at <= now, r.message_id.like(f"{polling.PSEUDO_PREFIX}%"))
                .distinct()
            ).scalars()
        )
        conn.rollback()
    for tag, last_read, next_read, failures in tags:
        if not polling.tag_read_due(last_read, next_read, now, TAG_READ_EVERY, polling.pseudo_message_id(tag) in due_pseudo):
            continue
        if cy.stop_asked():
            return
        items: list[StatusItem] = []
        unreadable: list[Unreadable] = []
        error: ApiError | None = None
        try:
            for item in cy.ctx.client.iter_bulk_status_by_tag(tag):
                (unreadable if isinstance(item, Unreadable) else items).append(item)  # type: ignore[arg-type]
        except NotFound:
            pass  # no message with this tag yet (code 4)
        except CYCLE_FAULTS as exc:
            cy.fault(exc)
            return
        except ApiError as exc:
            error = exc
            cy.refuse(f"tag {tag}", exc)
        finally:
            # Pages of up to 500 items (the simulator's and, we assume, the API's page size).
            cy.calls["bulk-status-by-tag"] += max(1, -(-(len(items) + len(unreadable)) // 500))
        _apply_tag_read(cy, tag, items, unreadable, error, failures)


def _apply_tag_read(
    cy: Cycle, tag: str, items: list[StatusItem], unreadable: list[Unreadable], error: ApiError | None, failures: int
) -> None:
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
            tracking.SendRow(message_id=mid, kind="tag" if mid == pseudo else "message", tag=tag, sent_at=min(first, now), source="tag")
        )
    source = "bulk-status-by-tag"
    rows: list[StatusRow] = [
        x for m, g in by_send.items() for i in g
        if (x := status_row(i, window=cy.cfg.window, polled=True, source=source, message_id=m))
    ]
    unread = [(u.message_id or pseudo, p) for u in unreadable if (p := _e164(u.phone))]
    with cy.ctx.engine.begin() as conn:
        added_sends, added, _ = tracking.ingest(
            conn, send_rows, [(m, i.phone_e164, i.phone_raw) for m, g in by_send.items() for i in g if i.phone_e164],
            now=now, config=cy.cfg, account_id=cy.account_id,
        )
        cy.tally.sends_added += added_sends
        cy.tally.recipients_added += added
        # The tag read is the poll of its recipients without a message id: those due and not read move on.
        listed = {r.phone_e164 for r in rows if r.message_id == pseudo}
        due = conn.execute(
            select(recipients.c.phone_e164).where(
                recipients.c.account_id == cy.account_id, recipients.c.message_id == pseudo, recipients.c.next_poll_at <= now
            )
        ).scalars().all()
        rows += [unread_row(m, p, source) for m, p in unread]
        rows += [unread_row(pseudo, p, source) for p in due if p not in listed]
        apply_statuses(conn, rows, now=now, run_id=cy.ctx.run_id, config=cy.cfg, tally=cy.tally, account_id=cy.account_id)
        cy.quarantine(conn, [_rejection(u, f"{u.message_id or pseudo}/{u.phone or '?'}") for u in unreadable], now)
        t = tracked_tags.c
        if error is None:
            done = dict(last_read_at=now, items_seen=len(items) + len(unreadable), next_read_at=None, failures=0, last_error=None)
            conn.execute(update(tracked_tags).where(t.account_id == cy.account_id, t.tag == tag).values(**done))
            return
        reason = f"{type(error).__name__}: {error}"
        refused = {"tag": tag, "code": getattr(error, "code", None), "error": reason}
        cy.quarantine(conn, [Rejection(source, refused, reason, "tag", tag)], now)
        conn.execute(
            update(tracked_tags)
            .where(t.account_id == cy.account_id, t.tag == tag)
            .values(failures=failures + 1, next_read_at=polling.tag_retry_at(failures + 1, now), last_error=reason[:255])
        )


# ---------------------------------------------------------------------------------------------
# Statuses
# ---------------------------------------------------------------------------------------------


def due_pairs(
    conn: Connection, now: datetime, limit: int = MAX_DUE_PER_CYCLE, account_id: int = PARENT_ID
) -> dict[str, list[str]]:
    """What is due for ``account_id``, grouped by message id: one range scan of ``ix_recipients_account_id_next_poll_at``."""
    r = recipients.c
    due = (r.account_id == account_id, r.next_poll_at <= now)
    rows = conn.execute(select(r.message_id, r.phone_e164).where(*due).order_by(r.next_poll_at).limit(limit)).all()
    grouped: dict[str, list[str]] = defaultdict(list)
    for mid, phone in rows:
        if not polling.is_pseudo_message_id(mid):  # served by the tag reads
            grouped[mid].append(phone)
    return grouped


def poll_statuses(cy: Cycle, between: Callable[[], None] | None = None) -> None:
    """Claim what is due by the cycle's start, a batch at a time, until none is left or `MAX_DUE_PER_CYCLE`
    pairs were claimed: other instances claim other batches meanwhile (`etl.db.claims`). ``between`` runs
    after each batch (the cycle's cost reads, a batch at a time)."""
    due_by = cy.now()
    not_by_tag = (not_(recipients.c.message_id.like(f"{polling.PSEUDO_PREFIX}%")),)  # served by the tag reads
    while cy.due < MAX_DUE_PER_CYCLE and not cy.stop_asked():
        held = cy.claim(claims.POLL, due_by=due_by, limit=min(cy.cfg.claim_batch, MAX_DUE_PER_CYCLE - cy.due), where=not_by_tag)
        if not held.rows:
            break
        cy.due += len(held.rows)
        cy.claimed += len(held.rows) if held.owner is not None else 0
        _poll_claimed(cy, held)
        if cy.stopped:
            break
        if between is not None:
            between()
            if cy.stopped:
                break


def _poll_claimed(cy: Cycle, held: Claim) -> None:
    """Poll one claimed batch with the fewest calls, `CALLS_PER_BATCH` calls per write; what a stop or a
    fault left unasked is given back, due again at once."""
    due: dict[str, list[str]] = defaultdict(list)
    for row in held.rows:
        due[row.message_id].append(row.phone_e164)
    plan = polling.plan_fetch(due, cy.cfg.bulk_threshold)
    work: list[tuple[str, Any]] = [("bulk", mid) for mid in plan.bulk] + [("multi", batch) for batch in plan.multi]
    asked: set[tuple[str, str]] = set()
    for start in range(0, len(work), CALLS_PER_BATCH):
        if cy.stop_asked():
            break
        rows: list[StatusRow] = []
        rejections: list[Rejection] = []
        # The answers describe the account as of when they were asked: apply them at that time, or a
        # batch that ends past a window's end expires recipients whose last poll came before it.
        asked_at = cy.now()
        try:
            for kind, what in work[start : start + CALLS_PER_BATCH]:
                if kind == "bulk":
                    _fetch_bulk(cy, what, due[what], rows, rejections)
                    asked.update((what, phone) for phone in due[what])
                else:
                    _fetch_multi(cy, what, rows, rejections)
                    asked.update(what)
        except CYCLE_FAULTS as exc:
            cy.fault(exc)
        def apply(conn: Connection, rows: list[StatusRow] = rows, rejections: list[Rejection] = rejections, at: datetime = asked_at) -> None:
            apply_statuses(conn, rows, now=at, run_id=cy.ctx.run_id, config=cy.cfg, tally=cy.tally, account_id=cy.account_id, claim=held)
            cy.quarantine(conn, rejections, at)

        _write(cy, apply)
        if cy.stopped:
            break
    cy.polled += len(asked)
    _give_back(cy, held, [row for row in held.rows if (row.message_id, row.phone_e164) not in asked])


def _write(cy: Cycle, apply: Callable[[Connection], None]) -> None:
    """One claimed batch's write (`etl.db.claims.write`, tried again after a lock conflict); the figures an
    attempt rolled back counted are counted again from where they were."""
    tally, quarantined = replace(cy.tally), cy.quarantined

    def attempt(conn: Connection) -> None:
        cy.tally, cy.quarantined = replace(tally), quarantined
        apply(conn)

    claims.write(cy.ctx.engine, attempt)


def _give_back(cy: Cycle, held: Claim, unasked: Sequence[Claimed]) -> None:
    if unasked and held.owner is not None:
        claims.release(cy.ctx.engine, held, unasked)
        log.info("statuses: %d claimed %s pair(s) given back unasked (%s)", len(unasked), held.work.name, cy.stopped or "cap")


def _fetch_multi(cy: Cycle, pairs: Sequence[tuple[str, str]], rows: list[StatusRow], rejections: list[Rejection]) -> None:
    """One multi-status call; every pair asked gets a row: its status, its failure, or an unread poll."""
    source = "multi-status"
    try:
        items: StatusItems = cy.calls.wrap(source, partial(cy.ctx.client.multi_status, list(pairs)))
    except CYCLE_FAULTS:
        raise
    except ApiError as exc:
        cy.refuse(f"multi-status of {len(pairs)} pairs", exc)
        rows.extend(unread_row(m, p, source, refused=True) for m, p in pairs)
        return
    window = cy.cfg.window
    answered = [x for x in (status_row(i, window=window, polled=True, source=source) for i in items) if x]
    rows.extend(answered)
    rejections.extend(_rejection(u) for u in items.unreadable)
    listed = {(r.message_id, r.phone_e164) for r in answered}
    rows.extend(unread_row(m, p, source) for m, p in pairs if (m, p) not in listed)


def _fetch_bulk(
    cy: Cycle, message_id: str, due_phones: Sequence[str], rows: list[StatusRow], rejections: list[Rejection]
) -> None:
    source = "bulk-status"
    try:
        items: StatusItems = cy.calls.wrap(source, lambda: cy.ctx.client.bulk_status(message_id))
    except NotFound as exc:
        items = StatusItems()
        error = f"bulk-status: {exc.api_message}"[:128]
    except CYCLE_FAULTS:
        raise
    except ApiError as exc:
        cy.refuse(f"bulk-status of message {message_id}", exc)
        rows.extend(unread_row(message_id, p, source, refused=True) for p in due_phones)
        return
    else:
        error = NOT_FOUND_IN_BULK
    answered = [
        x for x in (status_row(i, window=cy.cfg.window, polled=True, source=source, message_id=message_id) for i in items) if x
    ]
    rows.extend(answered)
    rejections.extend(_rejection(u) for u in items.unreadable)
    listed = {row.phone_e164 for row in answered}
    unread = {_e164(u.phone) for u in items.unreadable}
    # An unreadable item whose number does not read may be any unlisted pair: none of them is "absent".
    for phone in due_phones:
        if phone in listed:
            continue
        if phone in unread or None in unread:
            rows.append(unread_row(message_id, phone, source))
        else:
            rows.append(StatusRow(message_id=message_id, phone_e164=phone, ok=False, code=4, error=error, polled=True, source=source))


# ---------------------------------------------------------------------------------------------
# Cost
# ---------------------------------------------------------------------------------------------


def read_costs(cy: Cycle, batches: int | None = None) -> None:
    """Claim due cost reads, `cfg.cost_claim_batch` at a time (``batches`` claims at most), up to
    ``cost_reads_per_cycle`` for this instance; one /message-status call each, ``api.concurrency`` in flight,
    written back `COST_READS_PER_BATCH` reads per transaction."""
    due_by = cy.now()
    claimed = 0
    cap = cy.cfg.cost_reads_per_cycle
    while cy.cost_reads < cap and not cy.stop_asked() and (batches is None or claimed < batches):
        held = cy.claim(claims.COST, due_by=due_by, limit=min(cy.cfg.cost_claim_batch, cap - cy.cost_reads))
        if not held.rows:
            break
        claimed += 1
        cy.cost_claimed += len(held.rows) if held.owner is not None else 0
        _read_claimed_costs(cy, held)
        if cy.stopped:
            break


def _ask_cost(cy: Cycle, row: Claimed) -> MessageStatus:
    """One /message-status call, from a worker thread of `in_flight` (counted by the caller, in its thread)."""
    return cy.ctx.client.message_status(row.message_id, row.phone_e164)


def _read_claimed_costs(cy: Cycle, held: Claim) -> None:
    done = 0
    concurrency = cy.ctx.config.api.concurrency
    for start in range(0, len(held.rows), COST_READS_PER_BATCH):
        if cy.stop_asked():
            break
        cost_rows: list[CostRow] = []
        status_rows: list[StatusRow] = []
        rejections: list[Rejection] = []
        try:
            # The reads are bound by the API's latency: K in flight on the one client (docs/api-client.md,
            # "Concurrent reads"); answers come back in claim order, so `done` is a prefix of the claim.
            for answer in in_flight(partial(_ask_cost, cy), held.rows[start : start + COST_READS_PER_BATCH], concurrency=concurrency):
                row = answer.item
                cy.calls["message-status"] += 1
                _read_cost(cy, row.message_id, row.phone_e164, row.final_seen_at, answer.get, cost_rows, status_rows, rejections)
                done += 1
        except CYCLE_FAULTS as exc:
            cy.fault(exc)
        written_at = cy.now()

        def apply(
            conn: Connection, cost_rows: list[CostRow] = cost_rows, status_rows: list[StatusRow] = status_rows,
            rejections: list[Rejection] = rejections, now: datetime = written_at,
        ) -> None:
            apply_statuses(
                conn, status_rows, now=now, run_id=cy.ctx.run_id, config=cy.cfg, tally=cy.tally, account_id=cy.account_id, claim=held
            )
            apply_costs(conn, cost_rows, now=now, run_id=cy.ctx.run_id, tally=cy.tally, account_id=cy.account_id, claim=held)
            cy.quarantine(conn, rejections, now)

        _write(cy, apply)
        if cy.stopped:
            break
    cy.cost_reads += done
    _give_back(cy, held, held.rows[done:])


def _read_cost(
    cy: Cycle,
    mid: str,
    phone: str,
    final_at: datetime | None,
    answer: Callable[[], MessageStatus],
    cost_rows: list[CostRow],
    status_rows: list[StatusRow],
    rejections: list[Rejection],
) -> None:
    """One /message-status answer (``answer()`` gives it or raises what the call raised); an unreadable or
    refused answer stores nothing and waits the cost backoff."""
    cfg = cy.cfg
    now = cy.now()

    def later(found: bool) -> datetime | None:
        return polling.cost_next_at(final_at, now, found, cfg.cost_retry, cfg.cost_window)

    try:
        ms: MessageStatus = answer()
    except NotFound:
        cost_rows.append(CostRow(message_id=mid, phone_e164=phone, kind="missing", next_cost_at=later(False)))
        return
    except CYCLE_FAULTS:
        raise
    except UnreadableItem as exc:
        rejections.append(Rejection("message-status", exc.item, str(exc), "recipient", f"{mid}/{phone}"))
        cost_rows.append(CostRow(message_id=mid, phone_e164=phone, kind="unreadable", next_cost_at=later(False)))
        return
    except ApiError as exc:
        cy.refuse(f"message-status of {mid}/{phone}", exc)
        cost_rows.append(CostRow(message_id=mid, phone_e164=phone, kind="unreadable", next_cost_at=later(False)))
        return
    found = ms.cost is not None
    cost_rows.append(
        CostRow(
            message_id=mid, phone_e164=phone, kind="found", next_cost_at=later(found),
            cost=ms.cost, currency=ms.currency, country=ms.country,
        )
    )
    row = status_row(ms, window=cfg.window, polled=False, source="message-status", message_id=mid)
    if row is not None:
        status_rows.append(with_phone(row, phone))


def poll_cycle(ctx: JobContext) -> Cycle:
    """One full cycle; the `Cycle` says what it did and why it ended early, if it did."""
    cy = Cycle(ctx)
    if ctx.exclusive:
        for step in (intake, discover_sends, read_tags):
            step(cy)
            if cy.stopped:
                return cy
        # Delivery reports pushed for a message before it was tracked apply now, in this cycle
        # (the receiver also does this on its own every minute; see docs/push.md).
        from etl.push import resolve_pending

        with ctx.engine.begin() as conn:
            resolve_pending(conn, ctx.now(), dlr_costs=ctx.config.statuses.cost_source == "announced")
    reads_costs = cy.cfg.cost_source != "announced"
    # One cost batch after each status batch: a long status backlog must not starve the cost reads, the
    # bottleneck at volume (issue 20; docs/benchmarks.md, "Scale-out").
    poll_statuses(cy, between=partial(read_costs, cy, 1) if reads_costs else None)
    if not cy.stopped:
        if reads_costs:
            read_costs(cy)
        elif ctx.exclusive:  # no API call, nothing to split: the lock holder prices them
            announced_costs(cy)
    return cy


def announced_costs(cy: Cycle) -> None:
    """``cost_source = "announced"``: due costs from the sends' announcements, no API call (`etl.jobs.status_cost`)."""
    status_cost.allocate(
        cy.ctx.engine, account_id=cy.account_id, now=cy.now, run_id=cy.ctx.run_id, tally=cy.tally,
        quarantine=cy.quarantine, stop_asked=cy.stop_asked,
    )
