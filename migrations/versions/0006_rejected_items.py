"""Quarantine: ``rejected_items`` keeps API items (and push bodies) that could not be read.

A malformed item no longer fails its whole answer: it is stored here, redacted, with why and what
it belongs to, and the rest is applied (issue 16; docs/schema.md, "rejected_items").

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-03
"""

import sqlalchemy as sa
from alembic import op

from etl.db.types import Id, UtcDateTime

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "rejected_items",
        sa.Column("id", Id, autoincrement=True, nullable=False),
        sa.Column("endpoint", sa.String(48), nullable=False),
        sa.Column("item_hash", sa.String(64), nullable=False),
        sa.Column("item", sa.Text(), nullable=False),
        sa.Column("reason", sa.String(255), nullable=False),
        sa.Column("ref_kind", sa.String(16), nullable=True),
        sa.Column("ref", sa.String(64), nullable=True),
        sa.Column("first_seen_at", UtcDateTime, nullable=False),
        sa.Column("last_seen_at", UtcDateTime, nullable=False),
        sa.Column("times_seen", sa.Integer(), nullable=False),
        sa.Column("last_run_id", Id, nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_rejected_items"),
    )
    op.create_index("uq_rejected_items_endpoint_item_hash", "rejected_items", ["endpoint", "item_hash"], unique=True)
    op.create_index("ix_rejected_items_ref_kind_ref", "rejected_items", ["ref_kind", "ref"])
    op.create_index("ix_rejected_items_last_seen_at", "rejected_items", ["last_seen_at"])


def downgrade() -> None:
    op.drop_table("rejected_items")
