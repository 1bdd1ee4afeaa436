"""The schema, as typed SQLAlchemy 2 models. Names here are the product: see docs/schema.md.

Every change is an Alembic revision in ``migrations/versions``; tests build databases with
``upgrade heads``, so a model that drifts from its migration is caught by ``alembic check``.

Timestamps are UTC (`UtcDateTime`), money is exact (`Money`) beside a 3-letter currency, phone
numbers are E.164 with the text as received kept beside them.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Boolean, ForeignKey, ForeignKeyConstraint, Index, Integer, MetaData, String, Table, Text, false, text
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


def _table_of(model: type[Base]) -> Table:
    """A model's `Table`, typed as one: the jobs use the tables with Core (bulk loads, DDL), and the
    declarative ``__table__`` is typed as the wider ``FromClause``, which those refuse."""
    table = model.__table__
    assert isinstance(table, Table)
    return table


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


sync_runs = _table_of(SyncRun)
write_actions = _table_of(WriteAction)
stop_periods = _table_of(StopPeriod)
job_leases = _table_of(JobLease)


# ==================================================================================================
# Rental files (issue 6; migration 0003_rentals). Owned by etl/jobs/rentals.py.
# ==================================================================================================
# (Imports are local to this section so the models above stay exactly as they were.)
from sqlalchemy import Boolean as _Boolean  # noqa: E402
from sqlalchemy import UniqueConstraint as _UniqueConstraint  # noqa: E402


class Rental(Base):
    """A rented contact file the tool follows, by token (from config or `rentals add`).

    ``last_status`` is our plain word for how the last sync of this rental went (``loaded``,
    ``unchanged_file_used``, ``requested``, ``generating``, ``in_progress``, ``token_missing``,
    ``not_found``, ``file_not_found``, ``file_used``, ``rental_failed``, ``error``); the API's own
    code and text sit beside it. A failed sync never touches the stored numbers.
    """

    __tablename__ = "rentals"

    id: Mapped[int] = mapped_column(Id, primary_key=True, autoincrement=True)
    token: Mapped[str] = mapped_column(String(128))
    label: Mapped[str] = mapped_column(String(255), default="")
    #: config (listed in the TOML file) or cli (`rentals add`)
    source: Mapped[str] = mapped_column(String(16))
    added_at: Mapped[datetime] = mapped_column(UtcDateTime)
    added_by: Mapped[str | None] = mapped_column(String(128))
    #: False once removed (`rentals remove`, or dropped from the config): rows kept, views ignore it.
    active: Mapped[bool] = mapped_column(_Boolean, default=True)
    removed_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    last_status: Mapped[str | None] = mapped_column(String(32))
    #: The API control code (31..36) or the rental state (0..5) behind ``last_status``.
    last_status_code: Mapped[int | None] = mapped_column(Integer)
    last_status_text: Mapped[str | None] = mapped_column(Text)
    last_checked_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    #: When the numbers were last replaced by a downloaded file.
    last_loaded_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    current_file_id: Mapped[int | None] = mapped_column(Id)

    __table_args__ = (_UniqueConstraint("token"),)

    def __repr__(self) -> str:  # the token stays out of reprs and logs
        return f"Rental(id={self.id!r}, label={self.label!r}, active={self.active!r})"


class RentalFile(Base):
    """One downloaded file of a rental, loaded in one transaction with its diff counts."""

    __tablename__ = "rental_files"

    id: Mapped[int] = mapped_column(Id, primary_key=True, autoincrement=True)
    rental_id: Mapped[int] = mapped_column(Id, ForeignKey("rentals.id"))
    run_id: Mapped[int | None] = mapped_column(Id, ForeignKey("sync_runs.id"))
    downloaded_at: Mapped[datetime] = mapped_column(UtcDateTime)
    loaded_at: Mapped[datetime] = mapped_column(UtcDateTime)
    #: Entries in the file (`rows` is reserved in MariaDB), distinct numbers, flagged stop, unparseable.
    file_rows: Mapped[int] = mapped_column(Integer)
    numbers: Mapped[int] = mapped_column(Integer)
    stopped: Mapped[int] = mapped_column(Integer)
    unparseable: Mapped[int] = mapped_column(Integer, default=0)
    added: Mapped[int] = mapped_column(Integer, default=0)
    removed: Mapped[int] = mapped_column(Integer, default=0)
    stop_on: Mapped[int] = mapped_column(Integer, default=0)
    stop_off: Mapped[int] = mapped_column(Integer, default=0)

    __table_args__ = (
        Index(None, "rental_id", "loaded_at"),
        #: What `rental_number_events`' composite key refers to (a unique index: SQLite need not rebuild the table).
        Index("uq_rental_files_id_rental_id", "id", "rental_id", unique=True),
    )


class RentalNumber(Base):
    """A number of a rental, ever seen: whether it is in the latest file and its stop flag there.

    ``phone_key`` is the E.164 number, or ``raw:<text>`` when no phone library can parse it (kept,
    never texted). Rows are never deleted: a number leaving the file gets ``in_file`` false.
    """

    __tablename__ = "rental_numbers"

    id: Mapped[int] = mapped_column(Id, primary_key=True, autoincrement=True)
    rental_id: Mapped[int] = mapped_column(Id, ForeignKey("rentals.id"))
    phone_key: Mapped[str] = mapped_column(String(80))
    phone_e164: Mapped[str | None] = mapped_column(Phone)
    phone_raw: Mapped[str] = mapped_column(String(64))
    #: The file's ``datas[].id`` when first seen (undocumented meaning; kept for support questions).
    api_contact_id: Mapped[str | None] = mapped_column(String(32))
    stop: Mapped[bool] = mapped_column(_Boolean)
    in_file: Mapped[bool] = mapped_column(_Boolean)
    first_seen_at: Mapped[datetime] = mapped_column(UtcDateTime)
    #: Set while the number is out of the latest file.
    left_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    stop_changed_at: Mapped[datetime | None] = mapped_column(UtcDateTime)

    __table_args__ = (
        _UniqueConstraint("rental_id", "phone_key"),
        Index(None, "phone_e164"),
    )


class RentalNumberEvent(Base):
    """History: a number entered the file (``added``), left it (``removed``), or its stop flag
    changed (``stop_on``/``stop_off``), observed in file ``file_id`` at ``observed_at``.

    One composite key (``file_id``, ``rental_id``) → ``rental_files`` (``id``, ``rental_id``): the
    file implies the rental, so one check per row keeps both right (migration 0005; PostgreSQL
    checks a key with one trigger call per inserted row)."""

    __tablename__ = "rental_number_events"

    id: Mapped[int] = mapped_column(Id, primary_key=True, autoincrement=True)
    rental_id: Mapped[int] = mapped_column(Id)
    file_id: Mapped[int] = mapped_column(Id)
    phone_key: Mapped[str] = mapped_column(String(80))
    phone_e164: Mapped[str | None] = mapped_column(Phone)
    #: added, removed, stop_on, stop_off
    event: Mapped[str] = mapped_column(String(16))
    #: The stop flag after the event (for ``removed``: the flag it had when it left).
    stop: Mapped[bool] = mapped_column(_Boolean)
    observed_at: Mapped[datetime] = mapped_column(UtcDateTime)

    __table_args__ = (
        ForeignKeyConstraint(["file_id", "rental_id"], ["rental_files.id", "rental_files.rental_id"]),
        Index(None, "file_id", "rental_id"),
        Index(None, "phone_e164"),
    )


rentals = _table_of(Rental)
rental_files = _table_of(RentalFile)
rental_numbers = _table_of(RentalNumber)
rental_number_events = _table_of(RentalNumberEvent)
# ==================================================================================================
# End of the rental section.
# ==================================================================================================


# =================================================================================================
# Delivery statuses, cost and spend (issue 5; migration 0002; docs/statuses.md)
# =================================================================================================

from datetime import date  # noqa: E402
from decimal import Decimal  # noqa: E402

from sqlalchemy import Boolean, Date, UniqueConstraint  # noqa: E402

from etl.db.types import Currency, Money  # noqa: E402


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

    __table_args__ = (UniqueConstraint("message_id"), Index(None, "kind", "discovered_at"), Index(None, "tag"))


class Recipient(Base):
    """One (message id, number): current status, polling state and current cost.

    Invariant: ``next_poll_at`` is NULL exactly when the recipient is final or expired, so "what is
    due" is one range scan of ``ix_recipients_next_poll_at``.
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

    __table_args__ = (
        UniqueConstraint("message_id", "phone_e164"),
        Index(None, "next_poll_at"),
        Index(None, "next_cost_at"),
        Index(None, "send_id"),
        Index(None, "sent_day", "country", "currency"),
        Index(None, "final", "expired"),
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

    __table_args__ = (Index(None, "processed_at"),)


class TrackedTag(Base):
    """A tag whose sends are discovered with bulk-status-by-tag (config ``statuses.tags`` or ``track --tag``)."""

    __tablename__ = "tracked_tags"

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

    __table_args__ = (Index(None, "observed_at"),)


class MonthlyCostRow(Base):
    """``/statistics/cost-resume``: the account's own total per (Paris) month, latest reading kept."""

    __tablename__ = "monthly_costs"

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


sends = _table_of(Send)
recipients = _table_of(Recipient)
status_events = _table_of(StatusEvent)
cost_events = _table_of(CostEvent)
track_intake = _table_of(TrackIntake)
tracked_tags = _table_of(TrackedTag)
account_snapshots = _table_of(AccountSnapshot)
monthly_costs = _table_of(MonthlyCostRow)


# =================================================================================================
# Push callbacks: inbox and replies (issue 9; migration 0004_push_inbox; docs/push.md). Owned by etl/push.
# =================================================================================================


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

    __table_args__ = (
        Index("uq_push_inbox_content_hash", "content_hash", unique=True),
        Index(None, "state", "id"),
        Index(None, "message_id", "phone_e164"),
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
    keyword: Mapped[str | None] = mapped_column(String(64))
    to_number: Mapped[str | None] = mapped_column(String(32))
    #: ``message-timestamp`` (long number; Europe/Paris local in the API, stored UTC).
    sent_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    received_at: Mapped[datetime] = mapped_column(UtcDateTime)
    concat_ref: Mapped[str | None] = mapped_column(String(64))
    concat_part: Mapped[int | None] = mapped_column(Integer)
    concat_total: Mapped[int | None] = mapped_column(Integer)

    __table_args__ = (
        Index("uq_replies_inbox_id", "inbox_id", unique=True),
        Index(None, "phone_e164", "received_at"),
        Index(None, "message_id"),
    )


push_inbox = _table_of(PushInbox)
replies = _table_of(Reply)
# =================================================================================================
# End of the push section.
# =================================================================================================


class RejectedItem(Base):
    """An item of an API answer (or a push body) that could not be read, kept instead of failing the run.

    One row per distinct item per endpoint (``item_hash``: SHA-256 of the redacted item text); seeing
    it again bumps ``times_seen`` and ``last_seen_at``. The rule: what is unreadable is quarantined
    here, the rest of the answer is applied (docs/api-client.md, "Quarantine").
    """

    __tablename__ = "rejected_items"

    id: Mapped[int] = mapped_column(Id, primary_key=True, autoincrement=True)
    #: The API endpoint (multi-status, stop-sms/list...) or push channel the item came from.
    endpoint: Mapped[str] = mapped_column(String(48))
    item_hash: Mapped[str] = mapped_column(String(64))
    #: The item as received, as JSON text, the API key masked; cut at 4,000 characters.
    item: Mapped[str] = mapped_column(Text)
    #: Why it was refused, one sentence (e.g. "date '04/12/2026 07:00' is not a date").
    reason: Mapped[str] = mapped_column(String(255))
    #: What the item belongs to, when known: recipient, stop, rental_number, tag, push.
    ref_kind: Mapped[str | None] = mapped_column(String(16))
    ref: Mapped[str | None] = mapped_column(String(64))
    first_seen_at: Mapped[datetime] = mapped_column(UtcDateTime)
    last_seen_at: Mapped[datetime] = mapped_column(UtcDateTime)
    times_seen: Mapped[int] = mapped_column(Integer, default=1)
    #: The run that saw it last (NULL for push bodies, which have no run).
    last_run_id: Mapped[int | None] = mapped_column(Id)

    __table_args__ = (
        Index("uq_rejected_items_endpoint_item_hash", "endpoint", "item_hash", unique=True),
        Index(None, "ref_kind", "ref"),
        Index(None, "last_seen_at"),
    )


rejected_items = _table_of(RejectedItem)
