"""The schema, as typed SQLAlchemy 2 models. Names here are the product: see docs/schema.md.

Every change is an Alembic revision in ``migrations/versions``; tests build databases with
``upgrade heads``, so a model that drifts from its migration is caught by ``alembic check``.

Timestamps are UTC (`UtcDateTime`), money is exact (`Money`) beside a 3-letter currency, phone
numbers are E.164 with the text as received kept beside them.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Index, Integer, MetaData, String, Text, text
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from etl.db.types import Id, Phone, UtcDateTime

# Same constraint names on every backend (sqlalchemy doc/build/core/constraints.rst).
NAMING_CONVENTION = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)


class SyncRun(Base):
    """One row per job run: what ran, when, how it ended and how many rows it touched."""

    __tablename__ = "sync_runs"

    id: Mapped[int] = mapped_column(Id, primary_key=True, autoincrement=True)
    job: Mapped[str] = mapped_column(String(32))
    started_at: Mapped[datetime] = mapped_column(UtcDateTime)
    finished_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    #: running, success, failed, refused, skipped, abandoned (the process died mid-run)
    outcome: Mapped[str] = mapped_column(String(16), default="running")
    rows_added: Mapped[int] = mapped_column(Integer, default=0)
    rows_changed: Mapped[int] = mapped_column(Integer, default=0)
    rows_removed: Mapped[int] = mapped_column(Integer, default=0)
    #: Error text or a note; never the API key or a response body.
    detail: Mapped[str | None] = mapped_column(Text)
    host: Mapped[str | None] = mapped_column(String(255))
    pid: Mapped[int | None] = mapped_column(Integer)

    __table_args__ = (Index(None, "job", "started_at"),)

    def __repr__(self) -> str:
        return f"SyncRun(id={self.id!r}, job={self.job!r}, outcome={self.outcome!r})"


class WriteAction(Base):
    """Audit trail of every write this tool makes to the account (stop add/remove, cancel).

    The row is written *before* the API call (outcome ``pending``) and completed after it, so a
    crash mid-call leaves ``pending``/``unknown`` for the next sync to resolve by re-reading.
    """

    __tablename__ = "write_actions"

    id: Mapped[int] = mapped_column(Id, primary_key=True, autoincrement=True)
    #: stop_add, stop_remove, message_cancel
    action: Mapped[str] = mapped_column(String(32))
    #: The number (E.164), stop id or message id acted on.
    target: Mapped[str] = mapped_column(String(64))
    actor: Mapped[str] = mapped_column(String(128))
    reason: Mapped[str | None] = mapped_column(Text)
    requested_at: Mapped[datetime] = mapped_column(UtcDateTime)
    completed_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    #: pending, success, rejected, unknown, resolved_success, resolved_not_done
    outcome: Mapped[str] = mapped_column(String(24), default="pending")
    api_code: Mapped[int | None] = mapped_column(Integer)
    api_message: Mapped[str | None] = mapped_column(Text)
    #: For stop_add: the id the API gave; for stop_remove: the id removed.
    api_stop_id: Mapped[int | None] = mapped_column(Id)

    __table_args__ = (Index(None, "action", "requested_at"), Index(None, "outcome"))


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

    __table_args__ = (
        Index(None, "api_stop_id", "removed_at"),
        Index(None, "phone_e164", "removed_at"),
        # At most one open period per API stop id (PostgreSQL and SQLite; MariaDB has no partial
        # indexes, so migration 0001 skips it there and the job lock keeps the promise).
        Index(
            "uq_stop_periods_open_api_stop_id",
            "api_stop_id",
            unique=True,
            postgresql_where=text("removed_at IS NULL"),
            sqlite_where=text("removed_at IS NULL"),
        ),
    )


class JobLease(Base):
    """SQLite's job lock: a lease row with an expiry (PostgreSQL/MariaDB use advisory locks)."""

    __tablename__ = "job_leases"

    job: Mapped[str] = mapped_column(String(64), primary_key=True)
    owner: Mapped[str] = mapped_column(String(128))
    acquired_at: Mapped[datetime] = mapped_column(UtcDateTime)
    expires_at: Mapped[datetime] = mapped_column(UtcDateTime)


sync_runs = SyncRun.__table__
write_actions = WriteAction.__table__
stop_periods = StopPeriod.__table__
job_leases = JobLease.__table__
