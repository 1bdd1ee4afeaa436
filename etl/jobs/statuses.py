"""Delivery statuses and cost: re-poll only what is not final, in the API's largest batches, for 48 h.

One cycle (`etl.jobs.status_cycle`; each step commits on its own and fails on its own, module
`etl.jobs.status_apply` writes):

1. **Intake**: import new rows of the ``track_intake`` table (`etl.tracking.drain_intake`).
2. **Discovery**: a message tracked by id alone gets its recipients from ``/bulk-status``;
   followed tags are read with ``/bulk-status-by-tag`` (paged) on their own interval (docs/statuses.md);
   a refused tag is recorded and waits its own backoff while the cycle goes on.
3. **Statuses**: what is due is one indexed query (``next_poll_at <= now``); the pairs are
   fetched with the fewest calls (`etl.polling.plan_fetch`: multi-status batches of 500, bulk-status
   for a send with many due recipients when it costs no extra call), `CALLS_PER_BATCH` calls per
   transaction. Each batch is staged, then applied with one set-based statement per kind of
   change: new status → ``status_events`` row + recipient row; repeated status → nothing;
   per-item failure (code 4 "Numéro introuvable", quirk 12) → ``item_code``/``item_error``, never a
   status; an unreadable item → quarantined (``rejected_items``), its pair's ladder moves on as for
   a non-final answer; poll bookkeeping (ladder, capped at the window's end); expiry after the window.
4. **Cost**: ``/message-status`` (the only endpoint with cost, §3.4) for recipients whose cost
   read is due (`etl.polling.cost_next_at`), at most `statuses.cost_reads_per_cycle` per cycle. A change
   of cost, currency or country writes a ``cost_events`` row. An answer that cannot be read
   (``currency: "EURO"``, a negative cost) is quarantined, stores nothing, and waits the cost backoff.

Status polling and cost reads are claimed work, split between instances on PostgreSQL and MariaDB
(`etl.db.claims`); intake, discovery and tags stay with the instance holding the job's lock
(``ctx.exclusive``; docs/statuses.md, "Claimed work"). SQLite runs all of it in one instance.

Why it is safe to stop anywhere: the due query is recomputed from the table each cycle, and a
recipient's ``next_poll_at`` only moves in the transaction that stores what was fetched for it, or
in its claim, whose lease ends by itself (pairs claimed but not asked are given back at once).
A 429/5xx storm mid-cycle (after the client's retries) ends the cycle: committed batches stay,
the rest is still due and is polled next cycle. A run that quarantined items or had calls refused
ends ``partial`` ("partial, N items quarantined").

`track_send_result` and `track` are re-exported for callers that send and then track (the demo).
"""

from __future__ import annotations

from etl import runlog
from etl.errors import TransientApiError
from etl.jobs.base import JobContext, Outcome, RunResult
from etl.jobs.status_cycle import Cycle, poll_cycle
from etl.quarantine import summary
from etl.tracking import TrackedSend, track, track_send_result  # noqa: F401 - re-exported intake hooks

NAME = "statuses"

__all__ = ["NAME", "run", "track", "track_send_result", "TrackedSend", "poll_cycle"]


def _result(cy: Cycle) -> RunResult:
    """Counts, and the outcome: failed (a fault ended the cycle), partial (items quarantined or calls refused), success."""
    figures: dict[str, int | float] = {f"calls_{k.replace('-', '_').replace('/', '_')}": v for k, v in sorted(cy.calls.items())}
    tally = cy.tally
    figures.update(
        due=cy.due,
        status_events=tally.status_events,
        cost_events=tally.cost_events,
        item_failures=tally.item_failures,
        expired=tally.expired,
        quarantined=cy.quarantined,
        claimed=cy.claimed,
        polled=cy.polled,
        cost_claimed=cy.cost_claimed,
        cost_reads=cy.cost_reads,
        claims_taken_over=cy.taken_over,
    )
    notes = ([summary(cy.quarantined)] if cy.quarantined or cy.refused else []) + cy.refused[:3]
    if len(cy.refused) > 3:
        notes.append(f"{len(cy.refused) - 3} more refused")
    early = [f"stopped early: {cy.stopped}; committed batches kept, the rest stays due"] if cy.stopped else []
    outcome = Outcome.FAILED if cy.stopped and not cy.asked_to_stop else Outcome.PARTIAL if notes else Outcome.SUCCESS
    detail = "; ".join(notes + early) or None
    return RunResult(
        added=tally.recipients_added,
        changed=tally.status_events + tally.cost_events,
        removed=tally.expired,
        outcome=outcome,
        detail=detail,
        figures=figures,
    )


def run(ctx: JobContext) -> RunResult:
    try:
        result = _result(poll_cycle(ctx))
    except TransientApiError as exc:
        cy = Cycle(ctx)
        cy.stopped = f"{type(exc).__name__}: {exc}"
        result = _result(cy)
    with ctx.engine.begin() as conn:
        runlog.finish_run(conn, ctx.run_id, result, ctx.now())
    return result
