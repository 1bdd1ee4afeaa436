"""Quarantine: an item that cannot be read is kept aside, not fatal to its answer.

The rule (docs/api-client.md, "Quarantine"): what is unreadable is quarantined, what is unsure is
blocked. A job reads each item of an answer on its own; an item that fails becomes a `Rejection`,
the rest is applied, and `record` stores the rejections in ``rejected_items`` in the job's own
transaction, so the run row, the applied data and the quarantine commit together.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, and_, bindparam, select, tuple_, update

from etl.accounts import PARENT_ID
from etl.db.schema import rejected_items
from etl.runlog import redact

MAX_ITEM = 4000
MAX_REASON = 255
#: Keys per lookup: a flood of bad items must not build one statement with unbounded parameters.
_LOOKUP_CHUNK = 500


@dataclass(frozen=True)
class Rejection:
    """One item refused: where it came from, what it was, why, and what it belongs to."""

    endpoint: str
    #: The item as received (a dict, list or scalar from the decoded answer, or raw text).
    item: Any
    reason: str
    #: recipient, stop, rental_number, tag or push; None when the item names nothing readable.
    ref_kind: str | None = None
    ref: str | None = None


def item_text(item: Any, secrets: Sequence[str] = ()) -> str:
    """The item as canonical JSON (sorted keys), secrets masked, cut to fit the column."""
    if isinstance(item, (bytes, bytearray)):
        item = bytes(item).decode("utf-8", "replace")
    try:
        text = item if isinstance(item, str) else json.dumps(item, sort_keys=True, ensure_ascii=False, default=str)
    except (TypeError, ValueError):
        text = repr(item)
    return redact(text, *secrets)[:MAX_ITEM]


def summary(count: int) -> str:
    """The run detail for a run that applied everything it could read: "partial, N items quarantined"."""
    return f"partial, {count} item{'s' if count != 1 else ''} quarantined"


def record(
    conn: Connection,
    rejections: Iterable[Rejection],
    now: datetime,
    *,
    run_id: int | None = None,
    secrets: Sequence[str] = (),
    account_id: int = PARENT_ID,
) -> int:
    """Store ``account_id``'s rejections (a repeat bumps ``times_seen``); returns how many were given.

    Set-based: a SELECT per 500 keys for the items already known, one executemany UPDATE, one INSERT.
    """
    rows: dict[tuple[str, str], dict[str, Any]] = {}
    given = 0
    for rejection in rejections:
        given += 1
        text = item_text(rejection.item, secrets)
        key = (rejection.endpoint[:48], hashlib.sha256(text.encode("utf-8")).hexdigest())
        if key in rows:
            rows[key]["times_seen"] += 1
            continue
        rows[key] = {
            "endpoint": key[0],
            "item_hash": key[1],
            "item": text,
            "reason": redact(rejection.reason, *secrets)[:MAX_REASON],
            "ref_kind": rejection.ref_kind,
            "ref": None if rejection.ref is None else redact(str(rejection.ref), *secrets)[:64],
            "first_seen_at": now,
            "last_seen_at": now,
            "times_seen": 1,
            "last_run_id": run_id,
            "account_id": account_id,
        }
    if not rows:
        return 0
    keys = list(rows)
    known: set[tuple[str, str]] = set()
    mine = rejected_items.c.account_id == account_id
    for start in range(0, len(keys), _LOOKUP_CHUNK):
        known.update(
            (endpoint, item_hash)
            for endpoint, item_hash in conn.execute(
                select(rejected_items.c.endpoint, rejected_items.c.item_hash).where(
                    mine, tuple_(rejected_items.c.endpoint, rejected_items.c.item_hash).in_(keys[start : start + _LOOKUP_CHUNK])
                )
            )
        )
    if known:
        conn.execute(
            update(rejected_items)
            .where(and_(mine, rejected_items.c.endpoint == bindparam("b_endpoint"), rejected_items.c.item_hash == bindparam("b_hash")))
            .values(
                times_seen=rejected_items.c.times_seen + bindparam("b_times"),
                last_seen_at=bindparam("b_now"),
                reason=bindparam("b_reason"),
                last_run_id=bindparam("b_run"),
            ),
            [
                {
                    "b_endpoint": key[0],
                    "b_hash": key[1],
                    "b_times": rows[key]["times_seen"],
                    "b_now": now,
                    "b_reason": rows[key]["reason"],
                    "b_run": run_id,
                }
                for key in known
            ],
        )
    fresh = [row for key, row in rows.items() if key not in known]
    if fresh:
        conn.execute(rejected_items.insert(), fresh)
    return given
