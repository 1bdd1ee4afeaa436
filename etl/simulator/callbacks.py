"""Push callbacks from the simulated platform: STOPs and replies, and delivery reports (DLRs).

Why: the receiver (etl/push) must be tested over real sockets against something that calls it the
way the platform would, at the *simulated* times. Off by default; `Simulator.attach_callbacks`
(or ``POST /_sim/callbacks``) turns it on with the URLs to call.

What is sent (REFERENCE §3.14):

* **Replies and STOP** (`inbound`): short-number JSON ``{type, phone_number, text, message_id}``,
  ``message_id`` an int (WEB) or a string (DOC) per ``message_id_type``; ``style="long"`` sends the
  long-number shape instead (``msisdn`` without "+", ``to``, ``messageId``, ``type: "text"``,
  ``keyword``, ``message-timestamp``). A STOP joins the STOP list at its time, *then* is called in.
* **Delivery reports**: the payload is undocumented. Our choice mixes the status endpoints' names:
  ``{messageId, phoneNumber, status, date, cost, currency, countryCode}`` with operator codes
  (``DELIVRD``, ``UNDELIV``, ``REJECTD``, ``ENROUTE``, ``EXPIRED`` after the validity) and ``date``
  as an epoch string; ``dlr_style="status"`` sends ``Delivered``/``Not delivered``... and a
  ``"Y-m-d H:i:s"`` Paris date instead. One report per status change of each recipient's plan.

Retries: none is documented. By default a failed call (receiver down, 5xx) is logged in
``deliveries`` and dropped, like a platform that does not retry; ``retries=n`` tries n more times
at the next ticks. Everything fires from a background thread that checks the clock every
``interval`` seconds (a frozen clock fires when a test advances it); `tick` fires synchronously.
"""

from __future__ import annotations

import json
import threading
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from . import phones
from .clock import PARIS

if TYPE_CHECKING:
    from .core import Simulator

OPERATOR_CODE = {"Delivered": "DELIVRD", "Not delivered": "UNDELIV", "ko": "REJECTD", "Waiting": "ENROUTE"}


@dataclass
class Delivery:
    """One callback call: what was sent where, and how it ended (HTTP status or an error name)."""

    at: datetime
    channel: str  # stop | dlr | hlr
    payload: dict[str, Any]
    outcome: str = "pending"
    attempts: int = 0
    #: The URL this call goes to when the request named one (hlr/notify ``notifyUrl``).
    url: str | None = None


@dataclass(order=True)
class _Due:
    at: datetime
    seq: int
    channel: str = field(compare=False)
    payload: dict[str, Any] = field(compare=False)
    stop_phone: str | None = field(default=None, compare=False)
    url: str | None = field(default=None, compare=False)


