"""Compliance evidence: filter runs, the numbers they blocked (hashed), opt-outs kept as hashes
(migration 0017; docs/schema.md, "Compliance", docs/compliance.md)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Boolean, Float, ForeignKey, Index, Integer, String, Text, false
from sqlalchemy.orm import Mapped, mapped_column

from etl.db.schema.accounts import account_id_column
from etl.db.schema.base import Base, table_of
from etl.db.types import Id, UtcDateTime

#: Lowercase hex HMAC-SHA256 (`etl.compliance.hashing`), and the key id beside it.
Hash = String(64)
KeyId = String(8)


class FilterRun(Base):
    """One ``filter-audience`` run: which file (by digest), what it found, how fresh the stop list was, who ran it."""

    __tablename__ = "filter_runs"

    id: Mapped[int] = mapped_column(Id, primary_key=True, autoincrement=True)
    started_at: Mapped[datetime] = mapped_column(UtcDateTime)
    finished_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    #: running, success, failed (``detail`` says why; no output file was written)
    outcome: Mapped[str] = mapped_column(String(16), default="running")
    detail: Mapped[str | None] = mapped_column(Text)
    #: ``--actor``, else the OS user.
    actor: Mapped[str] = mapped_column(String(128))
    #: The input's file name without its folder, and the SHA-256 of its bytes (NULL if the run failed before).
    input_name: Mapped[str] = mapped_column(String(255))
    input_sha256: Mapped[str | None] = mapped_column(String(64))
    input_bytes: Mapped[int | None] = mapped_column(Integer)
    rows: Mapped[int | None] = mapped_column(Integer)
    allowed: Mapped[int | None] = mapped_column(Integer)
    blocked_invalid: Mapped[int | None] = mapped_column(Integer)
    blocked_stop_list: Mapped[int | None] = mapped_column(Integer)
    blocked_rental_stop: Mapped[int | None] = mapped_column(Integer)
    blocked_contact_stop: Mapped[int | None] = mapped_column(Integer)
    blocked_duplicate: Mapped[int | None] = mapped_column(Integer)
    #: The last successful stop sync the run relied on, and its age then (`etl.audience.freshness`).
    stop_list_synced_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    stop_list_age_seconds: Mapped[float | None] = mapped_column(Float)
    allow_stale: Mapped[bool] = mapped_column(Boolean, server_default=false())
    #: Labels of the accounts whose stop lists were read, comma-separated.
    accounts: Mapped[str] = mapped_column(String(255))
    #: The key that hashed this run's blocks; NULL: no key configured, counts only (docs/compliance.md).
    hash_key_id: Mapped[str | None] = mapped_column(KeyId)
    #: Rows in ``filter_run_blocks`` for this run.
    blocks_recorded: Mapped[int] = mapped_column(Integer, default=0)

    __table_args__ = (Index(None, "started_at"), Index(None, "input_sha256"))


class FilterRunBlock(Base):
    """A number a filter run blocked for an opt-out reason (stop_list, rental_stop, contact_stop), as a keyed hash."""

    __tablename__ = "filter_run_blocks"

    id: Mapped[int] = mapped_column(Id, primary_key=True, autoincrement=True)
    run_id: Mapped[int] = mapped_column(Id, ForeignKey("filter_runs.id"))
    number_hash: Mapped[str] = mapped_column(Hash)
    reason: Mapped[str] = mapped_column(String(16))

    #: One index, run first (migration 0026): a run's rows enter it behind the earlier runs' (its own region
    #: of the tree), so recording costs the same whatever the history holds; `evidence` finds a number by
    #: probing it once per run (docs/benchmarks.md, "Filter runs recorded").
    __table_args__ = (Index(None, "run_id", "number_hash"),)


class OptoutHash(Base):
    """A closed opt-out period past ``compliance.optout_age``: its ``stop_periods`` row, number reduced to a keyed hash.

    Written by the retention job, which deletes the period in the same transaction
    (docs/compliance.md, "Retention"). ``stop_period_id`` is the id the period had.
    """

    __tablename__ = "optout_hashes"

    id: Mapped[int] = mapped_column(Id, primary_key=True, autoincrement=True)
    stop_period_id: Mapped[int] = mapped_column(Id)
    phone_hash: Mapped[str] = mapped_column(Hash)
    hash_key_id: Mapped[str] = mapped_column(KeyId)
    api_stop_id: Mapped[int | None] = mapped_column(Id)
    api_created_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    first_seen_at: Mapped[datetime] = mapped_column(UtcDateTime)
    last_seen_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    removed_at: Mapped[datetime] = mapped_column(UtcDateTime)
    removed_how: Mapped[str | None] = mapped_column(String(16))
    removed_by_action_id: Mapped[int | None] = mapped_column(Id)
    source: Mapped[str] = mapped_column(String(16))
    hashed_at: Mapped[datetime] = mapped_column(UtcDateTime)
    account_id: Mapped[int] = account_id_column()

    __table_args__ = (Index(None, "phone_hash"), Index("uq_optout_hashes_stop_period_id", "stop_period_id", unique=True))


filter_runs = table_of(FilterRun)
filter_run_blocks = table_of(FilterRunBlock)
optout_hashes = table_of(OptoutHash)
