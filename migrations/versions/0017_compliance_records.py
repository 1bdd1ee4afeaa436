"""Compliance records: ``filter_runs``, ``filter_run_blocks``, ``optout_hashes``; purge marks on push bodies and replies.

Issue 18: each audience filter run is recorded with the keyed hashes of the numbers it blocked; closed
opt-outs past the retention age move to ``optout_hashes``; reply texts and raw callback bodies are
purged after their age, ``*_purged_at`` saying when (docs/compliance.md). New tables and nullable
columns only: existing rows are carried over untouched.

Revision ID: 0017
Revises: 0016
Create Date: 2026-12-03
"""

import sqlalchemy as sa
from alembic import op

from etl.db.types import Id, UtcDateTime

revision = "0017"
down_revision = "0016"
branch_labels = None
depends_on = None


def _account_id() -> sa.Column:  # type: ignore[type-arg]
    return sa.Column("account_id", Id, sa.ForeignKey("accounts.id", name="fk_optout_hashes_account_id_accounts"),
                     nullable=False, server_default=sa.text("1"))


def upgrade() -> None:
    op.create_table(
        "filter_runs",
        sa.Column("id", Id, autoincrement=True, nullable=False),
        sa.Column("started_at", UtcDateTime, nullable=False),
        sa.Column("finished_at", UtcDateTime, nullable=True),
        sa.Column("outcome", sa.String(16), nullable=False),
        sa.Column("detail", sa.Text, nullable=True),
        sa.Column("actor", sa.String(128), nullable=False),
        sa.Column("input_name", sa.String(255), nullable=False),
        sa.Column("input_sha256", sa.String(64), nullable=True),
        sa.Column("input_bytes", sa.Integer, nullable=True),
        *(sa.Column(name, sa.Integer, nullable=True) for name in (
            "rows", "allowed", "blocked_invalid", "blocked_stop_list", "blocked_rental_stop",
            "blocked_contact_stop", "blocked_duplicate")),
        sa.Column("stop_list_synced_at", UtcDateTime, nullable=True),
        sa.Column("stop_list_age_seconds", sa.Float, nullable=True),
        sa.Column("allow_stale", sa.Boolean, nullable=False, server_default=sa.false()),
        sa.Column("accounts", sa.String(255), nullable=False),
        sa.Column("hash_key_id", sa.String(8), nullable=True),
        sa.Column("blocks_recorded", sa.Integer, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_filter_runs"),
    )
    op.create_index("ix_filter_runs_started_at", "filter_runs", ["started_at"])
    op.create_index("ix_filter_runs_input_sha256", "filter_runs", ["input_sha256"])
    op.create_table(
        "filter_run_blocks",
        sa.Column("id", Id, autoincrement=True, nullable=False),
        sa.Column("run_id", Id, sa.ForeignKey("filter_runs.id", name="fk_filter_run_blocks_run_id_filter_runs"),
                  nullable=False),
        sa.Column("number_hash", sa.String(64), nullable=False),
        sa.Column("reason", sa.String(16), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_filter_run_blocks"),
    )
    op.create_index("ix_filter_run_blocks_number_hash", "filter_run_blocks", ["number_hash"])
    op.create_index("ix_filter_run_blocks_run_id", "filter_run_blocks", ["run_id"])
    op.create_table(
        "optout_hashes",
        sa.Column("id", Id, autoincrement=True, nullable=False),
        sa.Column("stop_period_id", Id, nullable=False),
        sa.Column("phone_hash", sa.String(64), nullable=False),
        sa.Column("hash_key_id", sa.String(8), nullable=False),
        sa.Column("api_stop_id", Id, nullable=True),
        sa.Column("api_created_at", UtcDateTime, nullable=True),
        sa.Column("first_seen_at", UtcDateTime, nullable=False),
        sa.Column("last_seen_at", UtcDateTime, nullable=True),
        sa.Column("removed_at", UtcDateTime, nullable=False),
        sa.Column("removed_how", sa.String(16), nullable=True),
        sa.Column("removed_by_action_id", Id, nullable=True),
        sa.Column("source", sa.String(16), nullable=False),
        sa.Column("hashed_at", UtcDateTime, nullable=False),
        _account_id(),
        sa.PrimaryKeyConstraint("id", name="pk_optout_hashes"),
    )
    op.create_index("ix_optout_hashes_phone_hash", "optout_hashes", ["phone_hash"])
    op.create_index("uq_optout_hashes_stop_period_id", "optout_hashes", ["stop_period_id"], unique=True)
    op.add_column("push_inbox", sa.Column("body_purged_at", UtcDateTime, nullable=True))
    op.add_column("replies", sa.Column("text_purged_at", UtcDateTime, nullable=True))


def downgrade() -> None:
    # Plain DROP COLUMN (SQLite >= 3.35), as 0013: a batch rebuild would rename tables under views.
    op.execute("ALTER TABLE replies DROP COLUMN text_purged_at")
    op.execute("ALTER TABLE push_inbox DROP COLUMN body_purged_at")
    for table in ("optout_hashes", "filter_run_blocks", "filter_runs"):
        op.drop_table(table)
