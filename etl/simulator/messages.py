"""Sent messages and per-recipient delivery timelines, evaluated lazily against the clock.

Why: reports arrive "a few seconds" after sending but can lag up to 48 h (REFERENCE §4,
SEED-001/004), and the cost of a recipient may be missing at first and appear later. Each
recipient holds a *plan* (delays after the actual send time); status, date and cost are computed
from ``now`` on every read, so a test can jump 48 h without sleeping.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from decimal import Decimal

from .clock import PARIS

STATUSES = ("Waiting", "Delivered", "Not delivered", "ko")


@dataclass
class Plan:
    events: list[tuple[timedelta, str]]
    cost_after: timedelta | None  # None: the cost never shows; timedelta(0): at once
    cost: Decimal
    country: str = "FR"
    currency: str = "EUR"


@dataclass
class Recipient:
    phone: str  # E.164
    text: str
    nb_sms: int
    plan: Plan


@dataclass
class Message:
    id: int
    created_at: datetime  # when /send was called
    send_at: datetime  # actual send time (scheduled, then maybe held for the night)
    scheduled: bool
    tag: str | None
    sandbox: bool
    recipients: dict[str, Recipient] = field(default_factory=dict)
    cancelled_at: datetime | None = None
    gamme: int = 1
    failed: list[tuple[str, int]] = field(default_factory=list)  # bulk-send items refused (phone, code)


@dataclass(frozen=True)
class Truth:
    status: str
    date: datetime  # time of the last change (the send time while Waiting)
    cost: Decimal | None
    country: str
    currency: str

    def as_dict(self) -> dict[str, object]:
        return {
            "status": self.status,
            "date": self.date,
            "cost": self.cost,
            "country": self.country,
            "currency": self.currency,
        }


def nb_parts(text: str, unicode: bool = False) -> int:
    """SMS parts: 160/153 chars, 70/67 with unicode (REFERENCE §3.2)."""
    single, multi = (70, 67) if unicode else (160, 153)
    if len(text) <= single:
        return 1
    return -(-len(text) // multi)


def default_plan(rng: random.Random, unit_cost: Decimal, nb_sms: int, country: str, cost_delay_share: float) -> Plan:
    """A seeded, realistic timeline: mostly seconds, some hours, a few never resolve."""
    r = rng.random()
    if r < 0.80:
        events = [(timedelta(seconds=rng.uniform(2, 90)), "Delivered")]
    elif r < 0.88:
        events = [(timedelta(minutes=rng.uniform(5, 360)), "Delivered")]
    elif r < 0.90:
        events = [(timedelta(hours=rng.uniform(6, 47)), "Delivered")]
    elif r < 0.95:
        events = [(timedelta(seconds=rng.uniform(5, 600)), "Not delivered")]
    elif r < 0.96:
        events = [(timedelta(seconds=rng.uniform(1, 30)), "ko")]
    else:
        events = []  # never resolves: Waiting, then expired after the validity (§4)
    cost_after: timedelta | None = timedelta(0)
    if rng.random() < cost_delay_share:
        first = events[0][0] if events else timedelta(0)
        cost_after = first + timedelta(minutes=rng.uniform(10, 360))
    return Plan(events, cost_after, unit_cost * nb_sms, country, "EUR")


def truth_at(msg: Message, rcpt: Recipient, now: datetime, *, validity: timedelta | None, cancelled_status: str) -> Truth:
    """The recipient's true status at ``now`` (the single rule every endpoint renders)."""
    plan = rcpt.plan
    if msg.cancelled_at is not None:
        return Truth(cancelled_status, msg.cancelled_at, Decimal("0"), plan.country, plan.currency)
    status, when = "Waiting", msg.send_at
    for delay, st in sorted(plan.events, key=lambda e: e[0]):
        at = msg.send_at + delay
        if at > now:
            break
        status, when = st, at
    if status == "Waiting" and validity is not None and now >= msg.send_at + validity:
        status, when = "Not delivered", msg.send_at + validity
    cost = None
    if plan.cost_after is not None and now >= msg.send_at + plan.cost_after and now >= msg.send_at:
        cost = plan.cost
    return Truth(status, when, cost, plan.country, plan.currency)


def status_changes(msg: Message, rcpt: Recipient, now: datetime, validity: timedelta | None) -> list[tuple[datetime, str, str | Decimal]]:
    """Ground-truth events up to ``now``: ("status", value) and ("cost", value), for reconciliation."""
    out: list[tuple[datetime, str, str | Decimal]] = []
    if msg.cancelled_at is not None:
        return out
    last = "Waiting"
    for delay, st in sorted(rcpt.plan.events, key=lambda e: e[0]):
        at = msg.send_at + delay
        if at <= now:
            out.append((at, "status", st))
            last = st
    if last == "Waiting" and validity is not None and now >= msg.send_at + validity:
        out.append((msg.send_at + validity, "status", "Not delivered"))
    if rcpt.plan.cost_after is not None and now >= msg.send_at + rcpt.plan.cost_after:
        out.append((msg.send_at + rcpt.plan.cost_after, "cost", rcpt.plan.cost))
    return out


# French fixed public holidays (quirk 24 holds commercial SMS on them too).
_HOLIDAYS = {(1, 1), (5, 1), (5, 8), (7, 14), (8, 15), (11, 1), (11, 11), (12, 25)}


def _working_day(d: date) -> bool:
    return d.weekday() != 6 and (d.month, d.day) not in _HOLIDAYS


def night_hold(at: datetime) -> datetime:
    """Commercial SMS between 20:00 and 08:00, on Sundays or holidays wait for 08:00 of the next
    working day (REFERENCE §3.2, quirk 24)."""
    local = at.astimezone(PARIS)
    d = local.date()
    if _working_day(d) and time(8) <= local.time() < time(20):
        return at
    if _working_day(d) and local.time() < time(8):
        return datetime.combine(d, time(8), PARIS)
    d += timedelta(days=1)
    while not _working_day(d):
        d += timedelta(days=1)
    return datetime.combine(d, time(8), PARIS)
