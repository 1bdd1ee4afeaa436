"""Rental costs, and spend and balances per account for finance (issue 17, "Rental costs", "Sub-accounts").

- ``rental_costs``: one row per rental order (its token), the cost ``location/status`` quotes (``total``,
  ``cost_unity``, ``quantity``; decimals from strings), the latest reading winning; ``rental_cost_events``
  keeps the first reading and every change.
- ``spend_by_day`` (view): SMS spend (the recipients' costs ``spend_daily`` sums) and rental spend (on the
  order's day) per account, day, currency and kind. Days are Europe/Paris days, like ``sent_day`` and the
  account's own months (docs/schema.md, "Spend").
- ``balance_history`` (view): every balance reading of every account (``account_snapshots``).

``spend_vs_account`` is already per account (0010) and keeps its text. Plain portable SQL: no backend
branches here.

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-03
"""

import sqlalchemy as sa
from alembic import op

from etl.db.types import Currency, Id, Money, UtcDateTime

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None

# Money is never summed across currencies nor accounts. `count`: recipients priced (sms), rental orders (rental).
# Accounts first, as a CROSS JOIN: SQLite keeps that order even without ANALYZE statistics, so a day's rows
# are one seek of ix_recipients_account_id_sent_day_country_currency per account, not a scan of every
# recipient (docs/benchmarks.md, "spend_by_day"); PostgreSQL and MariaDB plan it as the inner join it is.
SPEND_BY_DAY = """
CREATE VIEW spend_by_day AS
SELECT r.account_id,
       a.label AS account_label,
       r.sent_day AS day,
       r.currency,
       'sms' AS kind,
       ROUND(SUM(r.cost), 8) AS amount,
       COUNT(*) AS count
  FROM accounts a
 CROSS JOIN recipients r
 WHERE r.account_id = a.id
   AND r.cost IS NOT NULL
 GROUP BY r.account_id, a.label, r.sent_day, r.currency
UNION ALL
SELECT c.account_id,
       a.label AS account_label,
       c.cost_day AS day,
       c.currency,
       'rental' AS kind,
       ROUND(SUM(c.total), 8) AS amount,
       COUNT(*) AS count
  FROM accounts a
 CROSS JOIN rental_costs c
 WHERE c.account_id = a.id
 GROUP BY c.account_id, a.label, c.cost_day, c.currency
"""

BALANCE_HISTORY = """
CREATE VIEW balance_history AS
SELECT s.account_id,
       a.label AS account_label,
       s.observed_at,
       s.balance,
       s.currency,
       s.credit_sms,
       s.credit_sms_eco,
       s.credit_hlr
  FROM account_snapshots s
  JOIN accounts a ON a.id = s.account_id
"""

VIEWS = ("balance_history", "spend_by_day")


def _cost_columns() -> list[sa.Column]:  # type: ignore[type-arg]
    return [
        sa.Column("total", Money, nullable=False),
        sa.Column("unit_cost", Money, nullable=True),
        sa.Column("quantity", sa.Integer(), nullable=True),
        sa.Column("currency", Currency, nullable=True),
        sa.Column("ordered_at", UtcDateTime(), nullable=True),
    ]


def upgrade() -> None:
    op.create_table(
        "rental_costs",
        sa.Column("id", Id, primary_key=True, autoincrement=True),
        sa.Column("rental_id", Id, nullable=False),
        sa.Column("account_id", Id, server_default=sa.text("1"), nullable=False),
        *_cost_columns(),
        sa.Column("cost_day", sa.Date(), nullable=False),
        sa.Column("first_seen_at", UtcDateTime(), nullable=False),
        sa.Column("changed_at", UtcDateTime(), nullable=False),
        sa.Column("observed_at", UtcDateTime(), nullable=False),
        sa.Column("run_id", Id, nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_rental_costs"),
        sa.ForeignKeyConstraint(["rental_id"], ["rentals.id"], name="fk_rental_costs_rental_id_rentals"),
        sa.ForeignKeyConstraint(["account_id"], ["accounts.id"], name="fk_rental_costs_account_id_accounts"),
        sa.ForeignKeyConstraint(["run_id"], ["sync_runs.id"], name="fk_rental_costs_run_id_sync_runs"),
        sa.UniqueConstraint("rental_id", name="uq_rental_costs_rental_id"),
    )
    op.create_index("ix_rental_costs_account_id_cost_day_currency", "rental_costs", ["account_id", "cost_day", "currency"])
    op.create_index("ix_rental_costs_cost_day", "rental_costs", ["cost_day"])
    op.create_table(
        "rental_cost_events",
        sa.Column("id", Id, primary_key=True, autoincrement=True),
        sa.Column("rental_id", Id, nullable=False),
        *_cost_columns(),
        sa.Column("observed_at", UtcDateTime(), nullable=False),
        sa.Column("run_id", Id, nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_rental_cost_events"),
        sa.ForeignKeyConstraint(["rental_id"], ["rentals.id"], name="fk_rental_cost_events_rental_id_rentals"),
        sa.ForeignKeyConstraint(["run_id"], ["sync_runs.id"], name="fk_rental_cost_events_run_id_sync_runs"),
    )
    op.create_index("ix_rental_cost_events_rental_id_observed_at", "rental_cost_events", ["rental_id", "observed_at"])
    op.execute(SPEND_BY_DAY)
    op.execute(BALANCE_HISTORY)


def downgrade() -> None:
    for view in VIEWS:
        op.execute(f"DROP VIEW IF EXISTS {view}")
    op.drop_table("rental_cost_events")
    op.drop_table("rental_costs")
