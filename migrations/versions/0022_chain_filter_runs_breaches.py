"""Filter runs and breach acknowledgements in the audit chain: the existing ones sealed in (issue 18).

From now on each ``filter_runs`` row appends an entry when it is opened and when it completes, and
`verify-audit` checks every filter run and every acknowledged breach against the chain (`etl.compliance.chain.AUDITED`).
The rows written before this migration are sealed here, appended at the chain's end as ``genesis`` entries in
id order: each filter run (every column), then each acknowledged breach (its acknowledgement columns). An
acknowledgement chained before (``breach_ack``) gets its genesis entry too: the first ones recorded a body
that was not the row's columns. Nothing else changes; the downgrade leaves the entries (the chain is never cut).

The tables are spelled as they are at 0017 (not the models'), so a later column never reaches back here.

Revision ID: 0022
Revises: 0021
Create Date: 2026-12-03
"""

from datetime import datetime, timezone
from typing import Any

import sqlalchemy as sa
from alembic import op

from etl.compliance.chain import GENESIS_HASH, HEAD_ID, genesis_entry
from etl.db.types import Id, UtcDateTime

revision = "0022"
down_revision = "0021"
branch_labels = None
depends_on = None

_meta = sa.MetaData()
FILTER_RUNS_0017 = sa.Table(
    "filter_runs", _meta,
    sa.Column("id", Id), sa.Column("started_at", UtcDateTime), sa.Column("finished_at", UtcDateTime),
    sa.Column("outcome", sa.String(16)), sa.Column("detail", sa.Text), sa.Column("actor", sa.String(128)),
    sa.Column("input_name", sa.String(255)), sa.Column("input_sha256", sa.String(64)), sa.Column("input_bytes", sa.Integer),
    *(sa.Column(name, sa.Integer) for name in (
        "rows", "allowed", "blocked_invalid", "blocked_stop_list", "blocked_rental_stop", "blocked_contact_stop",
        "blocked_duplicate")),
    sa.Column("stop_list_synced_at", UtcDateTime), sa.Column("stop_list_age_seconds", sa.Float),
    sa.Column("allow_stale", sa.Boolean), sa.Column("accounts", sa.String(255)), sa.Column("hash_key_id", sa.String(8)),
    sa.Column("blocks_recorded", sa.Integer),
)
#: `etl.compliance.breaches.ACK_COLUMNS`, spelled here.
BREACH_ACKS_0016 = sa.Table(
    "breaches", _meta,
    sa.Column("id", Id), sa.Column("account_id", Id), sa.Column("acknowledged_at", UtcDateTime),
    sa.Column("acknowledged_by", sa.String(64)), sa.Column("ack_note", sa.String(255)),
)
AUDIT_CHAIN = sa.Table(
    "audit_chain", _meta,
    sa.Column("seq", Id), sa.Column("recorded_at", UtcDateTime), sa.Column("account_id", sa.Integer),
    sa.Column("kind", sa.String(32)), sa.Column("ref_table", sa.String(64)), sa.Column("ref_id", sa.String(64)),
    sa.Column("body", sa.Text), sa.Column("prev_hash", sa.CHAR(64)), sa.Column("entry_hash", sa.CHAR(64)),
)
AUDIT_CHAIN_HEAD = sa.Table("audit_chain_head", _meta, sa.Column("id", sa.Integer), sa.Column("seq", Id), sa.Column("entry_hash", sa.CHAR(64)))
CHUNK = 1000


def upgrade() -> None:
    conn = op.get_bind()
    at = datetime.now(timezone.utc)
    head = conn.execute(sa.select(AUDIT_CHAIN_HEAD.c.seq, AUDIT_CHAIN_HEAD.c.entry_hash).where(AUDIT_CHAIN_HEAD.c.id == HEAD_ID)).first()
    seq, prev = (int(head[0]), str(head[1])) if head is not None else (0, GENESIS_HASH)
    sources = ((FILTER_RUNS_0017, sa.true()), (BREACH_ACKS_0016, BREACH_ACKS_0016.c.acknowledged_at.is_not(None)))
    batch: list[dict[str, Any]] = []
    for table, which in sources:
        for row in conn.execute(sa.select(table).where(which).order_by(table.c.id)).mappings():
            seq += 1
            batch.append(genesis_entry(seq, prev, at, table.name, row))
            prev = batch[-1]["entry_hash"]
    for start in range(0, len(batch), CHUNK):
        conn.execute(sa.insert(AUDIT_CHAIN), batch[start : start + CHUNK])
    if not batch:
        return
    if head is None:
        conn.execute(sa.insert(AUDIT_CHAIN_HEAD).values(id=HEAD_ID, seq=seq, entry_hash=prev))
    else:
        conn.execute(sa.update(AUDIT_CHAIN_HEAD).where(AUDIT_CHAIN_HEAD.c.id == HEAD_ID).values(seq=seq, entry_hash=prev))


def downgrade() -> None:
    # The sealed entries stay: removing them would cut the chain every later entry links to.
    pass
