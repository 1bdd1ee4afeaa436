"""Breaches: sends that reached a number opted out in the same account (issue 18; docs/compliance.md).

- ``breaches``: one row per tracked recipient texted while its number was on its account's stop list, past
  ``[compliance] breach_grace``; filled set-based after each stops and statuses sync, acknowledged by an
  operator (``acknowledged_at``, ``acknowledged_by``, ``ack_note``).
- ``breaches_open`` (view): the unacknowledged ones, with the recipient's status and cost.
- Indexes on the phone columns the ``evidence`` report looks a number up by: ``recipients.phone_e164``,
  ``contact_events.phone_e164``, ``write_actions.target`` (docs/benchmarks.md, "Evidence").

A new table and indexes only: existing rows are untouched on every backend.

Revision ID: 0016
Revises: 0015
Create Date: 2026-12-03
"""

import sqlalchemy as sa
from alembic import op

from etl.db.types import Id, Phone, UtcDateTime

revision = "0016"
down_revision = "0015"
branch_labels = None
depends_on = None

BREACHES_OPEN = """
CREATE VIEW breaches_open AS
SELECT b.id,
       b.phone_e164,
       b.message_id,
       b.tag,
       b.sent_at,
       b.opted_out_at,
       b.grace_seconds,
       b.detected_at,
       r.status,
       r.cost,
       r.currency,
       b.stop_period_id,
       p.source AS stop_source,
       b.recipient_id,
       b.account_id,
       a.label AS account_label
  FROM breaches b
  JOIN accounts a ON a.id = b.account_id
  JOIN recipients r ON r.id = b.recipient_id
  JOIN stop_periods p ON p.id = b.stop_period_id
 WHERE b.acknowledged_at IS NULL
"""

#: (index name, table, columns) added for the evidence lookups.
PHONE_INDEXES = (
    ("ix_recipients_phone_e164", "recipients", ["phone_e164"]),
    ("ix_contact_events_phone_e164", "contact_events", ["phone_e164"]),
    ("ix_write_actions_target", "write_actions", ["target"]),
)


def upgrade() -> None:
    op.create_table(
        "breaches",
        sa.Column("id", Id, primary_key=True, autoincrement=True),
        sa.Column("account_id", Id, server_default=sa.text("1"), nullable=False),
        sa.Column("recipient_id", Id, nullable=False),
        sa.Column("stop_period_id", Id, nullable=False),
        sa.Column("phone_e164", Phone, nullable=False),
        sa.Column("message_id", sa.String(64), nullable=False),
        sa.Column("tag", sa.String(32), nullable=True),
        sa.Column("sent_at", UtcDateTime(), nullable=False),
        sa.Column("opted_out_at", UtcDateTime(), nullable=False),
        sa.Column("grace_seconds", sa.Integer(), nullable=False),
        sa.Column("detected_at", UtcDateTime(), nullable=False),
        sa.Column("acknowledged_at", UtcDateTime(), nullable=True),
        sa.Column("acknowledged_by", sa.String(64), nullable=True),
        sa.Column("ack_note", sa.String(255), nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_breaches"),
        sa.ForeignKeyConstraint(["account_id"], ["accounts.id"], name="fk_breaches_account_id_accounts"),
        sa.ForeignKeyConstraint(["recipient_id"], ["recipients.id"], name="fk_breaches_recipient_id_recipients"),
        sa.ForeignKeyConstraint(["stop_period_id"], ["stop_periods.id"], name="fk_breaches_stop_period_id_stop_periods"),
    )
    op.create_index("uq_breaches_recipient_id", "breaches", ["recipient_id"], unique=True)
    op.create_index("ix_breaches_phone_e164", "breaches", ["phone_e164"])
    op.create_index("ix_breaches_account_id_acknowledged_at", "breaches", ["account_id", "acknowledged_at"])
    for name, table, columns in PHONE_INDEXES:
        op.create_index(name, table, columns)
    op.execute(BREACHES_OPEN)


def downgrade() -> None:
    op.execute("DROP VIEW IF EXISTS breaches_open")
    for name, table, _columns in PHONE_INDEXES:
        op.drop_index(name, table_name=table)
    op.drop_table("breaches")
