"""The shared API budget's slots (issue 20, docs/api-client.md "Shared API budget").

- ``api_budget_slots``: one row per call an account may make to an endpoint class in any window; the
  instances take them under ``FOR UPDATE SKIP LOCKED`` (`etl.budget`). Rows are created by the first
  instance that runs with ``api.max_calls_per_minute`` set.

A new table only: no existing row is touched.

Revision ID: 0019
Revises: 0018
Create Date: 2026-12-03
"""

import sqlalchemy as sa
from alembic import op

from etl.db.types import Id, UtcDateTime

revision = "0019"
down_revision = "0018"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "api_budget_slots",
        sa.Column("account_id", Id, nullable=False),
        sa.Column("endpoint_class", sa.String(32), nullable=False),
        sa.Column("slot", sa.Integer, autoincrement=False, nullable=False),
        sa.Column("free_at", UtcDateTime, nullable=False),
        sa.ForeignKeyConstraint(["account_id"], ["accounts.id"], name=op.f("fk_api_budget_slots_account_id_accounts")),
        sa.PrimaryKeyConstraint("account_id", "endpoint_class", "slot", name=op.f("pk_api_budget_slots")),
    )
    op.create_index(
        op.f("ix_api_budget_slots_account_id_endpoint_class_free_at"), "api_budget_slots", ["account_id", "endpoint_class", "free_at"]
    )


def downgrade() -> None:
    op.drop_index(op.f("ix_api_budget_slots_account_id_endpoint_class_free_at"), table_name="api_budget_slots")
    op.drop_table("api_budget_slots")
