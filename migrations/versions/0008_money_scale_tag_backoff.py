"""Money exactly as the API gives it, and a backoff of its own for each followed tag.

- Every money column goes from ``NUMERIC(18, 6)`` to ``NUMERIC(20, 8)``: a cost of ``0.0451237``
  (7 decimals) was rounded on write (issue 16, "Money and codes exactly or not at all"). Two more
  integer digits too, so no stored value can overflow the new type. The spend views round their
  sums to 8 decimals instead of 6 (SQLite sums binary floats: the rounding hides their noise).
- ``tracked_tags`` gets ``next_read_at``, ``failures`` and ``last_error``: a tag whose read is
  refused is retried on its own backoff (`etl.polling.tag_retry_at`) while polling goes on.

PostgreSQL refuses to retype a column a view reads, so the spend views are dropped first and
created again after. SQLite cannot retype a column: each table is rebuilt (batch mode copies the
rows, ids included; migrations/env.py turns its foreign keys off for the rebuild and checks them all
before the commit).

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-03
"""

import importlib.util
from pathlib import Path
from types import ModuleType

import sqlalchemy as sa
from alembic import op

from etl.db.types import UtcDateTime

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None

OLD_MONEY = sa.Numeric(18, 6)
NEW_MONEY = sa.Numeric(20, 8)

#: (table, column, nullable) for every money column (docs/schema.md).
MONEY_COLUMNS = (
    ("sends", "announced_cost", True),
    ("recipients", "cost", True),
    ("cost_events", "cost", True),
    ("track_intake", "cost", True),
    ("account_snapshots", "balance", True),
    ("monthly_costs", "cost", False),
)

def _views() -> ModuleType:
    """The 0002 revision (its view texts), loaded by path: a module name cannot start with a digit."""
    path = Path(__file__).with_name("0002_statuses.py")
    spec = importlib.util.spec_from_file_location("_migration_0002", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _drop_views(m: ModuleType) -> None:
    for view in m.VIEWS:
        op.execute(f"DROP VIEW IF EXISTS {view}")


def _create_views(m: ModuleType, decimals: int) -> None:
    month = m.MONTH_OF_DAY[op.get_context().dialect.name]
    for text in (m.SPEND_DAILY, m.STATUS_FUNNEL, m.PENDING, m.EXPIRED, m.SPEND_VS_ACCOUNT.format(month=month)):
        op.execute(text.replace("), 6)", f"), {decimals})"))


def _retype(old: sa.Numeric, new: sa.Numeric) -> None:
    for table, column, nullable in MONEY_COLUMNS:
        with op.batch_alter_table(table) as batch:
            batch.alter_column(column, type_=new, existing_type=old, existing_nullable=nullable)


def upgrade() -> None:
    m = _views()
    _drop_views(m)
    _retype(OLD_MONEY, NEW_MONEY)
    _create_views(m, 8)
    with op.batch_alter_table("tracked_tags") as batch:
        batch.add_column(sa.Column("next_read_at", UtcDateTime(), nullable=True))
        batch.add_column(sa.Column("failures", sa.Integer(), nullable=False, server_default="0"))
        batch.add_column(sa.Column("last_error", sa.String(255), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("tracked_tags") as batch:
        batch.drop_column("last_error")
        batch.drop_column("failures")
        batch.drop_column("next_read_at")
    m = _views()
    _drop_views(m)
    _retype(NEW_MONEY, OLD_MONEY)
    _create_views(m, 6)
