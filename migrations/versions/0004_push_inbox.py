"""Push callbacks: the raw inbox and inbound replies; merges the statuses (0002) and rentals (0003) heads.

Revision ID: 0004
Revises: 0002, 0003
Create Date: 2026-11-24
"""

import sqlalchemy as sa
from alembic import op

from etl.db.types import Id, Phone, UtcDateTime

revision = "0004"
down_revision = ("0002", "0003")
branch_labels = None
depends_on = None

#: Pushed STOPs the stop sync has not confirmed yet (no API id): what to look at when a number
#: stays "pushed" for long (the provider's list never showed it).
PUSHED_STOPS_UNCONFIRMED = """
CREATE VIEW pushed_stops_unconfirmed AS
SELECT p.id AS stop_period_id,
       p.phone_e164,
       p.phone_raw,
       p.first_seen_at
  FROM stop_periods p
 WHERE p.source = 'push'
   AND p.api_stop_id IS NULL
   AND p.removed_at IS NULL
"""


def upgrade() -> None:
    op.create_table(
        "push_inbox",
        sa.Column("id", Id, primary_key=True, autoincrement=True),
        sa.Column("channel", sa.String(8), nullable=False),
        sa.Column("kind", sa.String(8), nullable=False),
        sa.Column("content_hash", sa.String(64), nullable=False),
        sa.Column("received_at", UtcDateTime(), nullable=False),
        sa.Column("source_ip", sa.String(45), nullable=True),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("phone_e164", Phone, nullable=True),
        sa.Column("message_id", sa.String(64), nullable=True),
        sa.Column("state", sa.String(12), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("applied_at", UtcDateTime(), nullable=True),
        sa.Column("detail", sa.String(255), nullable=True),
        sa.Column("stop_period_id", Id, nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_push_inbox"),
        sa.ForeignKeyConstraint(["stop_period_id"], ["stop_periods.id"], name="fk_push_inbox_stop_period_id_stop_periods"),
    )
    op.create_index("uq_push_inbox_content_hash", "push_inbox", ["content_hash"], unique=True)
    op.create_index("ix_push_inbox_state_id", "push_inbox", ["state", "id"])
    op.create_index("ix_push_inbox_message_id_phone_e164", "push_inbox", ["message_id", "phone_e164"])

    op.create_table(
        "replies",
        sa.Column("id", Id, primary_key=True, autoincrement=True),
        sa.Column("inbox_id", Id, nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("phone_e164", Phone, nullable=True),
        sa.Column("phone_raw", sa.String(64), nullable=False),
        sa.Column("message_id", sa.String(64), nullable=True),
        sa.Column("text", sa.Text(), nullable=True),
        sa.Column("keyword", sa.String(64), nullable=True),
        sa.Column("to_number", sa.String(32), nullable=True),
        sa.Column("sent_at", UtcDateTime(), nullable=True),
        sa.Column("received_at", UtcDateTime(), nullable=False),
        sa.Column("concat_ref", sa.String(64), nullable=True),
        sa.Column("concat_part", sa.Integer(), nullable=True),
        sa.Column("concat_total", sa.Integer(), nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_replies"),
        sa.ForeignKeyConstraint(["inbox_id"], ["push_inbox.id"], name="fk_replies_inbox_id_push_inbox"),
    )
    op.create_index("uq_replies_inbox_id", "replies", ["inbox_id"], unique=True)
    op.create_index("ix_replies_phone_e164_received_at", "replies", ["phone_e164", "received_at"])
    op.create_index("ix_replies_message_id", "replies", ["message_id"])
    op.execute(PUSHED_STOPS_UNCONFIRMED)


def downgrade() -> None:
    op.execute("DROP VIEW IF EXISTS pushed_stops_unconfirmed")
    op.drop_table("replies")
    op.drop_table("push_inbox")
