"""The tamper-evident audit chain: every audited row's body, chained by SHA-256 to the entry before it.

An entry records what an audited row held when it was written (``body``: canonical JSON of its columns)
and is appended **in the caller's transaction**, so the row and its entry commit together or not at all.
``entry_hash`` covers the previous entry's hash and every field of the entry (`entry_hash`), so editing,
deleting or reordering an entry breaks the links after it; `etl.compliance.verify` recomputes them and
compares each row, as it is now, with the body of its last entry (docs/compliance.md, "Audit chain").

Appends serialize on the head row (``audit_chain_head``, one row): it is read locked (``SELECT … FOR
UPDATE`` on PostgreSQL and MariaDB, SQLite's single writer: `etl.db.backends.Backend.locked`) until the
caller commits, so several daemons sharing one database build one chain, with no gap and no fork.

Callers: `append` with a body they choose, or `append_row` with a table and key (the body is the row
read back, so its values are what the database holds). Tables whose every row must have an entry are
listed in `AUDITED`; `verify` reports a row of theirs without one as inserted behind the tool's back.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import date, datetime, timezone
from decimal import Decimal
from typing import Any

from sqlalchemy import ColumnElement, Connection, Select, Table, insert, select, update

from etl.db import backends
from etl.db.schema import PARENT_ACCOUNT_ID, audit_chain, audit_chain_head, breaches, filter_runs, stop_periods, write_actions

#: The ``prev_hash`` of the first entry, and the head's hash while the chain is empty.
GENESIS_HASH = "0" * 64
#: The head row's key: there is one.
HEAD_ID = 1


@dataclass(frozen=True)
class AuditedTable:
    """A table ``verify`` checks row by row: ``must_have_entry`` selects the rows that need an entry
    (None: every row); ``ordered``: its ids grow with its entries' seqs (a row appears in id order)."""

    table: Table
    must_have_entry: Callable[[Table], ColumnElement[bool]] | None = None
    ordered: bool = False


#: Every write is opened under the head lock (`lock_head` before the insert), so its ids follow the chain.
#: A filter run is opened the same way (`etl.compliance.filter_runs`); a breach needs an entry once acknowledged.
AUDITED: tuple[AuditedTable, ...] = (
    AuditedTable(write_actions, ordered=True),
    AuditedTable(stop_periods, must_have_entry=lambda t: t.c.removed_how == "tool"),
    AuditedTable(filter_runs, ordered=True),
    AuditedTable(breaches, must_have_entry=lambda t: t.c.acknowledged_at.is_not(None)),
)

#: The entry kind of closed opt-outs reduced to keyed hashes by the retention job: its body lists the stop
#: period ids moved to ``optout_hashes`` (never a number), which `verify` then expects gone from ``stop_periods``.
RETENTION_KIND = "retention_hashed"
#: Stop period ids per retention entry: bodies stay far below MariaDB's TEXT limit (64 KiB).
RETENTION_IDS_PER_ENTRY = 1000

#: The columns of a stop period that its closure by the tool records (a later sync never rewrites them).
STOP_CLOSURE_COLUMNS = ("id", "account_id", "api_stop_id", "phone_e164", "removed_at", "removed_how", "removed_by_action_id")


def jsonable(value: Any) -> Any:
    """A column value as the canonical JSON holds it: the same on every backend for the same value."""
    if value is None or isinstance(value, bool | int | str):
        return value
    if isinstance(value, datetime):
        aware = value if value.tzinfo is not None else value.replace(tzinfo=timezone.utc)
        return aware.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, Decimal):
        # SQLite hands NUMERIC back through a float: 12.5 and 12.50000000 are one amount.
        return format(value.normalize(), "f")
    if isinstance(value, float):
        return format(Decimal(repr(value)).normalize(), "f")
    if isinstance(value, bytes):
        return value.hex()
    return str(value)


