"""Build a Simulator from a JSON or TOML seed file (``smspartner-etl simulator --seed-file``).

Shape (every key optional)::

    {"api_key": "sim-demo-key-not-a-real-secret", "seed": 42, "start": "2026-01-05T09:00:00+01:00",
     "running_clock": true,
     "quirks": {"error_http_status": 400},
     "stops": {"generate": 1000, "seed": 1, "explicit": ["+33611111111", "0622222222"]},
     "rentals": [{"token": "rent-a", "numbers": 50, "status": 2, "stop_share": 0.1}],
     "messages": [{"count": 100, "recipients": 3, "tag": "promo", "message": "hi",
                   "scheduled_in_hours": 24, "sandbox": false, "sent_hours_ago": 2}]}

``messages`` entries with ``count`` create that many sends to derived numbers; ``sent_hours_ago``
backdates them by sending with the clock set earlier (statuses then evolve from there).

Contact groups and sub-accounts (docs/accounts.md)::

     "groups": [{"name": "VIP", "contacts": ["+33633000001", {"phone": "0633000002", "stop_sms": true}],
                 "generate": 200, "stop_share": 0.1}],
     "subaccounts": [{"email": "shop@example.invalid", "type": "simple", "balance": "12.5",
                      "token": "optional", "api_key": "optional (default sim-sub-<hex>)", "revoked": false,
                      "stops": {...}, "groups": [...], "rentals": [...], "messages": [...]}]

A sub-account entry takes every key an account has (stops, rentals, messages, groups) for its own state.
"""

from __future__ import annotations

import json
import random
import tomllib
from datetime import datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

from .core import Simulator


def load(path: str | Path) -> dict[str, Any]:
    p = Path(path)
    if p.suffix.lower() == ".toml":
        return tomllib.loads(p.read_text(encoding="utf-8"))
    data = json.loads(p.read_text(encoding="utf-8"))
    if not isinstance(data, dict):
        raise ValueError(f"{p}: the seed file must hold an object")
    return data


def build(spec: dict[str, Any], *, api_key: str | None = None) -> Simulator:
    """A Simulator in the state ``spec`` describes (the clock ends at ``start``, then runs)."""
    start = datetime.fromisoformat(spec["start"]) if spec.get("start") else None
    sim = Simulator(api_key=api_key or spec.get("api_key", "sim-demo-key-not-a-real-secret"), seed=int(spec.get("seed", 42)), start=start)
    sim.quirks.update(**spec.get("quirks", {}))
    populate(sim, spec)
    for sub in spec.get("subaccounts", []):
        add_subaccount(sim, sub)
    sim.clock.running = bool(spec.get("running_clock", True))
    return sim


def add_subaccount(parent: Simulator, spec: dict[str, Any]) -> Any:
    """One sub-account with its own state (``populate``); ``balance`` is set, not taken from the parent."""
    created = datetime.fromisoformat(spec["created_at"]) if spec.get("created_at") else None
    sub = parent.subaccounts.create(
        str(spec["email"]),
        str(spec.get("type", "simple")),
        token=spec.get("token"),
        api_key=spec.get("api_key"),
        created_at=created,
    )
    sub.account.balance = Decimal(str(spec.get("balance", "0")))
    populate(sub.account, spec)
    if spec.get("revoked"):
        parent.subaccounts.revoke(sub.token)
    return sub


def add_group(account: Simulator, spec: dict[str, Any]) -> tuple[int, list[int]]:
    """A contact group with ``contacts`` (numbers or ``{phone, stop_sms, firstname...}``) and ``generate`` derived
    numbers, ``stop_share`` of them flagged ``stopSms``. Returns (group id, contact ids)."""
    now = account.clock.now()
    with account.lock:
        group = account.contacts.add_group(str(spec["name"]), now, location_file=bool(spec.get("location_file", False)))
        ids = []
        for entry in spec.get("contacts", []):
            item = entry if isinstance(entry, dict) else {"phone": entry}
            values = {k: str(v) for k, v in item.items() if k not in ("phone", "stop_sms")}
            ids.append(account.contacts.add_contact(group.id, str(item["phone"]), now, stop_sms=bool(item.get("stop_sms")), values=values).id)
        rng = random.Random(f"{account.seed}:group:{group.id}")
        share = float(spec.get("stop_share", 0.0))
        for k in range(int(spec.get("generate", 0))):
            phone = f"+336{group.id % 100:02d}{k:06d}"
            ids.append(account.contacts.add_contact(group.id, phone, now, stop_sms=rng.random() < share).id)
    return group.id, ids


def populate(sim: Simulator, spec: dict[str, Any]) -> None:
    """Stops, rentals, messages and contact groups of one account (the parent or a sub-account)."""
    now = sim.clock.now()

    stops = spec.get("stops", {})
    if isinstance(stops, list):
        stops = {"explicit": stops}
    for i, phone in enumerate(stops.get("explicit", [])):
        sim.add_stop(str(phone), now - timedelta(days=30 - i % 30))
    if stops.get("generate"):
        sim.generate_stops(int(stops["generate"]), int(stops.get("seed", 1)))

    for r in spec.get("rentals", []):
        sim.add_rental(
            str(r["token"]),
            r["numbers"],
            status=int(r.get("status", 2)),
            stop_share=float(r.get("stop_share", 0.0)),
            single_download=bool(r.get("single_download", False)),
        )

    serial = 0
    for m in spec.get("messages", []):
        for _ in range(int(m.get("count", 1))):
            numbers = m.get("phone_numbers") or [f"+3361{(serial * 37 + k) % 10_000_000:07d}"[:12] for k in range(int(m.get("recipients", 1)))]
            serial += 1
            ago = timedelta(hours=float(m.get("sent_hours_ago", 0)) * (serial % 7 + 1) / 7)
            sched = now + timedelta(hours=float(m["scheduled_in_hours"])) if m.get("scheduled_in_hours") else None
            sim.clock.set(now - ago)
            try:
                sim.send(numbers, str(m.get("message", "Bonjour")), tag=m.get("tag"), scheduled_at=sched, sandbox=bool(m.get("sandbox", False)))
            except Exception:  # noqa: BLE001 - a seed number in the stop list: skip it, keep seeding
                pass
            finally:
                sim.clock.set(now)
    for group in spec.get("groups", []):
        add_group(sim, group)
