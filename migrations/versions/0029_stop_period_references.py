"""Index the two foreign keys to ``stop_periods``: ``push_inbox.stop_period_id`` (partial: the rows that point at
a period) and ``breaches.stop_period_id``.

Issue 18, "Retention job": reducing old opt-outs deletes their ``stop_periods`` rows, and each delete checks
every table that refers to them. Neither column was indexed, so SQLite scanned the whole inbox and every
breach per deleted period, and PostgreSQL's foreign-key trigger did the same per row: with 400,000 callbacks
the first batch of 5,000 periods took about 10 minutes on SQLite (docs/benchmarks.md, "Retention job"). The
retention job's anti-join (a breach's period stays readable) reads ``breaches`` by the same column. MariaDB
created an index for each foreign key itself; the explicit one takes its place (InnoDB drops the implicit
one once another index serves the key). PostgreSQL and SQLite keep the inbox index partial: a delivery
report never points at a period.

New indexes built from the rows: nothing to carry forward.

Revision ID: 0029
Revises: 0028
Create Date: 2026-12-07
"""

import sqlalchemy as sa
from alembic import op

revision = "0029"
down_revision = "0028"
branch_labels = None
depends_on = None

POINTS_AT_PERIOD = sa.text("stop_period_id IS NOT NULL")


def upgrade() -> None:
    op.create_index("ix_push_inbox_stop_period_id", "push_inbox", ["stop_period_id"],
                    postgresql_where=POINTS_AT_PERIOD, sqlite_where=POINTS_AT_PERIOD)
    op.create_index("ix_breaches_stop_period_id", "breaches", ["stop_period_id"])


def downgrade() -> None:
    # MariaDB refuses to drop the index a foreign key uses unless another serves it: give it back its own first.
    if op.get_bind().dialect.name in ("mysql", "mariadb"):
        op.create_index("fk_push_inbox_stop_period_id_stop_periods", "push_inbox", ["stop_period_id"])
        op.create_index("fk_breaches_stop_period_id_stop_periods", "breaches", ["stop_period_id"])
    op.drop_index("ix_push_inbox_stop_period_id", table_name="push_inbox")
    op.drop_index("ix_breaches_stop_period_id", table_name="breaches")
