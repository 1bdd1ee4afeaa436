"""Reconciliation: the simulator's ground truth (event log and current state) against the database.

One row per kind of fact; for each, the count the simulator expects, the count in the database, and
the ``missing``, ``extra``, ``duplicated`` and ``wrong`` rows (each must be 0). ``unseen`` counts
changes no poller can see (a stop added and removed between two successful syncs, a rental flag
flipped and flipped back, an intermediate status): reported, never an error. The rules are in
docs/soak.md.
"""

from __future__ import annotations

import itertools
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy import select

from etl.db.engine import make_engine
from etl.db.schema import (
    cost_events,
    recipients,
    rental_number_events,
    rental_numbers,
    rentals,
    sends,
    status_events,
    stop_periods,
    sync_runs,
    track_intake,
)

COLUMNS = ("expected", "database", "missing", "extra", "duplicated", "wrong", "unseen")
ERRORS = ("missing", "extra", "duplicated", "wrong")


@dataclass
class Line:
    what: str
    expected: int = 0
    database: int = 0
    missing: int = 0
    extra: int = 0
    duplicated: int = 0
    wrong: int = 0
    unseen: int = 0
    examples: list[str] = field(default_factory=list)

    def note(self, column: str, example: str, n: int = 1) -> None:
        setattr(self, column, getattr(self, column) + n)
        if len(self.examples) < 50:
            self.examples.append(f"{column}: {example}")


@dataclass
class Report:
    lines: list[Line]

    def errors(self) -> int:
        return sum(getattr(line, c) for line in self.lines for c in ERRORS)

    def table(self) -> str:
        width = max(len(line.what) for line in self.lines)
        head = f"| {'fact'.ljust(width)} | " + " | ".join(COLUMNS) + " |"
        rule = "|" + "-" * (width + 2) + "|" + "|".join("-" * (len(c) + 2) for c in COLUMNS) + "|"
        rows = [
            f"| {line.what.ljust(width)} | " + " | ".join(str(getattr(line, c)).rjust(len(c)) for c in COLUMNS) + " |"
            for line in self.lines
        ]
        return "\n".join([head, rule, *rows])

    def details(self) -> str:
        return "\n".join(f"{line.what}: {e}" for line in self.lines for e in line.examples)


def _close(a: datetime | None, b: datetime | None, seconds: float = 1.0) -> bool:
    if a is None or b is None:
        return a is b
    return abs((a - b).total_seconds()) <= seconds


# --- ground truth ----------------------------------------------------------------------------------


def sim_truth(sim: Any, tracked: set[str], token: str) -> dict[str, Any]:
    events = sim.events
    with sim.lock:
        current = {sid: phone for sid, phone, _ in sim.stops()}
        messages = {}
        for mid in tracked:
            msg = sim.messages[int(mid)]
            rows = {}
            for rcpt in msg.recipients.values():
                truth = sim.truth(msg, rcpt)
                changes = [] if msg.cancelled_at is not None else [
                    v for _, kind, v in _status_changes(sim, msg, rcpt) if kind == "status"
                ]
                if msg.cancelled_at is not None:
                    changes = [truth.status]
                rows[rcpt.phone] = (truth, changes)
            messages[mid] = rows
        rental = {phone: stop for _, phone, stop in sim.rental_rows(token)}
    return {"events": events, "current_stops": current, "messages": messages, "rental": rental}


def _status_changes(sim: Any, msg: Any, rcpt: Any) -> list[tuple[datetime, str, Any]]:
    from etl.simulator.messages import status_changes

    return status_changes(msg, rcpt, sim.clock.now(), sim._validity())


# --- the checks ----------------------------------------------------------------------------------


