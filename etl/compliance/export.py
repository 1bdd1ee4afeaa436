"""Current opt-outs for a partner or CRM: plain E.164 or keyed hashes, as CSV (docs/compliance.md, "Exporting opt-outs").

Current means open stop periods and contact ``stopSms`` flags (``contact_stops``), not closed periods: a
number that left the list is not opted out now. The file appears whole or not at all (`atomic_outputs`).
"""

from __future__ import annotations

import csv
import io
from pathlib import Path

from sqlalchemy import text
from sqlalchemy.engine import Engine

from etl.audience.outputs import atomic_outputs
from etl.compliance.hashing import NumberHasher

__all__ = ["export_optouts"]

_CURRENT = """
SELECT p.phone_e164 AS phone FROM stop_periods p JOIN accounts a ON a.id = p.account_id
 WHERE p.removed_at IS NULL AND p.phone_e164 IS NOT NULL {stop_account}
UNION
SELECT c.phone_e164 AS phone FROM contact_stops c WHERE c.phone_e164 IS NOT NULL {contact_account}
ORDER BY phone
"""
_BATCH = 10_000


def export_optouts(engine: Engine, out: Path, *, hasher: NumberHasher | None, account: str | None) -> int:
    """Write the current opt-outs to ``out`` (header ``phone_e164``, or ``phone_hash,hash_key_id``); the count."""
    query = _CURRENT.format(stop_account="AND a.label = :label" if account else "",
                            contact_account="AND c.account_label = :label" if account else "")
    written = 0
    with atomic_outputs(out) as (handle,), engine.connect() as conn:
        buffer = io.StringIO()
        writer = csv.writer(buffer, lineterminator="\n")
        writer.writerow(["phone_hash", "hash_key_id"] if hasher else ["phone_e164"])
        result = conn.execution_options(stream_results=True).execute(text(query), {"label": account} if account else {})
        while batch := [row[0] for row in result.fetchmany(_BATCH)]:
            if hasher:
                writer.writerows([h, hasher.key_id] for h in hasher.hash_many(batch))
            else:
                writer.writerows([n] for n in batch)
            written += len(batch)
            handle.write(buffer.getvalue().encode("utf-8"))
            buffer.seek(0)
            buffer.truncate()
        handle.write(buffer.getvalue().encode("utf-8"))
    return written
