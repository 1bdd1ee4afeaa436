"""Delivery statuses and cost: sends, recipients, status/cost history, intake, finance views.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-24
"""

import sqlalchemy as sa
from alembic import op

from etl.db.types import Currency, Id, Phone, UtcDateTime

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

#: Money as this revision created it (0008 widens it; etl.db.types.Money is the current type).
Money = sa.Numeric(18, 6)

# Money is never summed across currencies: every spend view groups by currency.
SPEND_DAILY = """
CREATE VIEW spend_daily AS
SELECT r.sent_day,
       r.country,
       r.currency,
       COUNT(*) AS recipients,
       ROUND(SUM(r.cost), 6) AS spend
  FROM recipients r
 WHERE r.cost IS NOT NULL
 GROUP BY r.sent_day, r.country, r.currency
"""

STATUS_FUNNEL = """
CREATE VIEW status_funnel AS
SELECT r.sent_day,
       s.message_id,
       s.tag,
       COUNT(*) AS recipients,
       SUM(CASE WHEN LOWER(r.status) = 'delivered' THEN 1 ELSE 0 END) AS delivered,
       SUM(CASE WHEN r.final AND LOWER(r.status) <> 'delivered' THEN 1 ELSE 0 END) AS failed,
       SUM(CASE WHEN NOT r.final AND NOT r.expired THEN 1 ELSE 0 END) AS pending,
       SUM(CASE WHEN r.expired AND NOT r.final THEN 1 ELSE 0 END) AS expired,
       SUM(CASE WHEN r.status IS NULL AND r.item_code IS NOT NULL THEN 1 ELSE 0 END) AS not_found
  FROM recipients r
  JOIN sends s ON s.id = r.send_id
 GROUP BY r.sent_day, s.message_id, s.tag
"""

PENDING = """
CREATE VIEW pending_recipients AS
SELECT r.id AS recipient_id, r.message_id, s.tag, r.phone_e164, r.status, r.status_at, r.poll_count,
       r.last_polled_at, r.next_poll_at, r.poll_until, r.item_code, r.item_error
  FROM recipients r
  JOIN sends s ON s.id = r.send_id
 WHERE NOT r.final AND NOT r.expired
"""

EXPIRED = """
CREATE VIEW expired_recipients AS
SELECT r.id AS recipient_id, r.message_id, s.tag, r.phone_e164, r.status, r.status_at, r.final,
       r.expired_reason, r.poll_count, r.last_polled_at, r.poll_until, r.item_code, r.item_error
  FROM recipients r
  JOIN sends s ON s.id = r.send_id
 WHERE r.expired
"""

MONTH_OF_DAY = {
    "sqlite": "strftime('%Y-%m', r.sent_day)",
    "postgresql": "to_char(r.sent_day, 'YYYY-MM')",
    "mysql": "DATE_FORMAT(r.sent_day, '%Y-%m')",
    "mariadb": "DATE_FORMAT(r.sent_day, '%Y-%m')",
}

SPEND_VS_ACCOUNT = """
CREATE VIEW spend_vs_account AS
SELECT m.period,
       COALESCE(m.currency, x.currency) AS currency,
       m.cost AS account_cost,
       m.nb_send AS account_nb_send,
       COALESCE(x.spend, 0) AS recorded_spend,
       COALESCE(x.recipients, 0) AS recorded_recipients,
       m.cost - COALESCE(x.spend, 0) AS difference,
       m.observed_at AS account_observed_at
  FROM monthly_costs m
  LEFT JOIN (SELECT {month} AS period, r.currency, ROUND(SUM(r.cost), 6) AS spend, COUNT(*) AS recipients
               FROM recipients r
              WHERE r.cost IS NOT NULL
              GROUP BY {month}, r.currency) x
    ON x.period = m.period AND (m.currency IS NULL OR x.currency = m.currency)
"""

VIEWS = ("spend_vs_account", "expired_recipients", "pending_recipients", "status_funnel", "spend_daily")


