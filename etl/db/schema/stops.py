"""The stop list: one row per opt-out period of a number (migrations 0001, 0007; docs/schema.md)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Boolean, ForeignKey, Index, String, false, text
from sqlalchemy.orm import Mapped, mapped_column

from etl.db.schema.accounts import account_id_column
from etl.db.schema.base import Base, table_of
from etl.db.types import Id, Phone, UtcDateTime


class StopPeriod(Base):
    """One opt-out period of a number: opened when first seen, closed when it leaves the list.

    A number that comes back after removal opens a new period; nothing is ever deleted.
    """

    __tablename__ = "stop_periods"

    id: Mapped[int] = mapped_column(Id, primary_key=True, autoincrement=True)
    #: The API's ``data[].id``; NULL only for a STOP pushed by callback and not yet confirmed.
    api_stop_id: Mapped[int | None] = mapped_column(Id)
    #: E.164; NULL only when the API gave text no phone library can parse (kept in phone_raw).
    phone_e164: Mapped[str | None] = mapped_column(Phone)
    phone_raw: Mapped[str] = mapped_column(String(64))
    #: The API's ``createdAt`` (Europe/Paris local in the API, stored UTC).
    api_created_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    #: True when the entry's ``createdAt`` could not be read: still a stop (fail-closed), dated
    #: NULL, the entry in ``rejected_items`` (migration 0007).
    created_at_unreadable: Mapped[bool] = mapped_column(Boolean, server_default=false())
    first_seen_at: Mapped[datetime] = mapped_column(UtcDateTime)
    #: Set when the period closes: the last sync that still saw the number. While open, see the
    #: ``current_stops`` view (every successful stop sync since first_seen_at saw it).
    last_seen_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    removed_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    #: api_missing (observed gone from the list) or tool (removed by `stops remove`)
    removed_how: Mapped[str | None] = mapped_column(String(16))
    removed_by_action_id: Mapped[int | None] = mapped_column(Id, ForeignKey("write_actions.id"))
    #: sync (seen in the list), tool (added by `stops add`), push (STOP callback)
    source: Mapped[str] = mapped_column(String(16), default="sync")
    opened_by_run_id: Mapped[int | None] = mapped_column(Id, ForeignKey("sync_runs.id"))
    closed_by_run_id: Mapped[int | None] = mapped_column(Id, ForeignKey("sync_runs.id"))
    #: API ids are per account (migration 0010).
    account_id: Mapped[int] = account_id_column()

    __table_args__ = (
        Index(None, "account_id", "api_stop_id", "removed_at"),
        Index(None, "phone_e164", "removed_at"),
        # At most one open period per API stop id of an account (PostgreSQL and SQLite; MariaDB has
        # no partial indexes, so the migrations skip it there and the job lock keeps the promise).
        Index(
            "uq_stop_periods_open_api_stop_id",
            "account_id",
            "api_stop_id",
            unique=True,
            postgresql_where=text("removed_at IS NULL"),
            sqlite_where=text("removed_at IS NULL"),
        ),
    )


stop_periods = table_of(StopPeriod)
