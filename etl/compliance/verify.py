"""`verify-audit`: recompute the audit chain and compare every audited row, as it is now, with its entries.

Reads only; one pass over the chain in seq order, then one pass per audited table (`chain.AUDITED`).
A finding is one sentence naming the entry or the row. What each kind of tampering looks like:

- an entry edited: its hash no longer matches its fields (``entry_edited``);
- an entry deleted: a gap in the seqs, or the head row ahead of the last entry (``entry_missing``);
- entries reordered or inserted: an entry whose ``prev_hash`` is not the hash before it (``link_broken``);
- a row edited: its columns differ from the body of its last entry (``row_edited``);
- a row deleted: an entry names a row that is gone (``row_deleted``), except a stop period the retention job
  reduced to a keyed hash (a ``retention_hashed`` entry lists it), whose ``optout_hashes`` row must exist instead;
- a row inserted behind the tool's back: an audited row with no entry (``row_unrecorded``);
- a row out of order: an ordered table's row recorded before a row with a lower id (``row_out_of_order``).

It cannot detect a chain rewritten in full from some point on with hashes recomputed: compare the head
hash it prints with one kept elsewhere (docs/compliance.md, "What it does not protect against").
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Connection, Table, select

from etl.compliance.chain import AUDITED, GENESIS_HASH, HEAD_ID, RETENTION_KIND, AuditedTable, canonical, entry_hash, reduced_ids
from etl.db.schema import Base, audit_chain, audit_chain_head, optout_hashes, stop_periods

#: Entries read per round trip.
FETCH = 5000
#: Keys per ``IN`` lookup of rows named by entries.
LOOKUP = 500


@dataclass(frozen=True)
class Finding:
    """One thing wrong: what kind (see the module docstring) and a sentence saying where; ``ref_table``/``ref_id``
    the audited row it names and ``seq`` the entry, when it names one (`evidence` picks a number's findings by them)."""

    kind: str
    message: str
    ref_table: str | None = None
    ref_id: str | None = None
    seq: int | None = None


@dataclass
class Report:
    """What `verify` found; ``intact`` when nothing."""

    entries: int = 0
    rows_checked: int = 0
    head_seq: int = 0
    head_hash: str = GENESIS_HASH
    findings: list[Finding] = field(default_factory=list)

    @property
    def intact(self) -> bool:
        return not self.findings

    def add(self, kind: str, message: str, *, ref: tuple[str, str] | None = None, seq: int | None = None) -> None:
        table, key = ref if ref else (None, None)
        self.findings.append(Finding(kind, message, table, key, seq))


@dataclass
class _Seen:
    """What the chain pass keeps per audited row: its first seq, and the seq and body of its last entry."""

    first_seq: int
    last_seq: int
    body: str


def verify(conn: Connection) -> Report:
    """Check the chain and every audited row; the caller rolls back (nothing is written)."""
    report = Report()
    reduced: dict[int, int] = {}
    seen = _walk_chain(conn, report, reduced)
    _check_reduced(conn, seen.get(stop_periods.name, {}), reduced, report)
    for audited in AUDITED:
        refs = seen.pop(audited.table.name, {})
        _check_named(conn, audited.table, refs, report)
        _check_unrecorded(conn, audited, refs, report)
        if audited.ordered:
            _check_order(audited.table.name, refs, report)
    for name, refs in seen.items():  # tables whose rows are audited when written, not all of them
        if name in Base.metadata.tables:
            _check_named(conn, Base.metadata.tables[name], refs, report)
        else:
            report.add("row_deleted", f"chain entries name table {name}, which this database does not have")
    return report


def _entries(conn: Connection) -> Iterator[Any]:
    c = audit_chain.c
    last = 0
    while True:
        rows = conn.execute(select(audit_chain).where(c.seq > last).order_by(c.seq).limit(FETCH)).all()
        if not rows:
            return
        yield from rows
        last = int(rows[-1].seq)


def _walk_chain(conn: Connection, report: Report, reduced: dict[int, int]) -> dict[str, dict[str, _Seen]]:
    """Check every entry's hash and link; returns the last entry per row, and fills ``reduced`` (stop period
    id → seq of the retention entry that reduced it to a hash)."""
    head = conn.execute(select(audit_chain_head.c.seq, audit_chain_head.c.entry_hash).where(audit_chain_head.c.id == HEAD_ID)).first()
    expected, prev = 1, GENESIS_HASH
    seen: dict[str, dict[str, _Seen]] = {}
    for e in _entries(conn):
        report.entries += 1
        seq = int(e.seq)
        if seq != expected:
            report.add("entry_missing", f"chain entries {expected}..{seq - 1} are missing (deleted) before entry {seq}")
        elif e.prev_hash != prev:
            report.add("link_broken", f"chain entry {seq} does not follow entry {seq - 1} (entries reordered, inserted or edited)",
                       ref=(e.ref_table, e.ref_id), seq=seq)
        if entry_hash(e.prev_hash, seq, e.recorded_at, int(e.account_id), e.kind, e.ref_table, e.ref_id, e.body) != e.entry_hash:
            report.add("entry_edited", f"chain entry {seq} ({e.kind} {e.ref_table} {e.ref_id}) was edited: its hash does not match it",
                       ref=(e.ref_table, e.ref_id), seq=seq)
        if e.kind == RETENTION_KIND:
            reduced.update(dict.fromkeys(reduced_ids(e.body), seq))
            expected, prev = seq + 1, e.entry_hash
            continue
        refs = seen.setdefault(e.ref_table, {})
        known = refs.get(e.ref_id)
        refs[e.ref_id] = _Seen(known.first_seq if known else seq, seq, e.body)
        expected, prev = seq + 1, e.entry_hash
    last_seq = expected - 1
    if head is None:
        report.add("entry_missing", "the chain's head row is missing")
    else:
        report.head_seq, report.head_hash = int(head[0]), str(head[1])
        if report.head_seq > last_seq:
            report.add("entry_missing", f"the head says the chain ends at entry {report.head_seq}, the last entry is {last_seq} (deleted)")
        elif report.head_seq < last_seq or report.head_hash != prev:
            report.add("link_broken", f"the last entry ({last_seq}) is not the head the chain records ({report.head_seq})")
    return seen


def _check_reduced(conn: Connection, periods: dict[str, _Seen], reduced: dict[int, int], report: Report) -> None:
    """Stop periods the retention job reduced: no longer checked as rows (they are gone by design), but each
    must have its ``optout_hashes`` row; one that does not was deleted after the reduction."""
    ids = sorted(reduced)
    for start in range(0, len(ids), LOOKUP):
        part = ids[start : start + LOOKUP]
        kept = set(conn.execute(select(optout_hashes.c.stop_period_id).where(optout_hashes.c.stop_period_id.in_(part))).scalars())
        for period_id in part:
            periods.pop(str(period_id), None)
            if period_id not in kept:
                report.add("row_deleted", f"optout_hashes of stop period {period_id} was deleted (reduced in chain entry {reduced[period_id]})",
                           ref=(optout_hashes.name, str(period_id)), seq=reduced[period_id])


def _check_named(conn: Connection, table: Table, refs: dict[str, _Seen], report: Report) -> None:
    """Each row named by an entry, as it is now, against the body of its last entry."""
    keys = list(refs)
    for start in range(0, len(keys), LOOKUP):
        part = keys[start : start + LOOKUP]
        present = {str(r["id"]): r for r in conn.execute(select(table).where(table.c.id.in_([_key(k) for k in part]))).mappings()}
        for key in part:
            row, last = present.get(key), refs[key]
            report.rows_checked += row is not None
            if row is None:
                report.add("row_deleted", f"{table.name} id {key} was deleted (last recorded in chain entry {last.last_seq})",
                           ref=(table.name, key), seq=last.last_seq)
                continue
            body = _body_of(last.body)
            if set(body) - set(row.keys()) or canonical({k: row[k] for k in body}) != last.body:
                report.add("row_edited", f"{table.name} id {key} was edited since chain entry {last.last_seq} ({_changed(body, row)})",
                           ref=(table.name, key), seq=last.last_seq)


def _check_unrecorded(conn: Connection, audited: AuditedTable, refs: dict[str, _Seen], report: Report) -> None:
    table = audited.table
    query = select(table.c.id).order_by(table.c.id)
    if audited.must_have_entry is not None:
        query = query.where(audited.must_have_entry(table))
    for key in conn.execute(query).scalars():
        if str(key) not in refs:
            report.add("row_unrecorded", f"{table.name} id {key} has no chain entry (inserted or changed behind the tool's back)",
                       ref=(table.name, str(key)))


def _check_order(name: str, refs: dict[str, _Seen], report: Report) -> None:
    highest: tuple[int, int] | None = None  # (first seq, id) of the latest-recorded row so far, in id order
    for key in sorted((k for k in refs if k.isdigit()), key=int):
        first = refs[key].first_seq
        if highest is not None and first < highest[0]:
            report.add("row_out_of_order", f"{name} id {key} was first recorded (entry {first}) before id {highest[1]} (entry {highest[0]})",
                       ref=(name, key), seq=first)
        if highest is None or first > highest[0]:
            highest = (first, int(key))


def _key(text: str) -> int | str:
    return int(text) if text.isdigit() else text


def _body_of(text: str) -> dict[str, Any]:
    try:
        loaded = json.loads(text)
    except ValueError:
        return {}
    return loaded if isinstance(loaded, dict) else {}


def _changed(body: dict[str, Any], row: Any) -> str:
    """Which columns differ, by name only (values may be personal data)."""
    names = sorted(k for k in body if k not in row.keys() or canonical({k: row[k]}) != canonical({k: body[k]}))
    return "columns " + ", ".join(names) if names else "its columns"