def upgrade() -> None:
    op.create_table(
        "sends",
        sa.Column("id", Id, primary_key=True, autoincrement=True),
        sa.Column("message_id", sa.String(64), nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("tag", sa.String(32), nullable=True),
        sa.Column("sent_at", UtcDateTime(), nullable=False),
        sa.Column("scheduled_at", UtcDateTime(), nullable=True),
        sa.Column("started_at", UtcDateTime(), nullable=False),
        sa.Column("sent_day", sa.Date(), nullable=False),
        sa.Column("nb_sms", sa.Integer(), nullable=True),
        sa.Column("announced_cost", Money, nullable=True),
        sa.Column("announced_currency", Currency, nullable=True),
        sa.Column("source", sa.String(16), nullable=False),
        sa.Column("created_at", UtcDateTime(), nullable=False),
        sa.Column("discovered_at", UtcDateTime(), nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_sends"),
        sa.UniqueConstraint("message_id", name="uq_sends_message_id"),
    )
    op.create_index("ix_sends_kind_discovered_at", "sends", ["kind", "discovered_at"])
    op.create_index("ix_sends_tag", "sends", ["tag"])

    op.create_table(
        "recipients",
        sa.Column("id", Id, primary_key=True, autoincrement=True),
        sa.Column("send_id", Id, nullable=False),
        sa.Column("message_id", sa.String(64), nullable=False),
        sa.Column("phone_e164", Phone, nullable=False),
        sa.Column("phone_raw", sa.String(64), nullable=False),
        sa.Column("sent_day", sa.Date(), nullable=False),
        sa.Column("status", sa.String(32), nullable=True),
        sa.Column("status_at", UtcDateTime(), nullable=True),
        sa.Column("final", sa.Boolean(), nullable=False),
        sa.Column("final_seen_at", UtcDateTime(), nullable=True),
        sa.Column("expired", sa.Boolean(), nullable=False),
        sa.Column("expired_reason", sa.String(128), nullable=True),
        sa.Column("poll_until", UtcDateTime(), nullable=False),
        sa.Column("next_poll_at", UtcDateTime(), nullable=True),
        sa.Column("poll_count", sa.Integer(), nullable=False),
        sa.Column("last_polled_at", UtcDateTime(), nullable=True),
        sa.Column("item_code", sa.Integer(), nullable=True),
        sa.Column("item_error", sa.String(128), nullable=True),
        sa.Column("cost", Money, nullable=True),
        sa.Column("currency", Currency, nullable=True),
        sa.Column("country", sa.String(2), nullable=True),
        sa.Column("cost_checks", sa.Integer(), nullable=False),
        sa.Column("cost_checked_at", UtcDateTime(), nullable=True),
        sa.Column("next_cost_at", UtcDateTime(), nullable=True),
        sa.Column("first_seen_at", UtcDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_recipients"),
        sa.ForeignKeyConstraint(["send_id"], ["sends.id"], name="fk_recipients_send_id_sends"),
        sa.UniqueConstraint("message_id", "phone_e164", name="uq_recipients_message_id_phone_e164"),
    )
    op.create_index("ix_recipients_next_poll_at", "recipients", ["next_poll_at"])
    op.create_index("ix_recipients_next_cost_at", "recipients", ["next_cost_at"])
    op.create_index("ix_recipients_send_id", "recipients", ["send_id"])
    op.create_index("ix_recipients_sent_day_country_currency", "recipients", ["sent_day", "country", "currency"])
    op.create_index("ix_recipients_final_expired", "recipients", ["final", "expired"])

    op.create_table(
        "status_events",
        sa.Column("id", Id, primary_key=True, autoincrement=True),
        sa.Column("recipient_id", Id, nullable=False),
        sa.Column("status", sa.String(32), nullable=False),
        sa.Column("status_at", UtcDateTime(), nullable=True),
        sa.Column("observed_at", UtcDateTime(), nullable=False),
        sa.Column("run_id", Id, nullable=True),
        sa.Column("source", sa.String(24), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_status_events"),
        sa.ForeignKeyConstraint(["recipient_id"], ["recipients.id"], name="fk_status_events_recipient_id_recipients"),
        sa.ForeignKeyConstraint(["run_id"], ["sync_runs.id"], name="fk_status_events_run_id_sync_runs"),
    )
    op.create_index("ix_status_events_recipient_id_observed_at", "status_events", ["recipient_id", "observed_at"])
    op.create_index("ix_status_events_run_id", "status_events", ["run_id"])

    op.create_table(
        "cost_events",
        sa.Column("id", Id, primary_key=True, autoincrement=True),
        sa.Column("recipient_id", Id, nullable=False),
        sa.Column("cost", Money, nullable=True),
        sa.Column("currency", Currency, nullable=True),
        sa.Column("country", sa.String(2), nullable=True),
        sa.Column("observed_at", UtcDateTime(), nullable=False),
        sa.Column("run_id", Id, nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_cost_events"),
        sa.ForeignKeyConstraint(["recipient_id"], ["recipients.id"], name="fk_cost_events_recipient_id_recipients"),
        sa.ForeignKeyConstraint(["run_id"], ["sync_runs.id"], name="fk_cost_events_run_id_sync_runs"),
    )
    op.create_index("ix_cost_events_recipient_id_observed_at", "cost_events", ["recipient_id", "observed_at"])

    op.create_table(
        "track_intake",
        sa.Column("id", Id, primary_key=True, autoincrement=True),
        sa.Column("message_id", sa.String(64), nullable=False),
        sa.Column("phone", sa.String(64), nullable=False),
        sa.Column("tag", sa.String(32), nullable=True),
        sa.Column("sent_at", sa.String(40), nullable=True),
        sa.Column("scheduled_at", sa.String(40), nullable=True),
        sa.Column("nb_sms", sa.Integer(), nullable=True),
        sa.Column("cost", Money, nullable=True),
        sa.Column("currency", Currency, nullable=True),
        sa.Column("processed_at", UtcDateTime(), nullable=True),
        sa.Column("error", sa.String(255), nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_track_intake"),
    )
    op.create_index("ix_track_intake_processed_at", "track_intake", ["processed_at"])

    op.create_table(
        "tracked_tags",
        sa.Column("tag", sa.String(32), nullable=False),
        sa.Column("added_at", UtcDateTime(), nullable=False),
        sa.Column("last_read_at", UtcDateTime(), nullable=True),
        sa.Column("items_seen", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("tag", name="pk_tracked_tags"),
    )

    op.create_table(
        "account_snapshots",
        sa.Column("id", Id, primary_key=True, autoincrement=True),
        sa.Column("observed_at", UtcDateTime(), nullable=False),
        sa.Column("run_id", Id, nullable=True),
        sa.Column("balance", Money, nullable=True),
        sa.Column("currency", Currency, nullable=True),
        sa.Column("credit_sms", sa.Integer(), nullable=True),
        sa.Column("credit_sms_eco", sa.Integer(), nullable=True),
        sa.Column("credit_hlr", sa.Integer(), nullable=True),
        sa.Column("to_send", sa.Integer(), nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_account_snapshots"),
        sa.ForeignKeyConstraint(["run_id"], ["sync_runs.id"], name="fk_account_snapshots_run_id_sync_runs"),
    )
    op.create_index("ix_account_snapshots_observed_at", "account_snapshots", ["observed_at"])

    op.create_table(
        "monthly_costs",
        sa.Column("period", sa.String(7), nullable=False),
        sa.Column("year", sa.Integer(), nullable=False),
        sa.Column("month", sa.Integer(), nullable=False),
        sa.Column("cost", Money, nullable=False),
        sa.Column("currency", Currency, nullable=True),
        sa.Column("nb_send", sa.Integer(), nullable=False),
        sa.Column("observed_at", UtcDateTime(), nullable=False),
        sa.Column("run_id", Id, nullable=True),
        sa.PrimaryKeyConstraint("period", name="pk_monthly_costs"),
        sa.ForeignKeyConstraint(["run_id"], ["sync_runs.id"], name="fk_monthly_costs_run_id_sync_runs"),
    )

    month = MONTH_OF_DAY[op.get_context().dialect.name]
    op.execute(SPEND_DAILY)
    op.execute(STATUS_FUNNEL)
    op.execute(PENDING)
    op.execute(EXPIRED)
    op.execute(SPEND_VS_ACCOUNT.format(month=month))


def downgrade() -> None:
    for view in VIEWS:
        op.execute(f"DROP VIEW IF EXISTS {view}")
    for table in (
        "monthly_costs", "account_snapshots", "tracked_tags", "track_intake", "cost_events", "status_events",
        "recipients", "sends",
    ):
        op.drop_table(table)
