"""Rental files and each number's stop flag, with history; rental orders' costs (migrations 0003, 0005, 0012;
docs/rentals-and-actions.md, docs/schema.md)."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal

from sqlalchemy import Boolean, Date, ForeignKey, ForeignKeyConstraint, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from etl.db.schema.accounts import account_id_column
from etl.db.schema.base import Base, table_of
from etl.db.types import Currency, Id, Money, Phone, UtcDateTime


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
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    removed_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    last_status: Mapped[str | None] = mapped_column(String(32))
    #: The API control code (31..36) or the rental state (0..5) behind ``last_status``.
    last_status_code: Mapped[int | None] = mapped_column(Integer)
    last_status_text: Mapped[str | None] = mapped_column(Text)
    last_checked_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    #: When the numbers were last replaced by a downloaded file.
    last_loaded_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    current_file_id: Mapped[int | None] = mapped_column(Id)
    #: A rental token belongs to one account; files, numbers and events reach it through ``rental_id``.
    account_id: Mapped[int] = account_id_column()

    __table_args__ = (UniqueConstraint("account_id", "token"),)

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
    stop: Mapped[bool] = mapped_column(Boolean)
    in_file: Mapped[bool] = mapped_column(Boolean)
    first_seen_at: Mapped[datetime] = mapped_column(UtcDateTime)
    #: Set while the number is out of the latest file.
    left_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    stop_changed_at: Mapped[datetime | None] = mapped_column(UtcDateTime)

    __table_args__ = (
        UniqueConstraint("rental_id", "phone_key"),
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
    stop: Mapped[bool] = mapped_column(Boolean)
    observed_at: Mapped[datetime] = mapped_column(UtcDateTime)

    __table_args__ = (
        ForeignKeyConstraint(["file_id", "rental_id"], ["rental_files.id", "rental_files.rental_id"]),
        Index(None, "file_id", "rental_id"),
        Index(None, "phone_e164"),
    )


class RentalCost(Base):
    """What one rental order costs, from ``/location/status`` ``location.cost`` (the latest reading wins).

    One row per rental (a token is one order). ``spend_by_day`` counts ``total`` on ``cost_day``: the
    Europe/Paris day of the order date when the API gives one, else of the first reading (the API
    charges at order time, ACCOUNTS.md §5, and sent_day and the account's months are Paris days too).
    Every change, the first reading included, is a `RentalCostEvent`.
    """

    __tablename__ = "rental_costs"

    id: Mapped[int] = mapped_column(Id, primary_key=True, autoincrement=True)
    rental_id: Mapped[int] = mapped_column(Id, ForeignKey("rentals.id"))
    #: The rental's account, kept here too: spend is read per account without the rentals join.
    account_id: Mapped[int] = account_id_column()
    total: Mapped[Decimal] = mapped_column(Money)
    #: ``cost_unity``: the price of one contact.
    unit_cost: Mapped[Decimal | None] = mapped_column(Money)
    quantity: Mapped[int | None] = mapped_column(Integer)
    #: The API's when given (none is documented), else the account's from its latest ``/me`` or list reading.
    currency: Mapped[str | None] = mapped_column(Currency)
    #: The order's date when the API gives one (undocumented; `etl.api.parse.ORDER_DATE_KEYS`).
    ordered_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    cost_day: Mapped[date] = mapped_column(Date)
    first_seen_at: Mapped[datetime] = mapped_column(UtcDateTime)
    #: When the current figures were first read, and when they were last read (the status date).
    changed_at: Mapped[datetime] = mapped_column(UtcDateTime)
    observed_at: Mapped[datetime] = mapped_column(UtcDateTime)
    run_id: Mapped[int | None] = mapped_column(Id, ForeignKey("sync_runs.id"))

    __table_args__ = (
        UniqueConstraint("rental_id"),
        Index(None, "account_id", "cost_day", "currency"),
        Index(None, "cost_day"),
    )


class RentalCostEvent(Base):
    """History: the cost of a rental as first read and every time it changed."""

    __tablename__ = "rental_cost_events"

    id: Mapped[int] = mapped_column(Id, primary_key=True, autoincrement=True)
    rental_id: Mapped[int] = mapped_column(Id, ForeignKey("rentals.id"))
    total: Mapped[Decimal] = mapped_column(Money)
    unit_cost: Mapped[Decimal | None] = mapped_column(Money)
    quantity: Mapped[int | None] = mapped_column(Integer)
    currency: Mapped[str | None] = mapped_column(Currency)
    ordered_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    observed_at: Mapped[datetime] = mapped_column(UtcDateTime)
    run_id: Mapped[int | None] = mapped_column(Id, ForeignKey("sync_runs.id"))

    __table_args__ = (Index(None, "rental_id", "observed_at"),)


rentals = table_of(Rental)
rental_files = table_of(RentalFile)
rental_numbers = table_of(RentalNumber)
rental_number_events = table_of(RentalNumberEvent)
rental_costs = table_of(RentalCost)
rental_cost_events = table_of(RentalCostEvent)
