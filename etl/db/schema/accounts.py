"""The accounts one deployment mirrors: the parent (id 1) and its sub-accounts (migration 0010; docs/schema.md).

Every table whose rows the API names carries ``account_id`` (`account_id_column`); rows that hang off such
a row by a required key (events, files, numbers, replies) reach the account through it.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import CheckConstraint, ForeignKey, String, UniqueConstraint, text
from sqlalchemy.orm import Mapped, mapped_column

from etl.db.schema.base import Base, table_of
from etl.db.types import Id, UtcDateTime

#: The parent account's row: created by migration 0010, owner of every row written before it
#: (`etl.accounts.PARENT_ID` is the same id as jobs see it; `etl.db` may not import it).
PARENT_ACCOUNT_ID = 1


class Account(Base):
    """One account of the login: the parent (``type`` ``parent``, id 1) or a sub-account.

    Sub-account API keys are never stored: they are secrets held in memory only. ``token`` is the
    sub-account's token, an identifier the parent key acts on it with, not a credential.
    """

    __tablename__ = "accounts"

    id: Mapped[int] = mapped_column(Id, primary_key=True, autoincrement=True)
    #: The API's sub-account id (``subaccount/list``); NULL for the parent and for an account followed by key only.
    api_id: Mapped[str | None] = mapped_column(String(32))
    parent_id: Mapped[int | None] = mapped_column(Id, ForeignKey("accounts.id"))
    #: How operators, metrics and /healthz name it; the parent is ``main``.
    label: Mapped[str] = mapped_column(String(64))
    email: Mapped[str | None] = mapped_column(String(255))
    #: parent, simple or advanced (the API's sub-account types)
    type: Mapped[str] = mapped_column(String(16))
    token: Mapped[str | None] = mapped_column(String(64))
    #: The API's ``createdAt`` of the sub-account (Europe/Paris local in the API, stored UTC).
    api_created_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    first_seen_at: Mapped[datetime] = mapped_column(UtcDateTime)
    last_seen_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    #: Set when the sub-account left ``subaccount/list`` (its key then answers code 10); rows kept.
    gone_since: Mapped[datetime | None] = mapped_column(UtcDateTime)

    __table_args__ = (
        UniqueConstraint("label"),
        UniqueConstraint("token"),
        UniqueConstraint("api_id"),
        CheckConstraint("type IN ('parent', 'simple', 'advanced')", name="type"),
    )

    def __repr__(self) -> str:  # the token stays out of reprs and logs
        return f"Account(id={self.id!r}, label={self.label!r}, type={self.type!r})"


def account_id_column() -> Mapped[int]:
    """``account_id``: NOT NULL, → ``accounts.id``, server default the parent (id 1), so a writer
    that does not name it (every single-account job, a user's own INSERT) writes the parent's rows."""
    return mapped_column(Id, ForeignKey("accounts.id"), server_default=text(str(PARENT_ACCOUNT_ID)))


accounts = table_of(Account)