class CallbackDispatcher:
    """Calls ``stop_url`` and ``dlr_url`` when simulated events come due."""

    def __init__(
        self,
        sim: Simulator,
        *,
        stop_url: str | None = None,
        dlr_url: str | None = None,
        interval: float = 0.05,
        timeout: float = 2.0,
        retries: int = 0,
        message_id_type: str = "int",
        dlr_style: str = "operator",
    ) -> None:
        self.sim = sim
        self.stop_url = stop_url
        self.dlr_url = dlr_url
        self.interval = interval
        self.timeout = timeout
        self.retries = retries
        self.message_id_type = message_id_type
        self.dlr_style = dlr_style
        self.deliveries: list[Delivery] = []
        self._queue: list[_Due] = []
        self._retry: list[tuple[str, Delivery]] = []
        self._fired: set[tuple[int, str, int]] = set()
        self._seq = 0
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None

    # --- control ----------------------------------------------------------------------------------
    def start(self) -> CallbackDispatcher:
        if self._thread is None:
            self._stopping.clear()
            self._thread = threading.Thread(target=self._loop, name="sim-callbacks", daemon=True)
            self._thread.start()
        return self

    def stop(self) -> None:
        self._stopping.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None

    def configure(self, **changes: Any) -> None:
        for key, value in changes.items():
            if key not in ("stop_url", "dlr_url", "retries", "message_id_type", "dlr_style", "timeout"):
                raise KeyError(f"unknown callback setting {key!r}")
            setattr(self, key, value)

    # --- events -------------------------------------------------------------------------------------
    def inbound(
        self,
        phone: str,
        text: str,
        *,
        message_id: int | str | None = None,
        at: datetime | None = None,
        kind: str | None = None,
        style: str = "short",
        to: str = "33700000000",
    ) -> None:
        """An SMS from ``phone`` at ``at`` (default now): ``kind`` stop, response or text (long
        number); a text that is just "STOP" is a stop on the short number."""
        e164 = phones.normalize(phone)
        if e164 is None:
            raise ValueError(f"invalid phone {phone!r}")
        when = at or self.sim.clock.now()
        kind = kind or ("text" if style == "long" else ("stop" if text.strip().upper() == "STOP" else "response"))
        if style == "long":
            payload: dict[str, Any] = {
                "msisdn": e164.lstrip("+"),
                "to": to,
                "messageId": str(message_id) if message_id is not None else f"0200000{self._seq:09d}",
                "text": text,
                "type": "text",
                "keyword": text.split()[0].upper() if text.split() else "",
                "message-timestamp": when.astimezone(PARIS).strftime("%Y-%m-%d %H:%M:%S"),
            }
        else:
            mid: Any = message_id
            if message_id is not None:
                mid = int(message_id) if self.message_id_type == "int" else str(message_id)
            payload = {"type": kind, "phone_number": e164, "text": text, "message_id": mid}
        with self._lock:
            self._seq += 1
            self._queue.append(_Due(when, self._seq, "stop", payload, e164 if kind == "stop" else None))

    def notify(self, url: str, payloads: list[dict[str, Any]], at: datetime) -> None:
        """Queue one call per payload to ``url`` at ``at`` (HLR results: hlr/notify's ``notifyUrl``)."""
        with self._lock:
            for payload in payloads:
                self._seq += 1
                self._queue.append(_Due(at, self._seq, "hlr", payload, url=url))

    def _due_reports(self, now: datetime) -> list[_Due]:
        """DLRs for every status change of every recipient that has happened by ``now`` and not fired."""
        out: list[_Due] = []
        sim = self.sim
        validity = timedelta(hours=sim.quirks.validity_hours) if sim.quirks.expire_after_validity else None
        with sim.lock, self._lock:
            for msg in sim.messages.values():
                if msg.cancelled_at is not None or msg.send_at > now:
                    continue
                for rcpt in msg.recipients.values():
                    steps = sorted(rcpt.plan.events, key=lambda e: e[0])
                    items = [(msg.send_at + delay, status, status) for delay, status in steps]
                    if validity is not None and all(st == "Waiting" for _d, st in steps):
                        items.append((msg.send_at + validity, "Not delivered", "EXPIRED"))
                    for index, (at, status, code) in enumerate(items):
                        key = (msg.id, rcpt.phone, index)
                        if at > now or key in self._fired:
                            continue
                        self._fired.add(key)
                        self._seq += 1
                        out.append(_Due(at, self._seq, "dlr", self._dlr_payload(msg.id, rcpt, at, status, code)))
        return out

    def _dlr_payload(self, message_id: int, rcpt: Any, at: datetime, status: str, code: str) -> dict[str, Any]:
        plan = rcpt.plan
        if self.dlr_style == "status":
            value, date = status, at.astimezone(PARIS).strftime("%Y-%m-%d %H:%M:%S")
        else:
            value = OPERATOR_CODE.get(code, code) if code == status else code
            date = str(int(at.timestamp()))
        return {
            "messageId": str(message_id),
            "phoneNumber": rcpt.phone,
            "status": value,
            "date": date,
            "cost": float(plan.cost),
            "currency": plan.currency,
            "countryCode": plan.country,
        }

    # --- firing -------------------------------------------------------------------------------------
    def tick(self) -> int:
        """Fire everything due by the simulated now, in time order; returns how many calls were made."""
        now = self.sim.clock.now()
        with self._lock:
            due = sorted(d for d in self._queue if d.at <= now)
            self._queue = [d for d in self._queue if d.at > now]
            retry, self._retry = self._retry, []
        if self.dlr_url:
            due = sorted(due + self._due_reports(now))
        calls = 0
        for channel, delivery in retry:
            calls += self._post(channel, delivery)
        for item in due:
            if item.stop_phone is not None and not self.sim.is_stopped(item.stop_phone):
                self.sim.add_stop(item.stop_phone, created_at=item.at)  # the platform's list first
            delivery = Delivery(item.at, item.channel, item.payload, url=item.url)
            with self._lock:
                self.deliveries.append(delivery)
            calls += self._post(item.channel, delivery)
        return calls

    def _post(self, channel: str, delivery: Delivery) -> int:
        url = delivery.url or (self.stop_url if channel == "stop" else self.dlr_url)
        if not url:
            delivery.outcome = "no_url"
            return 0
        delivery.attempts += 1
        request = urllib.request.Request(
            url, data=json.dumps(delivery.payload).encode(), headers={"Content-Type": "application/json"}, method="POST"
        )
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as answer:
                delivery.outcome = str(answer.status)
        except urllib.error.HTTPError as exc:
            delivery.outcome = str(exc.code)
        except (urllib.error.URLError, OSError) as exc:
            delivery.outcome = type(getattr(exc, "reason", exc)).__name__
        if not delivery.outcome.startswith("2") and delivery.attempts <= self.retries:
            with self._lock:
                self._retry.append((channel, delivery))
        return 1

    def _loop(self) -> None:
        while not self._stopping.wait(self.interval):
            try:
                self.tick()
            except Exception:  # noqa: BLE001 - a test double's thread must not die silently mid-test
                import traceback

                traceback.print_exc()

    def delivered(self, channel: str | None = None) -> list[Delivery]:
        with self._lock:
            return [d for d in self.deliveries if channel in (None, d.channel)]


__all__ = ["CallbackDispatcher", "Delivery", "OPERATOR_CODE"]
