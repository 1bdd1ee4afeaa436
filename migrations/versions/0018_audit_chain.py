"""The tamper-evident audit chain (issue 18): ``audit_chain`` and its head row, existing history sealed in.

Every write_actions insert and completion and every stop-period closure by the tool appends an entry from
now on (`etl.compliance.chain`). The rows written before this migration are sealed into the chain here,
as ``genesis`` entries in id order: each write_actions row, then each stop period closed by the tool
(``removed_how = 'tool'``), with the columns the live entries record. From then on `verify-audit` detects
any change to them; what happened to them *before* the migration it cannot know (docs/compliance.md).

The tables are spelled as they are at 0013 (not the models'), so a later column never reaches back here.

Revision ID: 0018
Revises: 0017
Create Date: 2026-12-03
"""

from datetime import datetime, timezone
from typing import Any

import sqlalchemy as sa
from alembic import op

from etl.compliance.chain import GENESIS_HASH, HEAD_ID, STOP_CLOSURE_COLUMNS, genesis_entry
from etl.db.types import Id, Money, UtcDateTime

revision = "0018"
down_revision = "0017"
branch_labels = None
depends_on = None

CHUNK = 1000

_meta = sa.MetaData()
WRITE_ACTIONS_0013 = sa.Table(
    "write_actions", _meta,
    sa.Column("id", Id), sa.Column("action", sa.String(32)), sa.Column("target", sa.String(64)),
    sa.Column("actor", sa.String(128)), sa.Column("reason", sa.Text), sa.Column("requested_at", UtcDateTime),
    sa.Column("completed_at", UtcDateTime), sa.Column("outcome", sa.String(24)), sa.Column("api_code", sa.Integer),
    sa.Column("api_message", sa.Text), sa.Column("api_stop_id", Id), sa.Column("amount", Money),
    sa.Column("balance_before", Money), sa.Column("account_id", Id),
)
STOP_PERIODS_0013 = sa.Table(
    "stop_periods", _meta,
    sa.Column("id", Id), sa.Column("account_id", Id), sa.Column("api_stop_id", Id), sa.Column("phone_e164", sa.String(16)),
    sa.Column("removed_at", UtcDateTime), sa.Column("removed_how", sa.String(16)), sa.Column("removed_by_action_id", Id),
)


def upgrade() -> None:
    chain = op.create_table(
        "audit_chain",
        sa.Column("seq", Id, autoincrement=False, nullable=False),
        sa.Column("recorded_at", UtcDateTime, nullable=False),
        sa.Column("account_id", sa.Integer, nullable=False),
        sa.Column("kind", sa.String(32), nullable=False),
        sa.Column("ref_table", sa.String(64), nullable=False),
        sa.Column("ref_id", sa.String(64), nullable=False),
        sa.Column("body", sa.Text, nullable=False),
        sa.Column("prev_hash", sa.CHAR(64), nullable=False),
        sa.Column("entry_hash", sa.CHAR(64), nullable=False),
        sa.PrimaryKeyConstraint("seq", name=op.f("pk_audit_chain")),
    )
    head = op.create_table(
        "audit_chain_head",
        sa.Column("id", sa.Integer, autoincrement=False, nullable=False),
        sa.Column("seq", Id, nullable=False),
        sa.Column("entry_hash", sa.CHAR(64), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_audit_chain_head")),
    )
    seq, prev = _seal(op.get_bind(), chain, datetime.now(timezone.utc))
    op.bulk_insert(head, [{"id": HEAD_ID, "seq": seq, "entry_hash": prev}])


def _seal(conn: sa.Connection, chain: sa.Table, at: datetime) -> tuple[int, str]:
    """One ``genesis`` entry per existing audited row, in id order; returns the last (seq, hash)."""
    seq, prev = 0, GENESIS_HASH
    sources = (
        (WRITE_ACTIONS_0013, sa.true()),
        (STOP_PERIODS_0013, STOP_PERIODS_0013.c.removed_how == "tool"),
    )
    for table, which in sources:
        columns = list(table.columns) if table is WRITE_ACTIONS_0013 else [table.c[n] for n in STOP_CLOSURE_COLUMNS]
        rows = conn.execute(sa.select(*columns).where(which).order_by(table.c.id)).mappings().all()
        batch: list[dict[str, Any]] = []
        for row in rows:
            seq += 1
            batch.append(genesis_entry(seq, prev, at, table.name, row))
            prev = batch[-1]["entry_hash"]
        for start in range(0, len(batch), CHUNK):
            op.bulk_insert(chain, batch[start : start + CHUNK])
    return seq, prev


def downgrade() -> None:
    op.drop_table("audit_chain_head")
    op.drop_table("audit_chain")
