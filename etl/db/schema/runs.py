"""The run log, the audit of writes to the account, and the SQLite job leases (migration 0001; docs/schema.md)."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal

from sqlalchemy import Boolean, Index, Integer, String, Text, false
from sqlalchemy.orm import Mapped, mapped_column

from etl.db.schema.accounts import account_id_column
from etl.db.schema.base import Base, table_of
from etl.db.types import Id, Money, UtcDateTime


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
    account_id: Mapped[int] = account_id_column()
    #: The instance that ran it (``host:pid:random``, migration 0027): a claimed-work run holds a lock named
    #: after it, by which the lock holder tells a live run from a dead one (`etl.runner`).
    owner: Mapped[str | None] = mapped_column(String(128))

    __table_args__ = (
        Index(None, "account_id", "job", "started_at"),
        # job_health's last success and failed runs, read from the index alone (migration 0028).
        Index(None, "account_id", "job", "outcome", "started_at"),
    )

    def __repr__(self) -> str:
        return f"SyncRun(id={self.id!r}, job={self.job!r}, outcome={self.outcome!r})"


class WriteAction(Base):
    """Audit trail of every write this tool makes to the account (stop add/remove, cancel, sub-account
    credit moves, create and remove).

    The row is written *before* the API call (outcome ``pending``) and completed after it, so a
    crash mid-call leaves ``pending``/``unknown`` for the next sync to resolve by re-reading.
    """

    __tablename__ = "write_actions"

    id: Mapped[int] = mapped_column(Id, primary_key=True, autoincrement=True)
    #: stop_add, stop_remove, message_cancel, credit_add, credit_remove, subaccount_create, subaccount_remove
    action: Mapped[str] = mapped_column(String(32))
    #: The number (E.164), stop id or message id acted on; a sub-account's token, or the e-mail it is created with.
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
    #: Euros moved (credit_add, credit_remove) or given at creation (subaccount_create); migration 0013.
    amount: Mapped[Decimal | None] = mapped_column(Money)
    #: The sub-account's balance in subaccount/list just before a credit move: an unknown outcome is settled
    #: by comparing the balance read back with it (docs/rentals-and-actions.md, "Sub-account writes").
    balance_before: Mapped[Decimal | None] = mapped_column(Money)
    account_id: Mapped[int] = account_id_column()
    #: stop_remove: how the number opted back in (a form, a URL, a date), required since migration 0021;
    #: NULL on older rows and other actions (docs/compliance.md, "Removing an opt-out").
    consent_evidence: Mapped[str | None] = mapped_column(Text)
    #: stop_remove: true when it was made within ``[compliance] stop_reply_cooloff`` of a STOP reply, by ``--override``.
    cooloff_override: Mapped[bool] = mapped_column(Boolean, server_default=false())

    __table_args__ = (Index(None, "account_id", "action", "requested_at"), Index(None, "account_id", "outcome"), Index(None, "target"))


class JobLease(Base):
    """SQLite's job lock: a lease row with an expiry (PostgreSQL/MariaDB use advisory locks)."""

    __tablename__ = "job_leases"

    job: Mapped[str] = mapped_column(String(64), primary_key=True)
    owner: Mapped[str] = mapped_column(String(128))
    acquired_at: Mapped[datetime] = mapped_column(UtcDateTime)
    expires_at: Mapped[datetime] = mapped_column(UtcDateTime)


sync_runs = table_of(SyncRun)
write_actions = table_of(WriteAction)
job_leases = table_of(JobLease)
