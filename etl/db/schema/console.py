"""The web console's users and their sessions (migration 0015; docs/console.md, docs/schema.md)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import CheckConstraint, ForeignKey, Index, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from etl.db.schema.base import Base, table_of
from etl.db.types import Id, UtcDateTime

#: Each role may do what the ones before it may (etl.console.roles).
ROLES = ("viewer", "marketing", "admin")


class ConsoleUser(Base):
    """A person who may sign in to the console. ``password_hash`` is argon2id (PHC string), never shown."""

    __tablename__ = "console_users"

    id: Mapped[int] = mapped_column(Id, primary_key=True, autoincrement=True)
    name: Mapped[str] = mapped_column(String(64))
    role: Mapped[str] = mapped_column(String(16))
    password_hash: Mapped[str] = mapped_column(String(255))
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)
    password_changed_at: Mapped[datetime] = mapped_column(UtcDateTime)

    __table_args__ = (
        UniqueConstraint("name"),
        CheckConstraint("role IN ('viewer', 'marketing', 'admin')", name="role"),
    )

    def __repr__(self) -> str:  # an allow-list: the hash never prints
        return f"ConsoleUser(name={self.name!r}, role={self.role!r})"


class ConsoleSession(Base):
    """One signed-in session. ``id`` is the SHA-256 of the cookie's token, so a reader of this table
    cannot sign in as anyone; deleting the row ends the session (logout, expiry, ``users remove``)."""

    __tablename__ = "console_sessions"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    user_id: Mapped[int] = mapped_column(Id, ForeignKey("console_users.id", ondelete="CASCADE"))
    #: The session's CSRF token (every form carries it; compared in constant time).
    csrf_token: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)
    last_seen_at: Mapped[datetime] = mapped_column(UtcDateTime)
    expires_at: Mapped[datetime] = mapped_column(UtcDateTime)

    __table_args__ = (Index(None, "user_id"), Index(None, "expires_at"))

    def __repr__(self) -> str:
        return f"ConsoleSession(user_id={self.user_id!r})"


console_users = table_of(ConsoleUser)
console_sessions = table_of(ConsoleSession)
