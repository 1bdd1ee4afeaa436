"""Delivery statuses, cost and spend of tracked messages (migrations 0002, 0008; docs/statuses.md)."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal

from sqlalchemy import BigInteger, Boolean, Date, ForeignKey, Index, Integer, String, UniqueConstraint, text
from sqlalchemy.orm import Mapped, mapped_column

from etl.db.schema.accounts import PARENT_ACCOUNT_ID, account_id_column
from etl.db.schema.base import Base, table_of
from etl.db.types import Currency, Id, Money, Phone, UtcDateTime


class Send(Base):
    """One tracked send: a message id covers every recipient of one /send (REFERENCE §3.2).

    ``message_id`` is a string (quirk 6); ``tag:<tag>`` keys the recipients found by tag whose
    items carry no message id (DOC-st4). ``started_at`` is the actual send time as far as known
    (scheduled time, or later for a night-held send, quirk 24); the 48 h window counts from it.
    """

    __tablename__ = "sends"

    id: Mapped[int] = mapped_column(Id, primary_key=True, autoincrement=True)
    message_id: Mapped[str] = mapped_column(String(64))
    #: message (recipients given), discover (recipients to find with bulk-status), tag (pseudo-send)
    kind: Mapped[str] = mapped_column(String(16), default="message")
    tag: Mapped[str | None] = mapped_column(String(32))
    #: When /send was called (or when we first heard of the message).
    sent_at: Mapped[datetime] = mapped_column(UtcDateTime)
    scheduled_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    started_at: Mapped[datetime] = mapped_column(UtcDateTime)
    #: Europe/Paris calendar day of ``started_at`` (the account's months are Paris months).
    sent_day: Mapped[date] = mapped_column(Date)
    nb_sms: Mapped[int | None] = mapped_column(Integer)
    announced_cost: Mapped[Decimal | None] = mapped_column(Money)
    announced_currency: Mapped[str | None] = mapped_column(Currency)
    #: csv, python, intake, message_id, tag, demo
    source: Mapped[str] = mapped_column(String(16))
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)
    #: Set once bulk-status has listed the recipients of a ``discover`` send.
    discovered_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    account_id: Mapped[int] = account_id_column()

    __table_args__ = (
        UniqueConstraint("account_id", "message_id"),
        Index(None, "account_id", "kind", "discovered_at"),
        Index(None, "account_id", "tag"),
    )


_DUE_POLL, _DUE_COST = text("next_poll_at IS NOT NULL"), text("next_cost_at IS NOT NULL")
#: The pending and expired views' rows (migration 0023).
_NOT_FINAL = text("NOT final")
#: The rows under a claim, live or lapsed (migration 0030).
_CLAIMED_POLL, _CLAIMED_COST = text("poll_claimed_by IS NOT NULL"), text("cost_claimed_by IS NOT NULL")



class Recipient(Base):
    """One (message id, number): current status, polling state and current cost.

    Invariant: ``next_poll_at`` is NULL exactly when the recipient is final or expired, so "what is
    due" is one range scan of ``ix_recipients_account_id_next_poll_at``, an index of what is pending only
    (partial, migration 0023; full on MariaDB, which has no partial indexes); ``next_cost_at`` likewise.
    """

    __tablename__ = "recipients"

    id: Mapped[int] = mapped_column(Id, primary_key=True, autoincrement=True)
    send_id: Mapped[int] = mapped_column(Id, ForeignKey("sends.id"))
    message_id: Mapped[str] = mapped_column(String(64))
    phone_e164: Mapped[str] = mapped_column(Phone)
    phone_raw: Mapped[str] = mapped_column(String(64))
    sent_day: Mapped[date] = mapped_column(Date)
    status: Mapped[str | None] = mapped_column(String(32))
    #: The API's own date of the status (epoch or Paris local time, stored UTC).
    status_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    final: Mapped[bool] = mapped_column(Boolean, default=False)
    final_seen_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    expired: Mapped[bool] = mapped_column(Boolean, default=False)
    expired_reason: Mapped[str | None] = mapped_column(String(128))
    poll_until: Mapped[datetime] = mapped_column(UtcDateTime)
    next_poll_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    poll_count: Mapped[int] = mapped_column(Integer, default=0)
    last_polled_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    #: Per-item failure of the last answer (quirk 12), e.g. 4 "Numéro introuvable"; never a status.
    item_code: Mapped[int | None] = mapped_column(Integer)
    item_error: Mapped[str | None] = mapped_column(String(128))
    cost: Mapped[Decimal | None] = mapped_column(Money)
    currency: Mapped[str | None] = mapped_column(Currency)
    country: Mapped[str | None] = mapped_column(String(2))
    cost_checks: Mapped[int] = mapped_column(Integer, default=0)
    cost_checked_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    next_cost_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    first_seen_at: Mapped[datetime] = mapped_column(UtcDateTime)
    #: The send's account, kept here too: what is due is one range scan per account.
    account_id: Mapped[int] = account_id_column()
    #: The instance (``host:pid:random``) holding this pair's status poll, while ``next_poll_at`` is the end
    #: of its claim lease; NULL once the answer is written (migration 0027, `etl.db.claims`).
    poll_claimed_by: Mapped[str | None] = mapped_column(String(128))
    #: The same for the pair's cost read (``next_cost_at``).
    cost_claimed_by: Mapped[str | None] = mapped_column(String(128))

    __table_args__ = (
        UniqueConstraint("account_id", "message_id", "phone_e164"),
        # Only what is due has an entry: history does not grow them (migration 0023, docs/benchmarks.md "History growth").
        Index(None, "account_id", "next_poll_at", postgresql_where=_DUE_POLL, sqlite_where=_DUE_POLL),
        Index(None, "account_id", "next_cost_at", postgresql_where=_DUE_COST, sqlite_where=_DUE_COST),
        Index(None, "send_id"),
        Index(None, "account_id", "sent_day", "country", "currency"),
        Index(None, "account_id", "final", "expired", postgresql_where=_NOT_FINAL, sqlite_where=_NOT_FINAL),
        # Evidence and breaches look a number up across sends (migration 0016).
        Index(None, "phone_e164"),
        # The claimed rows, where a claim finds the lapsed ones first (migration 0030): only those on PostgreSQL and
        # SQLite; on MariaDB (no partial indexes) ``IS NOT NULL`` is a range of the owner, the second column.
        Index(None, "account_id", "poll_claimed_by", "next_poll_at", postgresql_where=_CLAIMED_POLL, sqlite_where=_CLAIMED_POLL),
        Index(None, "account_id", "cost_claimed_by", "next_cost_at", postgresql_where=_CLAIMED_COST, sqlite_where=_CLAIMED_COST),
    )


class StatusEvent(Base):
    """One observed change of a recipient's status; a repeated status writes nothing."""

    __tablename__ = "status_events"

    id: Mapped[int] = mapped_column(Id, primary_key=True, autoincrement=True)
    recipient_id: Mapped[int] = mapped_column(Id, ForeignKey("recipients.id"))
    status: Mapped[str] = mapped_column(String(32))
    status_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    observed_at: Mapped[datetime] = mapped_column(UtcDateTime)
    run_id: Mapped[int | None] = mapped_column(Id, ForeignKey("sync_runs.id"))
    #: The endpoint that reported it: bulk-status, multi-status, message-status, bulk-status-by-tag
    source: Mapped[str] = mapped_column(String(24))

    __table_args__ = (Index(None, "recipient_id", "observed_at"), Index(None, "run_id"))


