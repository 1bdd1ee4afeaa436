"""``spend_days``: the recipients' spend per account, Paris day, country and currency; the spend views read it.

Issue 20, "daily rollup tables behind the spend views": ``spend_daily``, the SMS part of ``spend_by_day`` and
``spend_vs_account`` aggregated every recipient they covered (0.9-1.75 s for one day on large data). From here
they read ``spend_days``, which the writers of a recipient's cost keep exact in the same transaction
(`etl.db.spend_rollup`). The views keep their names, columns and rows (docs/schema.md, "Spend").

Carried forward: the rows are computed from every priced recipient here, in one ``INSERT … SELECT``. A NULL
country or currency is ``''`` in the key (a key column cannot be NULL) and NULL again in the views. The
downgrade puts the 0010/0012 view texts back and drops the table (nothing in it that the recipients lack).

Revision ID: 0024
Revises: 0023
Create Date: 2026-12-04
"""

import sqlalchemy as sa
from alembic import op

from etl.db import backends
from etl.db.migrate import revision_module
from etl.db.types import Id, Money

revision = "0024"
down_revision = "0023"
branch_labels = None
depends_on = None

VIEWS = ("spend_vs_account", "spend_by_day", "spend_daily")

FILL = """
INSERT INTO spend_days (account_id, sent_day, country, currency, recipients, spend)
SELECT r.account_id, r.sent_day, COALESCE(r.country, ''), COALESCE(r.currency, ''), COUNT(*), SUM(r.cost)
  FROM recipients r
 WHERE r.cost IS NOT NULL
 GROUP BY r.account_id, r.sent_day, COALESCE(r.country, ''), COALESCE(r.currency, '')
"""

# Accounts first, as a CROSS JOIN, as 0012 explains for spend_by_day: SQLite keeps the order without statistics.
# A key left with no recipient (all moved to another currency or country) is left out, as the recipients' views did.
SPEND_DAILY = """
CREATE VIEW spend_daily AS
SELECT d.sent_day,
       NULLIF(d.country, '') AS country,
       NULLIF(d.currency, '') AS currency,
       d.recipients,
       ROUND(d.spend, 8) AS spend,
       d.account_id,
       a.label AS account_label
  FROM accounts a
 CROSS JOIN spend_days d
 WHERE d.account_id = a.id
   AND d.recipients > 0
"""

# The SMS half of 0012's spend_by_day; its rental half is kept as 0012 wrote it.
SPEND_BY_DAY_SMS = """
CREATE VIEW spend_by_day AS
SELECT d.account_id,
       a.label AS account_label,
       d.sent_day AS day,
       NULLIF(d.currency, '') AS currency,
       'sms' AS kind,
       ROUND(SUM(d.spend), 8) AS amount,
       SUM(d.recipients) AS count
  FROM accounts a
 CROSS JOIN spend_days d
 WHERE d.account_id = a.id
   AND d.recipients > 0
 GROUP BY d.account_id, a.label, d.sent_day, d.currency
"""

# What 0010's spend_vs_account joined the account's months to: the recipients' spend per month, now the rollup's.
RECORDED_0010 = """(SELECT r.account_id, {month} AS period, r.currency, ROUND(SUM(r.cost), 8) AS spend, COUNT(*) AS recipients
               FROM recipients r
              WHERE r.cost IS NOT NULL
              GROUP BY r.account_id, {month}, r.currency) x"""
RECORDED = """(SELECT d.account_id, {month} AS period, NULLIF(d.currency, '') AS currency, ROUND(SUM(d.spend), 8) AS spend,
                    SUM(d.recipients) AS recipients
               FROM spend_days d
              WHERE d.recipients > 0
              GROUP BY d.account_id, {month}, d.currency) x"""


def _drop_views() -> None:
    for view in VIEWS:
        op.execute(f"DROP VIEW IF EXISTS {view}")


def _views() -> tuple[str, str]:
    """spend_by_day and spend_vs_account over the rollup: 0012's and 0010's texts with their SMS spend replaced."""
    m10, m12 = revision_module("0010_accounts.py"), revision_module("0012_rental_costs_spend_views.py")
    rental = m12.SPEND_BY_DAY.split("UNION ALL", 1)[1]
    if RECORDED_0010 not in m10.SPEND_VS_ACCOUNT:
        raise RuntimeError("0010's spend_vs_account is not the text this revision replaces")
    return f"{SPEND_BY_DAY_SMS}UNION ALL{rental}", m10.SPEND_VS_ACCOUNT.replace(RECORDED_0010, RECORDED)


def upgrade() -> None:
    month = backends.of(op.get_bind()).month_sql("d.sent_day")
    spend_by_day, spend_vs_account = _views()
    _drop_views()
    op.create_table(
        "spend_days",
        sa.Column("account_id", Id, nullable=False),
        sa.Column("sent_day", sa.Date(), nullable=False),
        sa.Column("country", sa.String(2), nullable=False),
        sa.Column("currency", sa.String(3), nullable=False),
        sa.Column("recipients", sa.BigInteger(), nullable=False),
        sa.Column("spend", Money, nullable=False),
        sa.PrimaryKeyConstraint("account_id", "sent_day", "country", "currency", name="pk_spend_days"),
        sa.ForeignKeyConstraint(["account_id"], ["accounts.id"], name="fk_spend_days_account_id_accounts"),
    )
    op.execute(FILL)
    for text in (SPEND_DAILY, spend_by_day, spend_vs_account.format(month=month)):
        op.execute(text)


def downgrade() -> None:
    month = backends.of(op.get_bind()).month_sql("r.sent_day")
    _drop_views()
    m10, m12 = revision_module("0010_accounts.py"), revision_module("0012_rental_costs_spend_views.py")
    for text in (m10.SPEND_DAILY, m12.SPEND_BY_DAY, m10.SPEND_VS_ACCOUNT.format(month=month)):
        op.execute(text)
    op.drop_table("spend_days")
