"""The tamper-evident audit chain and its head row (issue 18, migration 0018; docs/compliance.md)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import CHAR, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from etl.db.schema.base import Base, table_of
from etl.db.types import Id, UtcDateTime


class AuditChainEntry(Base):
    """One audited event: the body of the row it records, chained by hash to the entry before it.

    Written in the same transaction as the audited row (`etl.compliance.chain.append`); never updated."""

    __tablename__ = "audit_chain"

    #: 1, 2, 3, ... without gaps; assigned under the head row's lock, not by the database.
    seq: Mapped[int] = mapped_column(Id, primary_key=True, autoincrement=False)
    recorded_at: Mapped[datetime] = mapped_column(UtcDateTime)
    account_id: Mapped[int] = mapped_column(Integer)
    #: What happened: genesis, action_open, action_complete, stop_closed_by_tool, ...
    kind: Mapped[str] = mapped_column(String(32))
    #: The audited row: its table and its key, as text.
    ref_table: Mapped[str] = mapped_column(String(64))
    ref_id: Mapped[str] = mapped_column(String(64))
    #: Canonical JSON (sorted keys, no spaces) of the row's audited columns as written.
    body: Mapped[str] = mapped_column(Text)
    prev_hash: Mapped[str] = mapped_column(CHAR(64))
    entry_hash: Mapped[str] = mapped_column(CHAR(64))


class AuditChainHead(Base):
    """The chain's one head row (``id`` 1): the last seq and hash. Locked by every append, so appends
    from several processes sharing one database form one chain."""

    __tablename__ = "audit_chain_head"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    seq: Mapped[int] = mapped_column(Id)
    entry_hash: Mapped[str] = mapped_column(CHAR(64))


audit_chain = table_of(AuditChainEntry)
audit_chain_head = table_of(AuditChainHead)
