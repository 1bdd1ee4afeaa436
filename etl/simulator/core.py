"""The simulated account: ground truth for stops, messages, rentals, credits, and the logs.

Why: one object owns every piece of state behind one lock, so HTTP handlers and tests see the
same truth. Python methods here (``send``, ``add_stop``...) apply the same rules as the HTTP
endpoints, and everything that changes is written to ``events`` for later reconciliation.
"""

from __future__ import annotations

import itertools
import random
import threading
from collections import deque
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from . import phones
from .clock import PARIS, SimClock
from .codes import ApiFailure
from .contacts import ContactBook
from .faults import FaultInjector
from .messages import STATUSES, Message, Plan, Recipient, Truth, default_plan, nb_parts, night_hold, status_changes, truth_at
from .quirks import Quirks
from .rentals import Rental
from .stops import StopsSnapshot, StopStore

UNIT_COST = {1: Decimal("0.045"), 2: Decimal("0.035")}  # premium, low cost (gamme)
MAX_RECIPIENTS = 500


@dataclass(frozen=True)
class Call:
    """One HTTP call as the server saw it; ``params`` has the apiKey masked."""

    endpoint: str
    method: str
    params: dict[str, Any]
    http_status: int
    at: datetime
    fault: str | None = None
    #: Whose key the call carried: "main" (the parent), a sub-account's token, or None (unknown key).
    account: str | None = "main"
    #: When the request arrived, in wall-clock time (aware UTC): rates across processes are counted on it.
    wall_at: datetime | None = None
    #: The client's TCP port: which process made the call when several share one simulator (bench/scale_out.py
    #: maps each instance's sockets to it); None for a call not made over a socket.
    peer: int | None = None


@dataclass(frozen=True)
class Event:
    """A ground-truth change: kind in stop_added, stop_removed, status, cost, rental_stop,
    rental_status, cancel, send."""

    at: datetime
    kind: str
    data: dict[str, Any] = field(default_factory=dict)