def canonical(body: Mapping[str, Any]) -> str:
    """Canonical JSON of a body: sorted keys, no spaces, values by `jsonable`."""
    return json.dumps({str(k): jsonable(v) for k, v in body.items()}, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def stamp(at: datetime) -> str:
    """``recorded_at`` as the hash covers it."""
    return str(jsonable(at))


def entry_hash(
    prev_hash: str, seq: int, recorded_at: datetime, account_id: int, kind: str, ref_table: str, ref_id: str, body: str
) -> str:
    """SHA-256 (hex) over every field of an entry and the previous entry's hash, one per line."""
    fields = (prev_hash, str(seq), stamp(recorded_at), str(account_id), kind, ref_table, ref_id, body)
    return hashlib.sha256("\n".join(fields).encode()).hexdigest()


def genesis_entry(seq: int, prev: str, at: datetime, table: str, row: Mapping[str, Any]) -> dict[str, Any]:
    """The ``genesis`` entry a migration seals an existing row with (its columns ``row``; `entry_hash` links it)."""
    body, ref = canonical(row), str(row["id"])
    account = int(row.get("account_id") or PARENT_ACCOUNT_ID)
    digest = entry_hash(prev, seq, at, account, "genesis", table, ref, body)
    return {
        "seq": seq, "recorded_at": at, "account_id": account, "kind": "genesis", "ref_table": table, "ref_id": ref,
        "body": body, "prev_hash": prev, "entry_hash": digest,
    }


def lock_head(conn: Connection) -> tuple[int, str]:
    """Lock the head row until the transaction ends and return (last seq, last hash). Creates the row
    on a database that has none yet (the migration seeds it: this is for a table emptied by hand)."""
    h = audit_chain_head.c
    stmt: Select[Any] = backends.of(conn).locked(select(h.seq, h.entry_hash).where(h.id == HEAD_ID))
    row = conn.execute(stmt).first()
    if row is None:
        conn.execute(insert(audit_chain_head).values(id=HEAD_ID, seq=0, entry_hash=GENESIS_HASH))
        return 0, GENESIS_HASH
    return int(row[0]), str(row[1])


def append(
    conn: Connection,
    kind: str,
    account_id: int | None,
    ref_table: str,
    ref_id: int | str,
    body: Mapping[str, Any],
    *,
    at: datetime,
) -> int:
    """Append an entry for ``ref_table``/``ref_id`` in the caller's transaction and return its seq.

    ``body``: the audited row's columns as written (what `verify` compares the row with later: use the
    values read back from the database, e.g. through `append_row`). ``at``: when (UTC, from the caller's clock)."""
    seq, prev = lock_head(conn)
    seq += 1
    account = PARENT_ACCOUNT_ID if account_id is None else int(account_id)
    text, ref = canonical(body), str(ref_id)
    digest = entry_hash(prev, seq, at, account, kind, ref_table, ref, text)
    conn.execute(
        insert(audit_chain).values(
            seq=seq, recorded_at=at, account_id=account, kind=kind, ref_table=ref_table, ref_id=ref,
            body=text, prev_hash=prev, entry_hash=digest,
        )
    )
    conn.execute(update(audit_chain_head).where(audit_chain_head.c.id == HEAD_ID).values(seq=seq, entry_hash=digest))
    return seq


def row_body(conn: Connection, table: Table, key: int | str, columns: tuple[str, ...] | None = None) -> dict[str, Any]:
    """The row ``key`` of ``table`` as the database holds it (``columns``, or all of them)."""
    chosen = [table.c[name] for name in columns] if columns else list(table.columns)
    row = conn.execute(select(*chosen).where(table.c.id == key)).mappings().one()
    return dict(row)


def append_row(
    conn: Connection, kind: str, table: Table, key: int, *, at: datetime, columns: tuple[str, ...] | None = None
) -> int:
    """Append an entry whose body is the row ``key`` of ``table`` read back (``columns``, or all)."""
    body = row_body(conn, table, key, columns)
    account = body.get("account_id")
    if account is None and "account_id" in table.c:
        account = conn.execute(select(table.c.account_id).where(table.c.id == key)).scalar()
    return append(conn, kind, account if isinstance(account, int) else None, table.name, key, body, at=at)


def append_reduction(conn: Connection, account_id: int, period_ids: list[int], *, hash_key_id: str, at: datetime) -> int:
    """Record stop periods reduced to keyed hashes (``optout_hashes``) and deleted, in the caller's transaction:
    one `RETENTION_KIND` entry per `RETENTION_IDS_PER_ENTRY` ids; returns the entries appended."""
    ids = sorted(period_ids)
    for start in range(0, len(ids), RETENTION_IDS_PER_ENTRY):
        part = ids[start : start + RETENTION_IDS_PER_ENTRY]
        body = {"stop_period_ids": ",".join(map(str, part)), "reduced": len(part), "hash_key_id": hash_key_id, "to": "optout_hashes"}
        append(conn, RETENTION_KIND, account_id, stop_periods.name, f"{part[0]}-{part[-1]}", body, at=at)
    return -(-len(ids) // RETENTION_IDS_PER_ENTRY)


def reduced_ids(body: str) -> list[int]:
    """The stop period ids a `RETENTION_KIND` entry's body lists (none if it is not one)."""
    try:
        loaded = json.loads(body)
    except ValueError:
        return []
    ids = loaded.get("stop_period_ids") if isinstance(loaded, dict) else None
    return [int(i) for i in ids.split(",") if i.isdigit()] if isinstance(ids, str) else []