def reconcile(sim: Any, db_url: str, tracked: set[str], token: str) -> Report:
    truth = sim_truth(sim, tracked, token)
    engine = make_engine(db_url, pool=False)
    try:
        with engine.connect() as conn:
            periods = conn.execute(select(stop_periods.c.api_stop_id, stop_periods.c.phone_e164, stop_periods.c.removed_at,
                                          stop_periods.c.removed_how)).all()
            stop_runs = conn.execute(select(sync_runs.c.started_at, sync_runs.c.finished_at)
                                     .where(sync_runs.c.job == "stops", sync_runs.c.outcome == "success")).all()
            rental_id = conn.execute(select(rentals.c.id).where(rentals.c.token == token)).scalar_one()
            numbers = conn.execute(select(rental_numbers.c.phone_e164, rental_numbers.c.stop, rental_numbers.c.in_file)
                                   .where(rental_numbers.c.rental_id == rental_id)).all()
            flag_events = conn.execute(select(rental_number_events.c.phone_e164, rental_number_events.c.event,
                                              rental_number_events.c.stop)
                                       .where(rental_number_events.c.rental_id == rental_id)
                                       .order_by(rental_number_events.c.id)).all()
            send_rows = conn.execute(select(sends.c.message_id)).scalars().all()
            rcpts = conn.execute(select(recipients.c.id, recipients.c.message_id, recipients.c.phone_e164, recipients.c.status,
                                        recipients.c.status_at, recipients.c.cost, recipients.c.currency)).all()
            st_events = conn.execute(select(status_events.c.recipient_id, status_events.c.status)
                                     .order_by(status_events.c.recipient_id, status_events.c.id)).all()
            co_events = conn.execute(select(cost_events.c.recipient_id, cost_events.c.cost, cost_events.c.currency)
                                     .order_by(cost_events.c.recipient_id, cost_events.c.id)).all()
            intake = conn.execute(select(track_intake.c.message_id, track_intake.c.processed_at, track_intake.c.error)).all()
            conn.rollback()
    finally:
        engine.dispose()
    lines = [
        *_stops(truth, periods, stop_runs),
        *_rentals(truth, numbers, flag_events),
        *_messages(truth, send_rows, rcpts, st_events, co_events, intake),
    ]
    return Report(lines)


def _stops(truth: dict[str, Any], periods: list[Any], runs: list[Any]) -> list[Line]:
    current: dict[int, str] = truth["current_stops"]
    added: dict[int, datetime] = {}
    removed: dict[int, tuple[datetime, str]] = {}
    for e in truth["events"]:
        if e.kind == "stop_added":
            added[e.data["id"]] = e.at
        elif e.kind == "stop_removed":
            removed[e.data["id"]] = (e.at, e.data["phone"])

    open_line = Line("stop periods open (= current stop list)", expected=len(current))
    open_by_id: dict[int, list[Any]] = defaultdict(list)
    closed_by_id: dict[int, list[Any]] = defaultdict(list)
    for p in periods:
        (closed_by_id if p.removed_at is not None else open_by_id)[p.api_stop_id].append(p)
    open_line.database = sum(len(v) for v in open_by_id.values())
    for sid, phone in current.items():
        rows = open_by_id.get(sid, [])
        if not rows:
            open_line.note("missing", f"stop {sid} {phone}")
        elif len(rows) > 1:
            open_line.note("duplicated", f"stop {sid}: {len(rows)} open periods", len(rows) - 1)
        if any(r.phone_e164 != phone for r in rows):
            open_line.note("wrong", f"stop {sid}: phone {rows[0].phone_e164} != {phone}")
    for sid, rows in open_by_id.items():
        if sid not in current:
            open_line.note("extra", f"open period for stop {sid} not in the list", len(rows))

    def observable(sid: int) -> bool:
        """A successful sync ran entirely while the stop was listed: it must have seen it.

        Strictly inside: the soak's clock moves in steps (one per tick), so a sync in the same tick
        as the add or the removal carries the same timestamp whether it downloaded before or after
        it; such a sync proves nothing either way.
        """
        start, end = added.get(sid), removed[sid][0]
        return any(start is not None and r.started_at > start and r.finished_at is not None and r.finished_at < end for r in runs)

    closed_line = Line("stop periods closed (= removals)")
    closed_line.database = sum(len(v) for v in closed_by_id.values())
    for sid in removed:
        rows = closed_by_id.get(sid, [])
        if observable(sid):
            closed_line.expected += 1
            if not rows:
                closed_line.note("missing", f"removal of stop {sid} not recorded")
        elif not rows:
            closed_line.note("unseen", f"stop {sid} added and removed between two syncs")
        else:
            closed_line.expected += 1  # seen by a sync that overlapped its life: fine
        if len(rows) > 1:
            closed_line.note("duplicated", f"stop {sid}: {len(rows)} closed periods", len(rows) - 1)
        if rows and (rows[0].phone_e164 != removed[sid][1] or rows[0].removed_how != "api_missing"):
            closed_line.note("wrong", f"stop {sid}: {rows[0].phone_e164} {rows[0].removed_how}")
        if rows and rows[0].removed_at < removed[sid][0] - timedelta(seconds=1):
            closed_line.note("wrong", f"stop {sid} closed at {rows[0].removed_at} before its removal {removed[sid][0]}")
    for sid, rows in closed_by_id.items():
        if sid not in removed:
            closed_line.note("extra", f"closed period for stop {sid}, never removed", len(rows))
    return [open_line, closed_line]


