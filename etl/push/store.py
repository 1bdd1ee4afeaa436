"""The inbox write: accepted callbacks into ``push_inbox``, replays skipped. Never commits.

The caller (the receiver's database thread) commits *before* answering 200, so a crash while
applying loses nothing: the next `etl.push.apply.apply_new` picks the rows up. A replay has the
same ``content_hash`` (docs/push.md, "Dedupe") and is not stored twice. The write is one
statement per batch through the backend's `insert_ignore_returning` (docs/benchmarks.md,
push_receiver: SQLAlchemy's per-row processing cost more than the database).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import Connection

from etl.db import backends
from etl.db.schema import push_inbox
from etl.push.parse import Callback

__all__ = ["store"]


def _first_occurrences(callbacks: Sequence[tuple[Callback, str | None]]) -> dict[str, int]:
    """Position of each content hash's first callback in the batch (a repeat within it is a replay)."""
    first: dict[str, int] = {}
    for i, (cb, _ip) in enumerate(callbacks):
        first.setdefault(cb.content_hash, i)
    return first


def store(conn: Connection, callbacks: Sequence[tuple[Callback, str | None]], now: datetime) -> list[bool]:
    """Write callbacks (with their source address) to the inbox, state ``new``; returns, per callback,
    whether it was new (False: a replay of a stored one, or repeated within ``callbacks``).

    The stored keys come back from the insert itself (RETURNING where the database has it), so a
    replay stored by another process in between is a duplicate rather than "new" twice. Rows are
    inserted in arrival order, so ids follow it (two reports for one recipient apply in that order)."""
    if not callbacks:
        return []
    first = _first_occurrences(callbacks)
    rows: list[backends.Row] = []
    for i in first.values():
        cb, ip = callbacks[i]
        rows.append({"channel": cb.channel, "kind": cb.kind, "content_hash": cb.content_hash, "source_ip": ip,
                     "body": cb.body, "phone_e164": cb.phone_e164, "message_id": cb.message_id,
                     "account_id": cb.account_id})
    constants: backends.Row = {"received_at": now, "state": "new", "attempts": 0}
    stored = backends.of(conn).insert_ignore_returning(conn, push_inbox, rows, "content_hash", constants)
    return [first[cb.content_hash] == i and cb.content_hash in stored for i, (cb, _ip) in enumerate(callbacks)]