class CostEvent(Base):
    """One observed change of a recipient's cost, currency or country (the first read included)."""

    __tablename__ = "cost_events"

    id: Mapped[int] = mapped_column(Id, primary_key=True, autoincrement=True)
    recipient_id: Mapped[int] = mapped_column(Id, ForeignKey("recipients.id"))
    cost: Mapped[Decimal | None] = mapped_column(Money)
    currency: Mapped[str | None] = mapped_column(Currency)
    country: Mapped[str | None] = mapped_column(String(2))
    observed_at: Mapped[datetime] = mapped_column(UtcDateTime)
    run_id: Mapped[int | None] = mapped_column(Id, ForeignKey("sync_runs.id"))

    __table_args__ = (Index(None, "recipient_id", "observed_at"),)


class SpendDay(Base):
    """The recipients' spend per account, Paris day, country and currency: what ``spend_daily`` and the SMS
    part of ``spend_by_day`` read (migration 0024), kept exact by every writer of a recipient's cost
    (`etl.db.spend_rollup`), so a day is one key seek however long the history (docs/benchmarks.md, "spend_by_day").

    ``country`` and ``currency`` are ``''`` where the recipient's are NULL (a key column cannot be); the views
    give NULL back. ``recipients``: recipients priced (cost not NULL); a key whose recipients all moved away
    keeps a row with 0, which the views leave out.
    """

    __tablename__ = "spend_days"

    account_id: Mapped[int] = mapped_column(Id, ForeignKey("accounts.id"), primary_key=True)
    sent_day: Mapped[date] = mapped_column(Date, primary_key=True)
    country: Mapped[str] = mapped_column(String(2), primary_key=True)
    currency: Mapped[str] = mapped_column(String(3), primary_key=True)
    recipients: Mapped[int] = mapped_column(BigInteger)
    spend: Mapped[Decimal] = mapped_column(Money)


class FunnelDay(Base):
    """The recipients' delivery funnel per account, Paris day and send: what ``status_funnel`` reads (migration
    0025), kept exact by every writer of a recipient's status, expiry or item code and by the recipients' insert
    (`etl.db.funnel_rollup`), so the console's 30 days are one range of this key per account, not every recipient
    of the window (docs/benchmarks.md, "Console at scale").

    The counts are 0010's ``status_funnel`` columns: ``recipients``, then those delivered, failed (final, not
    delivered), pending, expired (not final) and not found (no status, an item code).
    """

    __tablename__ = "funnel_days"

    account_id: Mapped[int] = mapped_column(Id, ForeignKey("accounts.id"), primary_key=True)
    sent_day: Mapped[date] = mapped_column(Date, primary_key=True)
    send_id: Mapped[int] = mapped_column(Id, ForeignKey("sends.id"), primary_key=True)
    recipients: Mapped[int] = mapped_column(BigInteger)
    delivered: Mapped[int] = mapped_column(BigInteger)
    failed: Mapped[int] = mapped_column(BigInteger)
    pending: Mapped[int] = mapped_column(BigInteger)
    expired: Mapped[int] = mapped_column(BigInteger)
    not_found: Mapped[int] = mapped_column(BigInteger)