def _rentals(truth: dict[str, Any], numbers: list[Any], events: list[Any]) -> list[Line]:
    expected: dict[str, bool] = truth["rental"]
    flips: dict[str, int] = defaultdict(int)
    for e in truth["events"]:
        if e.kind == "rental_stop":
            flips[e.data["phone"]] += 1
    now_line = Line("rental numbers and stop flags", expected=len(expected))
    seen: dict[str, int] = defaultdict(int)
    for n in numbers:
        if n.in_file:
            seen[n.phone_e164] += 1
            now_line.database += 1
            if n.phone_e164 in expected and bool(n.stop) != expected[n.phone_e164]:
                now_line.note("wrong", f"{n.phone_e164} stop={n.stop}, account says {expected[n.phone_e164]}")
    for phone in expected:
        if not seen.get(phone):
            now_line.note("missing", phone)
        elif seen[phone] > 1:
            now_line.note("duplicated", phone, seen[phone] - 1)
    for phone in seen:
        if phone not in expected:
            now_line.note("extra", phone)

    hist = Line("rental flag changes (history)", expected=sum(flips.values()))
    by_phone: dict[str, list[Any]] = defaultdict(list)
    for e in events:
        by_phone[e.phone_e164].append(e)
    for phone, evs in by_phone.items():
        values = [bool(e.stop) for e in evs if e.event in ("added", "stop_on", "stop_off")]
        changes = sum(1 for e in evs if e.event in ("stop_on", "stop_off"))
        hist.database += changes
        dups = sum(1 for a, b in itertools.pairwise(values) if a == b)
        if dups:
            hist.note("duplicated", f"{phone}: {values}", dups)
        if changes > flips.get(phone, 0):
            hist.note("extra", f"{phone}: {changes} changes recorded, {flips.get(phone, 0)} flips", changes - flips.get(phone, 0))
        if values and phone in expected and values[-1] != expected[phone]:
            hist.note("missing", f"{phone}: history ends {values[-1]}, account {expected[phone]}")
        hist.unseen += max(0, flips.get(phone, 0) - changes)
    return [now_line, hist]


