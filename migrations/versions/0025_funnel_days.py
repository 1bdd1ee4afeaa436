"""``funnel_days``: the recipients' delivery funnel per account, Paris day and send; ``status_funnel`` reads it.

Issues 19 and 20: ``status_funnel`` aggregated every recipient it covered, and the console's overview sums 30
days of it at each request (3.2 s on SQLite, 1.2 s on PostgreSQL with 2.5 M recipients in the window; goal
200 ms p95). From here it reads ``funnel_days``, which the writers of a recipient's status, expiry or item code,
and the recipients' insert, keep exact in the same transaction (`etl.db.funnel_rollup`). The view keeps its
name, columns and rows (docs/schema.md, "funnel_days").

Carried forward: the rows are computed from every recipient here, in one ``INSERT … SELECT`` whose counts are
0010's own expressions (read from that revision, not copied). A (day, message id, tag) row of the old view is
one send's recipients of that day: a send's message id is unique in its account. The downgrade puts 0010's view
back and drops the table (nothing in it that the recipients lack).

Revision ID: 0025
Revises: 0024
Create Date: 2026-12-07
"""

import sqlalchemy as sa
from alembic import op

from etl.db.migrate import revision_module
from etl.db.types import Id

revision = "0025"
down_revision = "0024"
branch_labels = None
depends_on = None

COUNTS = ("recipients", "delivered", "failed", "pending", "expired", "not_found")

# Accounts first, as a CROSS JOIN, as 0012 explains for spend_by_day: SQLite keeps the order without statistics.
STATUS_FUNNEL = """
CREATE VIEW status_funnel AS
SELECT d.sent_day,
       s.message_id,
       s.tag,
       d.recipients,
       d.delivered,
       d.failed,
       d.pending,
       d.expired,
       d.not_found,
       d.account_id,
       a.label AS account_label
  FROM accounts a
 CROSS JOIN funnel_days d
  JOIN sends s ON s.id = d.send_id
 WHERE d.account_id = a.id
"""


def _fill() -> str:
    """What every recipient counts for per send and day, with 0010's count expressions (``recipients`` to
    ``not_found``), so the rollup counts what the view counted."""
    view = revision_module("0010_accounts.py").STATUS_FUNNEL
    start, end = view.index("COUNT(*) AS recipients"), view.index("r.account_id,\n")
    counts = view[start:end].rstrip().rstrip(",")
    if counts.count(" AS ") != len(COUNTS):
        raise RuntimeError("0010's status_funnel is not the text this revision reads its counts from")
    return (f"INSERT INTO funnel_days (account_id, sent_day, send_id, {', '.join(COUNTS)})\n"
            f"SELECT r.account_id, r.sent_day, r.send_id, {counts}\n"
            f"  FROM recipients r\n GROUP BY r.account_id, r.sent_day, r.send_id")


def upgrade() -> None:
    fill = _fill()
    op.execute("DROP VIEW IF EXISTS status_funnel")
    op.create_table(
        "funnel_days",
        sa.Column("account_id", Id, nullable=False),
        sa.Column("sent_day", sa.Date(), nullable=False),
        sa.Column("send_id", Id, nullable=False),
        *(sa.Column(name, sa.BigInteger(), nullable=False) for name in COUNTS),
        sa.PrimaryKeyConstraint("account_id", "sent_day", "send_id", name="pk_funnel_days"),
        sa.ForeignKeyConstraint(["account_id"], ["accounts.id"], name="fk_funnel_days_account_id_accounts"),
        sa.ForeignKeyConstraint(["send_id"], ["sends.id"], name="fk_funnel_days_send_id_sends"),
    )
    op.execute(fill)
    op.execute(STATUS_FUNNEL)


def downgrade() -> None:
    op.execute("DROP VIEW IF EXISTS status_funnel")
    op.execute(revision_module("0010_accounts.py").STATUS_FUNNEL)
    op.drop_table("funnel_days")
