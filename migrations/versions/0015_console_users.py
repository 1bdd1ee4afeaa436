"""The web console's users and sessions (issue 19, docs/console.md).

- ``console_users``: name, role (viewer, marketing, admin), argon2id password hash.
- ``console_sessions``: one row per signed-in session, keyed by the SHA-256 of the cookie's token, with its
  CSRF token and expiry; deleting a row ends that session. Sessions go with their user (ON DELETE CASCADE).

New tables only: no existing row is touched.

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-03
"""

import sqlalchemy as sa
from alembic import op

from etl.db.types import Id, UtcDateTime

revision = "0015"
down_revision = "0014"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "console_users",
        sa.Column("id", Id, autoincrement=True, nullable=False),
        sa.Column("name", sa.String(64), nullable=False),
        sa.Column("role", sa.String(16), nullable=False),
        sa.Column("password_hash", sa.String(255), nullable=False),
        sa.Column("created_at", UtcDateTime, nullable=False),
        sa.Column("password_changed_at", UtcDateTime, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_console_users"),
        sa.UniqueConstraint("name", name="uq_console_users_name"),
        sa.CheckConstraint("role IN ('viewer', 'marketing', 'admin')", name="ck_console_users_role"),
    )
    op.create_table(
        "console_sessions",
        sa.Column("id", sa.String(64), nullable=False),
        sa.Column("user_id", Id, nullable=False),
        sa.Column("csrf_token", sa.String(64), nullable=False),
        sa.Column("created_at", UtcDateTime, nullable=False),
        sa.Column("last_seen_at", UtcDateTime, nullable=False),
        sa.Column("expires_at", UtcDateTime, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_console_sessions"),
        sa.ForeignKeyConstraint(["user_id"], ["console_users.id"], name="fk_console_sessions_user_id_console_users",
                                ondelete="CASCADE"),
    )
    op.create_index("ix_console_sessions_user_id", "console_sessions", ["user_id"])
    op.create_index("ix_console_sessions_expires_at", "console_sessions", ["expires_at"])


def downgrade() -> None:
    op.drop_table("console_sessions")
    op.drop_table("console_users")