def _messages(truth: dict[str, Any], send_rows: list[str], rcpts: list[Any], st_events: list[Any], co_events: list[Any],
              intake: list[Any]) -> list[Line]:
    messages: dict[str, dict[str, Any]] = truth["messages"]
    sends_line = Line("sends (tracked message ids)", expected=len(messages), database=len(send_rows))
    counts: dict[str, int] = defaultdict(int)
    for mid in send_rows:
        counts[mid] += 1
    for mid in messages:
        if not counts.get(mid):
            sends_line.note("missing", f"{mid} intake {[(r.processed_at, r.error) for r in intake if r.message_id == mid][:2]}")
    for mid, n in counts.items():
        if n > 1:
            sends_line.note("duplicated", mid, n - 1)
        if mid not in messages:
            sends_line.note("extra", mid)

    expected = {(mid, phone): t for mid, rows in messages.items() for phone, t in rows.items()}
    rc_line = Line("recipients", expected=len(expected), database=len(rcpts))
    final_line = Line("final status and its date", expected=len(expected))
    hist_line = Line("status changes (history)")
    cost_line = Line("costs (current)")
    chist_line = Line("cost changes (history)")
    by_key: dict[tuple[str, str], list[Any]] = defaultdict(list)
    for r in rcpts:
        by_key[(r.message_id, r.phone_e164)].append(r)
    status_by_rcpt: dict[int, list[str]] = defaultdict(list)
    for e in st_events:
        status_by_rcpt[e.recipient_id].append(e.status)
    cost_by_rcpt: dict[int, list[tuple[Decimal | None, str | None]]] = defaultdict(list)
    for e in co_events:
        cost_by_rcpt[e.recipient_id].append((e.cost, e.currency))

    for key, (t, changes) in expected.items():
        rows = by_key.get(key, [])
        if not rows:
            rc_line.note("missing", str(key))
            continue
        if len(rows) > 1:
            rc_line.note("duplicated", str(key), len(rows) - 1)
        row = rows[0]
        # final status
        final_line.database += 1
        if row.status != t.status:
            final_line.note("wrong", f"{key}: {row.status} != {t.status}")
        elif not _close(row.status_at, t.date):
            final_line.note("wrong", f"{key}: date {row.status_at} != {t.date}")
        # status history: the changes seen must be an ordered subsequence of the true ones, end on the
        # final status, and never repeat.
        seen = status_by_rcpt.get(row.id, [])
        true_seq = ["Waiting", *changes]
        hist_line.expected += len(changes)
        hist_line.database += len([s for s in seen if s != "Waiting"])
        dups = sum(1 for a, b in itertools.pairwise(seen) if a == b)
        if dups:
            hist_line.note("duplicated", f"{key}: {seen}", dups)
        pos = 0
        for s in seen:
            try:
                pos = true_seq.index(s, pos)
            except ValueError:
                hist_line.note("extra", f"{key}: {s} not in {true_seq} (or out of order)")
        if not seen or seen[-1] != t.status:
            hist_line.note("missing", f"{key}: history {seen}, final {t.status}")
        hist_line.unseen += max(0, len(changes) - len([s for s in dict.fromkeys(seen) if s != "Waiting"]))
        # cost
        if t.cost is not None:
            cost_line.expected += 1
        if row.cost is not None:
            cost_line.database += 1
        if t.cost is not None and row.cost is None:
            cost_line.note("missing", str(key))
        elif t.cost is None and row.cost is not None:
            cost_line.note("extra", f"{key}: {row.cost}")
        elif t.cost is not None and (Decimal(row.cost) != Decimal(t.cost) or row.currency != t.currency):
            cost_line.note("wrong", f"{key}: {row.cost} {row.currency} != {t.cost} {t.currency}")
        costs = cost_by_rcpt.get(row.id, [])
        known = [c for c in costs if c[0] is not None]
        chist_line.expected += 1 if t.cost is not None else 0
        chist_line.database += len(known)
        dups = sum(1 for a, b in itertools.pairwise(costs) if a == b)
        if dups:
            chist_line.note("duplicated", f"{key}: {costs}", dups)
        if t.cost is not None and not any(Decimal(c) == Decimal(t.cost) for c, _ in known):
            chist_line.note("missing", f"{key}: {costs}")
        wrong = [c for c, _ in known if t.cost is None or Decimal(c) != Decimal(t.cost)]
        if wrong:
            chist_line.note("extra", f"{key}: {costs} vs {t.cost}", len(wrong))
    for key, rows in by_key.items():
        if key not in expected:
            rc_line.note("extra", str(key), len(rows))
    return [sends_line, rc_line, final_line, hist_line, cost_line, chist_line]
