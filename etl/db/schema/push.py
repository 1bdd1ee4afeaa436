"""Push callbacks: every accepted body, raw, and the replies applied from it (migration 0004; docs/push.md)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Boolean, ForeignKey, Index, Integer, String, Text, false, text
from sqlalchemy.orm import Mapped, mapped_column

from etl.db.schema.accounts import account_id_column
from etl.db.schema.base import Base, table_of
from etl.db.types import Id, Phone, UtcDateTime

#: The inbox rows an index on ``stop_period_id`` keeps: those that point at a period (a STOP callback's).
_POINTS_AT_PERIOD = text("stop_period_id IS NOT NULL")


class PushInbox(Base):
    """Every accepted callback, stored raw (as canonical JSON) *before* it is applied.

    ``content_hash`` (SHA-256 of channel + canonical body) makes a replay a no-op. ``state``:
    ``new`` (stored, not applied yet), ``applied``, ``waiting`` (a delivery report for a message not
    tracked yet; `etl.push.apply.resolve_pending` retries it), ``unmatched`` (still unknown after
    the wait), ``failed`` (cannot be applied: ``detail`` says why; kept for inspection).
    """

    __tablename__ = "push_inbox"

    id: Mapped[int] = mapped_column(Id, primary_key=True, autoincrement=True)
    #: The endpoint called: stop (replies and STOP) or dlr (delivery reports)
    channel: Mapped[str] = mapped_column(String(8))
    #: stop, reply or dlr
    kind: Mapped[str] = mapped_column(String(8))
    content_hash: Mapped[str] = mapped_column(String(64))
    received_at: Mapped[datetime] = mapped_column(UtcDateTime)
    source_ip: Mapped[str | None] = mapped_column(String(45))
    #: The body as received, re-serialised with sorted keys (never logged).
    body: Mapped[str] = mapped_column(Text)
    phone_e164: Mapped[str | None] = mapped_column(Phone)
    message_id: Mapped[str | None] = mapped_column(String(64))
    state: Mapped[str] = mapped_column(String(12), default="new")
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    applied_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    #: What applying did or why it could not (opened, already_stopped, stale, unparseable number...).
    detail: Mapped[str | None] = mapped_column(String(255))
    stop_period_id: Mapped[int | None] = mapped_column(Id, ForeignKey("stop_periods.id"))
    #: Set when the retention job emptied ``body`` (docs/compliance.md, "Retention"; migration 0017).
    body_purged_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    #: The account whose callback URL was called (docs/schema.md, "Accounts"); ``content_hash``
    #: stays unique on its own: another account's hash covers its account too.
    account_id: Mapped[int] = account_id_column()

    __table_args__ = (
        Index("uq_push_inbox_content_hash", "content_hash", unique=True),
        Index(None, "state", "id"),
        Index(None, "message_id", "phone_e164"),
        # Deleting a stop period (retention) checks this foreign key: without an index, a scan of the
        # whole inbox per period (migration 0029; only the few rows that point at one are indexed).
        Index(None, "stop_period_id", postgresql_where=_POINTS_AT_PERIOD, sqlite_where=_POINTS_AT_PERIOD),
    )


class Reply(Base):
    """An inbound SMS reported by callback: a reply (``response``/``text``) or a ``stop``."""

    __tablename__ = "replies"

    id: Mapped[int] = mapped_column(Id, primary_key=True, autoincrement=True)
    inbox_id: Mapped[int] = mapped_column(Id, ForeignKey("push_inbox.id"))
    #: response, stop (short number) or text (long number)
    kind: Mapped[str] = mapped_column(String(16))
    phone_e164: Mapped[str | None] = mapped_column(Phone)
    phone_raw: Mapped[str] = mapped_column(String(64))
    message_id: Mapped[str | None] = mapped_column(String(64))
    text: Mapped[str | None] = mapped_column(Text)
    #: Set when the retention job set ``text`` to NULL (migration 0017).
    text_purged_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    keyword: Mapped[str | None] = mapped_column(String(64))
    to_number: Mapped[str | None] = mapped_column(String(32))
    #: ``message-timestamp`` (long number; Europe/Paris local in the API, stored UTC).
    sent_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    received_at: Mapped[datetime] = mapped_column(UtcDateTime)
    concat_ref: Mapped[str | None] = mapped_column(String(64))
    concat_part: Mapped[int | None] = mapped_column(Integer)
    concat_total: Mapped[int | None] = mapped_column(Integer)
    #: The text asks to stop receiving messages (`etl.compliance.intent.classify`, at intake; migration 0014).
    stop_intent: Mapped[bool] = mapped_column(Boolean, server_default=false())

    __table_args__ = (
        Index("uq_replies_inbox_id", "inbox_id", unique=True),
        Index(None, "phone_e164", "received_at"),
        Index(None, "message_id"),
    )


push_inbox = table_of(PushInbox)
replies = table_of(Reply)
