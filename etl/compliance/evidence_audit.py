"""The audit chain in the `evidence` report: whether the whole chain verifies (`etl.compliance.verify`),
the entries that record this number's rows, and the findings that touch them (docs/compliance.md,
"The audit chain in the report").

A number's rows are the ones its other sections list: stop periods (readable, or hashed by retention
under the id they had), its stop writes and its breaches. The whole chain is verified, not only those
entries, because a deleted or reordered entry anywhere breaks every link after it.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Connection, select

from etl.compliance.evidence_rows import rows
from etl.compliance.verify import Report as Verified
from etl.compliance.verify import verify
from etl.db import backends
from etl.db.schema import audit_chain

__all__ = ["audit_section", "refs_of"]

Rows = list[dict[str, Any]]


def refs_of(content: dict[str, Any]) -> set[tuple[str, str]]:
    """The (table, id) of every audited row the report's other sections list."""
    refs = {("stop_periods", str(p["id"])) for p in content["stop_periods"]}
    refs |= {("stop_periods", str(p["stop_period_id"])) for p in content.get("hashed_optouts", [])}
    refs |= {("write_actions", str(w["id"])) for w in content["stop_writes"]}
    refs |= {("breaches", str(b["id"])) for b in content["breaches"]}
    return refs


def _entries(conn: Connection, refs: set[tuple[str, str]]) -> Rows:
    c = audit_chain.c
    found: Rows = []
    for table in sorted({t for t, _key in refs}):
        keys = sorted(k for t, k in refs if t == table)
        for start in range(0, len(keys), backends.LOOKUP_CHUNK):
            part = keys[start : start + backends.LOOKUP_CHUNK]
            found += rows(conn, select(c.seq, c.recorded_at, c.kind, c.ref_table, c.ref_id, c.entry_hash)
                          .where(c.ref_table == table, c.ref_id.in_(part)))
    return sorted(found, key=lambda e: int(e["seq"]))


def _summary(verified: Verified, mine: Rows) -> dict[str, Any]:
    return {"status": "verified" if verified.intact else "tampered", "entries": verified.entries,
            "head_seq": verified.head_seq, "head_hash": verified.head_hash, "findings": len(verified.findings),
            "findings_for_number": len(mine)}


def _note(summary: dict[str, Any]) -> str:
    if summary["status"] == "verified":
        return (f"The audit chain verifies: {summary['entries']} entries, head {summary['head_seq']} "
                f"{summary['head_hash']}; compare the head with one kept elsewhere (docs/compliance.md).")
    return (f"The audit chain is TAMPERED: {summary['findings']} findings, {summary['findings_for_number']} about this "
            "number's rows or entries (run `smspartner-etl verify-audit` for all of them).")


def audit_section(conn: Connection, content: dict[str, Any]) -> None:
    """Adds ``audit_entries``, ``audit_findings``, the ``audit_chain`` summary and its note to ``content``."""
    refs = refs_of(content)
    entries = _entries(conn, refs)
    seqs = {int(e["seq"]) for e in entries}
    verified = verify(conn)
    mine = [{"kind": f.kind, "message": f.message} for f in verified.findings
            if (f.ref_table, f.ref_id) in refs or (f.seq is not None and f.seq in seqs)]
    content["audit_entries"] = entries
    content["audit_findings"] = mine
    content["audit_chain"] = _summary(verified, mine)
    content["notes"].append(_note(content["audit_chain"]))