class Simulator:
    """In-memory SMS Partner account. Thread-safe; see docs/simulator.md."""

    def __init__(
        self, api_key: str = "sim-key-0123", seed: int = 42, start: datetime | None = None, *, parent: Simulator | None = None
    ) -> None:
        from .accounts import SubAccounts

        self.api_key = api_key
        self.seed = seed
        #: A sub-account shares its parent's clock, quirks, faults, lock and call log; its state is its own.
        self.parent = parent
        if parent is None:
            self.clock = SimClock(start)
            self.quirks = Quirks()
            self.faults = FaultInjector(seed)
            self.calls: list[Call] = []
            self.lock = threading.RLock()
            self._ids = itertools.count(6363)
        else:
            self.clock, self.quirks, self.faults = parent.clock, parent.quirks, parent.faults
            self.calls, self.lock, self._ids = parent.calls, parent.lock, parent._ids
        self.max_calls = 200_000
        self._stops = StopStore()
        self.messages: dict[int, Message] = {}
        self.rentals: dict[str, Rental] = {}
        self.contacts = ContactBook(self._ids)
        #: The parent's sub-accounts (accounts.py); empty on a sub-account, which cannot have any.
        self.subaccounts = SubAccounts(self)
        self._events: list[Event] = []
        self._next_message_id = 300_001 if parent is None else 300_001 + 1_000_000 * (seed % 1000)
        self._next_rental_id = 884_310
        self.balance = Decimal("10225.119")
        self.credit_hlr = 120
        self.hlr_campaigns = 0
        self.user: dict[str, Any] = {"id": 4242, "username": "simulator@example.invalid", "firstname": "Sim", "lastname": "Ulator"}
        #: Calls per rate-limited endpoint in the last 60 s of simulated time, per account.
        self.rate_hits: dict[str, deque[datetime]] = {}
        #: Push callbacks (etl/simulator/callbacks.py); None = off, the default.
        self.callbacks: Any = None

    @property
    def root(self) -> Simulator:
        """The parent account (itself for the parent)."""
        return self if self.parent is None else self.parent

    @property
    def cost_resume_hits(self) -> deque[datetime]:
        return self.rate_hits.setdefault("statistics/cost-resume", deque())

    # ------------------------------------------------------------------ push callbacks
    def attach_callbacks(self, **settings: Any) -> Any:
        """Start calling ``stop_url``/``dlr_url`` at the simulated times (see callbacks.py)."""
        from .callbacks import CallbackDispatcher

        if self.callbacks is None:
            self.callbacks = CallbackDispatcher(self, **settings).start()
        else:
            self.callbacks.configure(**settings)
        return self.callbacks

    def inbound_sms(self, phone: str, text: str, **kwargs: Any) -> None:
        """A reply or STOP from ``phone`` (joins the STOP list and is called in when due)."""
        if self.callbacks is None:
            raise RuntimeError("callbacks are off: call attach_callbacks() first")
        self.callbacks.inbound(phone, text, **kwargs)

    # ------------------------------------------------------------------ call log
    def record_call(self, call: Call) -> None:
        with self.lock:
            self.calls.append(call)
            if len(self.calls) > self.max_calls:
                del self.calls[: len(self.calls) - self.max_calls]

    def calls_to(self, endpoint: str) -> list[Call]:
        endpoint = endpoint.strip("/")
        with self.lock:
            return [c for c in self.calls if c.endpoint == endpoint]

    def reset_calls(self) -> None:
        with self.lock:
            self.calls.clear()

    def _event(self, kind: str, at: datetime | None = None, **data: Any) -> None:
        self._events.append(Event(at or self.clock.now(), kind, data))

    @property
    def events(self) -> list[Event]:
        """Explicit events plus delivery status/cost changes that have happened by now, by time."""
        now = self.clock.now()
        validity = self._validity()
        with self.lock:
            out = list(self._events)
            for msg in self.messages.values():
                for rcpt in msg.recipients.values():
                    for at, kind, value in status_changes(msg, rcpt, now, validity):
                        out.append(Event(at, kind, {"message_id": msg.id, "phone": rcpt.phone, "value": value}))
        out.sort(key=lambda e: e.at)
        return out

    # ------------------------------------------------------------------ stops
    def add_stop(self, phone: str, created_at: datetime | None = None) -> int:
        """Add a number to the STOP list (ground truth, no API rules). Returns its id."""
        e164 = phones.normalize(phone)
        if e164 is None:
            raise ValueError(f"invalid phone {phone!r}")
        with self.lock:
            if self._stops.find(e164) is not None:
                raise ValueError(f"{e164} already in the stop list")
            at = created_at or self.clock.now()
            sid = self._stops.add(e164, at)
            self._event("stop_added", at, id=sid, phone=e164)
            return sid

    def remove_stop(self, stop_id: int) -> None:
        with self.lock:
            phone, _ = self._stops.remove(int(stop_id))
            self._event("stop_removed", id=int(stop_id), phone=phone)

    def generate_stops(self, n: int, seed: int = 1) -> None:
        """Add ``n`` derived entries (compact: nothing per entry is stored)."""
        with self.lock:
            self._stops.generate(n, seed, self.clock.now())

    def stops(self) -> list[tuple[int, str, datetime]]:
        """The current STOP list, ground truth: (id, E.164 phone, aware createdAt)."""
        with self.lock:
            snap = self._stops.snapshot()
        return [(sid, p, c.replace(tzinfo=PARIS)) for sid, p, c in snap.iter_naive()]

    def stops_snapshot(self) -> StopsSnapshot:
        with self.lock:
            return self._stops.snapshot()

    def stop_id_of(self, phone: str) -> int | None:
        e164 = phones.normalize(phone)
        with self.lock:
            return None if e164 is None else self._stops.find(e164)

    def is_stopped(self, e164: str) -> bool:
        with self.lock:
            return self._stops.find(e164) is not None

    def api_add_stop(self, raw_phone: str) -> int:
        """/stop-sms/add rules: code 9 invalid number, code 3 already listed (quirk 15)."""
        e164 = phones.normalize(raw_phone)
        if e164 is None:
            raise ApiFailure(9)
        with self.lock:
            existing = self._stops.find(e164)
            if existing is not None:
                if self.quirks.stop_add_duplicate == "idempotent":
                    return existing
                raise ApiFailure(3)
            return self.add_stop(e164)

    def api_delete_stop(self, raw_id: str) -> None:
        try:
            sid = int(str(raw_id).strip())
        except ValueError:
            raise ApiFailure(4) from None
        with self.lock:
            if self._stops.get(sid) is None:
                raise ApiFailure(4)
            self.remove_stop(sid)

    # ------------------------------------------------------------------ messages
    def _validity(self) -> timedelta | None:
        q = self.quirks
        return timedelta(hours=q.validity_hours) if q.expire_after_validity else None

    def send(
        self,
        phone_numbers: list[str],
        message: str = "hello",
        *,
        tag: str | None = None,
        scheduled_at: datetime | None = None,
        sandbox: bool = False,
    ) -> str:
        """Send like POST /send (same checks, same plans). Returns the message id as a string."""
        msg = self.api_send([(p, message) for p in phone_numbers], tag=tag, scheduled_at=scheduled_at, sandbox=sandbox)
        return str(msg.id)

    def api_send(
        self,
        items: list[tuple[str, str]],
        *,
        tag: str | None = None,
        scheduled_at: datetime | None = None,
        sandbox: bool = False,
        gamme: int = 1,
        unicode: bool = False,
        per_item_errors: bool = False,
    ) -> Message:
        """Validate and record a send. ``per_item_errors`` (bulk-send) keeps bad numbers as
        failed items instead of failing the request; they are listed in ``msg.failed``."""
        if not items:
            raise ApiFailure(2)
        if len(items) > MAX_RECIPIENTS:
            raise ApiFailure(50)
        if tag is not None and (len(tag) > 20 or " " in tag):
            raise ApiFailure(9, errors=[{"elementId": "tag", "message": "Le tag doit faire 20 caractères maximum, sans espace"}])
        if gamme not in UNIT_COST:
            raise ApiFailure(9, errors=[{"elementId": "gamme", "message": "Gamme invalide"}])
        now = self.clock.now()
        if scheduled_at is not None and scheduled_at <= now:
            raise ApiFailure(9, errors=[{"elementId": "scheduledDeliveryDate", "message": "La date d'envoi doit être dans le futur"}])
        good: list[tuple[str, str, int]] = []
        failed: list[tuple[str, int]] = []
        for raw, text in items:
            if not text:
                raise ApiFailure(9, errors=[{"elementId": "message", "message": "Le message est requis"}])
            parts = nb_parts(text, unicode)
            if parts > 10:
                raise ApiFailure(52)
            e164 = phones.normalize(raw)
            if e164 is None:
                if per_item_errors:
                    failed.append((str(raw), 9))
                    continue
                raise ApiFailure(9, errors=[{"elementId": "phoneNumbers", "message": f"Numéro invalide : {raw}"}])
            if self.is_stopped(e164) and self.quirks.send_to_stopped != "deliver":
                failed.append((e164, 14))
                continue
            good.append((e164, text, parts))
        if not good:
            raise ApiFailure(14 if failed and all(c == 14 for _, c in failed) else 9)
        unit = UNIT_COST[gamme]
        total = sum((unit * parts for _, _, parts in good), Decimal(0))
        with self.lock:
            if not sandbox and total > self.balance:
                raise ApiFailure(11)
            send_at = scheduled_at or now
            if self.quirks.commercial_night_hold and not sandbox:
                send_at = night_hold(send_at)
            mid = self._next_message_id
            self._next_message_id += 1
            msg = Message(mid, now, send_at, scheduled_at is not None, tag, sandbox, gamme=gamme)
            for e164, text, parts in good:
                rng = random.Random(f"{self.seed}:{mid}:{e164}")
                plan = default_plan(rng, unit, parts, phones.country_of(e164), self.quirks.cost_delay_share)
                if sandbox:
                    plan.cost = Decimal("0")
                msg.recipients[e164] = Recipient(e164, text, parts, plan)
            msg.failed = failed
            self.messages[mid] = msg
            if not sandbox:
                self.balance -= total
            self._event("send", now, message_id=mid, recipients=len(good), send_at=send_at, tag=tag, sandbox=sandbox)
            return msg

    def plan(
        self,
        message_id: int | str,
        phone: str,
        events: list[tuple[timedelta, str]],
        cost_after: timedelta | None = timedelta(0),
        cost: Decimal = Decimal("0.045"),
        country: str = "FR",
        currency: str = "EUR",
    ) -> None:
        """Replace a recipient's timeline: ``events`` are (delay after the actual send time, status)."""
        for _, st in events:
            if st not in STATUSES:
                raise ValueError(f"unknown status {st!r}; use one of {STATUSES}")
        with self.lock:
            rcpt = self._recipient(message_id, phone)
            rcpt.plan = Plan(list(events), cost_after, Decimal(cost), country, currency)

    def _recipient(self, message_id: int | str, phone: str) -> Recipient:
        msg = self.messages[int(message_id)]
        e164 = phones.normalize(phone)
        if e164 is None or e164 not in msg.recipients:
            raise KeyError(f"{phone} is not a recipient of {message_id}")
        return msg.recipients[e164]

    def truth(self, msg: Message, rcpt: Recipient, now: datetime | None = None) -> Truth:
        q = self.quirks
        cancelled = "Waiting" if q.cancelled_status == "Waiting" else "Not delivered"
        return truth_at(msg, rcpt, now or self.clock.now(), validity=self._validity(), cancelled_status=cancelled)

    def recipient_truth(self, message_id: int | str, phone: str) -> dict[str, Any]:
        """Current true status/date/cost (aware datetimes, Decimal or None) of one recipient."""
        with self.lock:
            msg = self.messages[int(message_id)]
            rcpt = self._recipient(message_id, phone)
            out = self.truth(msg, rcpt).as_dict()
            out.update(message_id=str(msg.id), phone=rcpt.phone, cancelled=msg.cancelled_at is not None, sandbox=msg.sandbox)
            return out

    def lookup(self, raw_id: Any, raw_phone: Any = None, *, allow_national: bool = True) -> tuple[Message, Recipient | None]:
        """Find a message (and recipient) as the status endpoints do: code 4 when unknown,
        when a sandbox message was purged (quirk 24) or a cancelled one is reported not found."""
        try:
            mid = int(str(raw_id).strip())
        except ValueError:
            raise ApiFailure(4) from None
        msg = self.messages.get(mid)
        if msg is None or self._purged(msg):
            raise ApiFailure(4)
        if msg.cancelled_at is not None and self.quirks.cancelled_status == "not_found":
            raise ApiFailure(4)
        if raw_phone is None:
            return msg, None
        e164 = phones.normalize(str(raw_phone), allow_national=allow_national)
        if e164 is None or e164 not in msg.recipients:
            raise ApiFailure(4)
        return msg, msg.recipients[e164]

    def _purged(self, msg: Message) -> bool:
        if not (msg.sandbox and self.quirks.sandbox_purge):
            return False
        created = msg.created_at.astimezone(PARIS).date()
        return self.clock.now().astimezone(PARIS).date() > created

    def api_cancel(self, raw_id: Any) -> None:
        """Cancel rules (DOC-cancel, SEED-002): 4 unknown, 5 already cancelled,
        6 less than 5 minutes before the send, 7 already sent."""
        with self.lock:
            try:
                mid = int(str(raw_id).strip())
            except ValueError:
                raise ApiFailure(4) from None
            msg = self.messages.get(mid)
            if msg is None or self._purged(msg):
                raise ApiFailure(4)
            if msg.cancelled_at is not None:
                raise ApiFailure(5)
            now = self.clock.now()
            if now >= msg.send_at:
                raise ApiFailure(7)
            if now > msg.send_at - timedelta(minutes=5):
                raise ApiFailure(6)
            msg.cancelled_at = now
            if not msg.sandbox:
                self.balance += sum((r.plan.cost for r in msg.recipients.values()), Decimal(0))
            self._event("cancel", now, message_id=mid)

    def cancel(self, message_id: int | str) -> None:
        """Python twin of GET /message-cancel (raises ApiFailure with the API code)."""
        self.api_cancel(message_id)

    def to_send(self) -> int:
        now = self.clock.now()
        with self.lock:
            return sum(
                r.nb_sms
                for m in self.messages.values()
                if m.cancelled_at is None and m.send_at > now
                for r in m.recipients.values()
            )

    # ------------------------------------------------------------------ rentals
    def add_rental(
        self,
        token: str,
        numbers: list[str] | int,
        *,
        status: int = 2,
        stop_share: float = 0.0,
        single_download: bool = False,
        seed: int | None = None,
    ) -> None:
        """Create a rental; an int ``numbers`` generates that many derived numbers."""
        with self.lock:
            if token in self.rentals:
                raise ValueError(f"rental {token!r} exists")
            explicit: list[str] | None = None
            n = 0
            if isinstance(numbers, int):
                n = numbers
            else:
                explicit = []
                for raw in numbers:
                    e164 = phones.normalize(raw)
                    if e164 is None:
                        raise ValueError(f"invalid phone {raw!r}")
                    explicit.append(e164)
            rseed = seed if seed is not None else len(self.rentals) + self.seed
            rental = Rental(token, status, self._next_rental_id, explicit, n, rseed, single_download)
            rental.initial_stop_share = stop_share
            self._next_rental_id += len(rental) + 1000
            self.rentals[token] = rental
            self._event("rental_status", token=token, status=status)

    def set_rental_status(self, token: str, code: int) -> None:
        with self.lock:
            self.rentals[token].status = int(code)
            self._event("rental_status", token=token, status=int(code))

    def set_rental_unit_cost(self, token: str, unit: Decimal) -> None:
        """Re-price a rental: ``location/status`` then quotes the new unit cost and total."""
        with self.lock:
            self.rentals[token].unit_cost = Decimal(unit)

    def remove_rental_file(self, token: str) -> None:
        """Make the next download answer code 33 (file not found)."""
        with self.lock:
            self.rentals[token].file_present = False

    def set_rental_stop(self, token: str, phone: str, stop: bool) -> None:
        with self.lock:
            rental = self.rentals[token]
            e164 = phones.normalize(phone)
            i = rental.index_of(e164 or "")
            if i is None:
                raise KeyError(f"{phone} not in rental {token}")
            rental.stop[i] = bool(stop)
            self._event("rental_stop", token=token, phone=e164, stop=bool(stop))

    def flip_rental_stops(self, token: str, share: float, seed: int = 7) -> list[str]:
        """Toggle the stop flag of ``share`` of the rental's numbers; returns those numbers."""
        with self.lock:
            rental = self.rentals[token]
            k = round(len(rental) * share)
            idx = random.Random(f"flip:{seed}:{token}").sample(range(len(rental)), k)
            out = []
            for i in sorted(idx):
                flag = not rental.is_stop(i)
                rental.stop[i] = flag
                phone = rental.phone(i)
                out.append(phone)
                self._event("rental_stop", token=token, phone=phone, stop=flag)
            return out

    def rental_rows(self, token: str) -> list[tuple[int, str, bool]]:
        """Ground truth of a rental file: (id, phone, stop)."""
        with self.lock:
            rental = self.rentals[token]
            overrides = dict(rental.stop)
        return list(rental.iter_rows(overrides))
