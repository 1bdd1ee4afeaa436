"""The due indexes hold only what is due: ``ix_recipients_account_id_next_poll_at``, ``..._next_cost_at`` and
``..._final_expired`` partial.

Issue 20, "Plans that stay flat": both indexes kept an entry for every recipient ever seen, although only a
pending recipient has a ``next_poll_at`` and only one whose cost read is ahead has a ``next_cost_at`` (NULL
otherwise, `etl.db.schema.statuses.Recipient`). As partial indexes (``WHERE ... IS NOT NULL``) on PostgreSQL
and SQLite they stay the size of the backlog while history grows, and the ``/metrics`` pending count reads the
partial index only (docs/benchmarks.md, "History growth"). The due queries (``next_poll_at <= now``) imply the
predicate, so both planners use them as before. ``ix_recipients_account_id_final_expired`` (the
``pending_recipients`` and ``expired_recipients`` views: ``NOT final AND ...``) keeps the recipients not final only.
Besides the size: PostgreSQL writes an entry into every index for each row version an ``UPDATE`` makes that
changes an indexed column, except where the new version is outside a partial index's predicate, which is the
case for each recipient the apply makes final. MariaDB has no partial indexes: its full ones stay.

The same names and columns: an index rebuilt from the rows, nothing to carry forward; the downgrade builds the
full ones again.

Revision ID: 0023
Revises: 0022
Create Date: 2026-12-04
"""

import sqlalchemy as sa
from alembic import op

from etl.db import backends

revision = "0023"
down_revision = "0022"
branch_labels = None
depends_on = None

#: Index columns and the rows it keeps: what is due to poll, to price, and what is not final (pending or expired).
PARTIAL = (
    (("next_poll_at",), "next_poll_at IS NOT NULL"),
    (("next_cost_at",), "next_cost_at IS NOT NULL"),
    (("final", "expired"), "NOT final"),
)


def _rebuild(partial: bool) -> None:
    if not backends.of(op.get_bind()).partial_indexes:
        return
    for columns, predicate in PARTIAL:
        name = f"ix_recipients_account_id_{'_'.join(columns)}"
        where = sa.text(predicate) if partial else None
        op.drop_index(name, table_name="recipients")
        op.create_index(name, "recipients", ["account_id", *columns], postgresql_where=where, sqlite_where=where)


def upgrade() -> None:
    _rebuild(partial=True)


def downgrade() -> None:
    _rebuild(partial=False)