class TrackIntake(Base):
    """Where a user's own sending application INSERTs what to track (docs/statuses.md).

    Only ``message_id`` and ``phone`` are required. The statuses job drains new rows each cycle:
    ``processed_at`` is set, and ``error`` says why a row was refused (nothing else is written for it).
    """

    __tablename__ = "track_intake"

    id: Mapped[int] = mapped_column(Id, primary_key=True, autoincrement=True)
    message_id: Mapped[str] = mapped_column(String(64))
    phone: Mapped[str] = mapped_column(String(64))
    tag: Mapped[str | None] = mapped_column(String(32))
    #: ISO 8601 text with an offset, e.g. 2026-01-05T09:00:00+01:00 (no zone: UTC). NULL: now.
    sent_at: Mapped[str | None] = mapped_column(String(40))
    scheduled_at: Mapped[str | None] = mapped_column(String(40))
    nb_sms: Mapped[int | None] = mapped_column(Integer)
    cost: Mapped[Decimal | None] = mapped_column(Money)
    currency: Mapped[str | None] = mapped_column(Currency)
    processed_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    error: Mapped[str | None] = mapped_column(String(255))
    #: Which account sent it; a row that does not say is the parent's.
    account_id: Mapped[int] = account_id_column()

    __table_args__ = (Index(None, "account_id", "processed_at"),)


class TrackedTag(Base):
    """A tag whose sends are discovered with bulk-status-by-tag (config ``statuses.tags`` or ``track --tag``)."""

    __tablename__ = "tracked_tags"

    account_id: Mapped[int] = mapped_column(
        Id, ForeignKey("accounts.id"), primary_key=True, server_default=text(str(PARENT_ACCOUNT_ID))
    )
    tag: Mapped[str] = mapped_column(String(32), primary_key=True)
    added_at: Mapped[datetime] = mapped_column(UtcDateTime)
    last_read_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    items_seen: Mapped[int] = mapped_column(Integer, default=0)
    #: A refused read is retried on the tag's own backoff (`etl.polling.tag_retry_at`); NULL: on the usual beat.
    next_read_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    #: Reads refused in a row; 0 after a good read.
    failures: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    last_error: Mapped[str | None] = mapped_column(String(255))


class AccountSnapshot(Base):
    """``/me`` as history: one row per finance run (credits and balance)."""

    __tablename__ = "account_snapshots"

    id: Mapped[int] = mapped_column(Id, primary_key=True, autoincrement=True)
    observed_at: Mapped[datetime] = mapped_column(UtcDateTime)
    run_id: Mapped[int | None] = mapped_column(Id, ForeignKey("sync_runs.id"))
    balance: Mapped[Decimal | None] = mapped_column(Money)
    currency: Mapped[str | None] = mapped_column(Currency)
    credit_sms: Mapped[int | None] = mapped_column(Integer)
    credit_sms_eco: Mapped[int | None] = mapped_column(Integer)
    credit_hlr: Mapped[int | None] = mapped_column(Integer)
    to_send: Mapped[int | None] = mapped_column(Integer)
    account_id: Mapped[int] = account_id_column()

    __table_args__ = (Index(None, "account_id", "observed_at"),)


class MonthlyCostRow(Base):
    """``/statistics/cost-resume``: the account's own total per (Paris) month, latest reading kept."""

    __tablename__ = "monthly_costs"

    account_id: Mapped[int] = mapped_column(
        Id, ForeignKey("accounts.id"), primary_key=True, server_default=text(str(PARENT_ACCOUNT_ID))
    )
    #: ``YYYY-MM``
    period: Mapped[str] = mapped_column(String(7), primary_key=True)
    year: Mapped[int] = mapped_column(Integer)
    month: Mapped[int] = mapped_column(Integer)
    cost: Mapped[Decimal] = mapped_column(Money)
    #: The account currency from the latest ``/me`` (cost-resume states none).
    currency: Mapped[str | None] = mapped_column(Currency)
    nb_send: Mapped[int] = mapped_column(Integer)
    observed_at: Mapped[datetime] = mapped_column(UtcDateTime)
    run_id: Mapped[int | None] = mapped_column(Id, ForeignKey("sync_runs.id"))


sends = table_of(Send)
recipients = table_of(Recipient)
status_events = table_of(StatusEvent)
cost_events = table_of(CostEvent)
spend_days = table_of(SpendDay)
funnel_days = table_of(FunnelDay)
track_intake = table_of(TrackIntake)
tracked_tags = table_of(TrackedTag)
account_snapshots = table_of(AccountSnapshot)
monthly_costs = table_of(MonthlyCostRow)
